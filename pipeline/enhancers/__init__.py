"""Enhancers: the ``Enhancer`` interface, its registry, and the registered implementations.

Every implementation module is imported here explicitly so the registry is complete on import.
"""
from __future__ import annotations

from .base import ENHANCERS, Enhancer, build_enhancer, check_batch, register_enhancer
from . import passthrough  # noqa: F401  (registers "passthrough")
from . import clahe  # noqa: F401  (registers "clahe")
from . import gamma  # noqa: F401  (registers "gamma")
from . import retinex  # noqa: F401  (registers "retinex")

__all__ = ["ENHANCERS", "Enhancer", "build_enhancer", "check_batch", "register_enhancer"]
