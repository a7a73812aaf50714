#!/usr/bin/env python3
"""Build a TensorRT engine from a registered model or an ONNX graph, on the target. See ``--help``."""
from __future__ import annotations

import sys

from pipeline.deploy.cli import main

if __name__ == "__main__":
    sys.exit(main())
