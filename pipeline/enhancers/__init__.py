"""Enhancers: the ``Enhancer`` interface, its registry, and the registered implementations.

Every implementation module is imported here explicitly so the registry is complete on import.
"""
from __future__ import annotations

from .base import ENHANCERS, Enhancer, build_enhancer, check_batch, register_enhancer
from . import passthrough  # noqa: F401  (registers "passthrough")
from . import clahe  # noqa: F401  (registers "clahe")
from . import gamma  # noqa: F401  (registers "gamma")
from . import retinex  # noqa: F401  (registers "retinex")
from . import neural  # noqa: F401  (registers "unet_gn", "zero_dce", "zero_dce_pp", "ratio_log",
#                                  "guided_cgan", "pix2pix_vgg")
from . import onnx_runtime  # noqa: F401  (registers "onnxruntime")
from . import tensorrt  # noqa: F401  (registers "tensorrt")
from . import fallback  # noqa: F401  (registers "fallback")

__all__ = ["ENHANCERS", "Enhancer", "build_enhancer", "check_batch", "register_enhancer"]
