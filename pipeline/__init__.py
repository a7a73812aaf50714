"""Nocturne: real-time video enhancement for night-driving cameras."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    ConfigError,
    EngineBuildError,
    EnhancerError,
    NocturneError,
    SinkError,
    SourceError,
)
from .enhancers import ENHANCERS, Enhancer, build_enhancer  # noqa: E402

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
