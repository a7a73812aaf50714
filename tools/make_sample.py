#!/usr/bin/env python3
"""Generate the procedural night-driving sample clip (see ``pipeline/sample/``).

    python tools/make_sample.py samples/night_drive.mp4
    python tools/make_sample.py OUT.mp4 --width 1920 --height 1080 --fps 30 --seconds 6 \\
        --seed 0 [--no-audio] [--force]

An existing OUT is kept unless ``--force`` is given. Exit status: 0 done (or already there),
1 the file could not be written, 2 bad arguments.
"""
from __future__ import annotations

import sys
from pathlib import Path

# runnable from a checkout without installing the package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    try:
        from pipeline.sample import main

        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
