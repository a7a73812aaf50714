#!/usr/bin/env python3
"""Score enhancers on paired or unpaired images: ``python tools/eval.py DATA --enhancer NAME``."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":
    try:
        # imported here, so a Ctrl-C while the libraries load (torch takes seconds) ends
        # quietly too, with the conventional status 128 + SIGINT
        from pipeline.training.evaluate import main

        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
