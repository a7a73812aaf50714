#!/usr/bin/env python3
"""Train an enhancement model from a YAML recipe: ``python tools/train.py configs/train_X.yaml``."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.training.trainer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
