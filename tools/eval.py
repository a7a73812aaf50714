#!/usr/bin/env python3
"""Score enhancers on paired or unpaired images: ``python tools/eval.py DATA --enhancer NAME``."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.training.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
