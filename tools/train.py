#!/usr/bin/env python3
"""Train an enhancement model from a YAML recipe: ``python tools/train.py configs/train_X.yaml``."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":
    try:
        # imported here, so a Ctrl-C while the libraries load (torch takes seconds) ends
        # quietly too, with the conventional status 128 + SIGINT
        from pipeline.training.trainer import main

        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
