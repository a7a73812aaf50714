#!/usr/bin/env python3
"""Enhance recorded drives in bulk, resumably: ``python tools/batch.py DRIVES/ -o OUT/``
(``--ray`` for a Ray cluster); see ``pipeline/batch/``."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.batch.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
