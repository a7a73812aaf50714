#!/usr/bin/env python3
"""Build a TensorRT engine from a registered model or an ONNX graph, on the target. See ``--help``."""
from __future__ import annotations

import sys

if __name__ == "__main__":
    try:
        # imported here, so a Ctrl-C while the libraries load (torch takes seconds) ends
        # quietly too, with the conventional status 128 + SIGINT
        from pipeline.deploy.cli import main

        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
