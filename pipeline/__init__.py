"""Nocturne: real-time video enhancement for night-driving cameras."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    ConfigError,
    EngineBuildError,
    EnhancerError,
    NocturneError,
    SinkError,
    SourceError,
)

__all__ = [
    "ConfigError",
    "ENHANCERS",
    "EngineBuildError",
    "Enhancer",
    "EnhancerError",
    "NocturneError",
    "SinkError",
    "SourceError",
    "build_enhancer",
]

#: names that load the enhancers (NumPy, OpenCV and every model) on first use, so that a
#: script can import ``pipeline.interrupts`` before anything slow (PEP 562)
_LAZY = {"ENHANCERS", "Enhancer", "build_enhancer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import enhancers

        return getattr(enhancers, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
