"""Log set-up shared by the command lines (stream, batch, Ray workers)."""
from __future__ import annotations

import logging
import sys


def setup_logging(level: str) -> None:
    """Log lines on stderr as ``nocturne: LEVEL: message``."""
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(name)s: %(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("libav").setLevel(logging.ERROR)
