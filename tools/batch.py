#!/usr/bin/env python3
"""Enhance recorded drives in bulk, resumably: ``python tools/batch.py DRIVES/ -o OUT/``
(``--ray`` for a Ray cluster); see ``pipeline/batch/``."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":
    # first, before anything slow: a Ctrl-C during start-up is remembered even where
    # Python drops it (see pipeline/interrupts.py)
    from pipeline import interrupts

    interrupts.install()
    try:
        # imported here, so a Ctrl-C while the libraries load (torch takes seconds) ends
        # quietly too, with the conventional status 128 + SIGINT
        from pipeline.batch.cli import main

        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
