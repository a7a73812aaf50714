#!/usr/bin/env python3
"""Enhance a dark dashcam/RTSP stream or a recorded file. See ``--help``."""
from __future__ import annotations

import sys

if __name__ == "__main__":
    # first, before anything slow: a Ctrl-C during start-up is remembered even where
    # Python drops it (see pipeline/interrupts.py)
    from pipeline import interrupts

    interrupts.install()
    try:
        # imported here, so a Ctrl-C while the libraries load (torch takes seconds) ends
        # quietly too, with the conventional status 128 + SIGINT
        from pipeline.streaming.cli import main

        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
