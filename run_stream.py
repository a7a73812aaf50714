#!/usr/bin/env python3
"""Enhance a dark dashcam/RTSP stream or a recorded file. See ``--help``."""
from __future__ import annotations

import sys

from pipeline.streaming.cli import main

if __name__ == "__main__":
    sys.exit(main())
