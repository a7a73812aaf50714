"""Neural enhancement models (PyTorch): a registry of ``nn.Module`` classes by name.

Convention: ``forward(x)`` takes a float ``(N, 3, H, W)`` RGB batch in [0, 1] and returns the
enhanced batch in [0, 1], same shape, for any ``H`` and ``W``.

Every model module is imported below explicitly so the registry is complete on import. This
package imports torch; the pipeline's enhancers import it only when a neural enhancer is built.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from ..registry import Registry

MODELS: Registry[nn.Module] = Registry("model")


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: register an ``nn.Module`` subclass under ``name``."""

    def decorator(cls: type[nn.Module]) -> type[nn.Module]:
        MODELS.register(name)(cls)
        return cls

    return decorator


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name``; unknown names and keywords are ``ConfigError``s."""
    return MODELS.build(name, where="model", **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


from . import guided_cgan  # noqa: E402,F401  (registers "guided_cgan")
from . import lowres_guided  # noqa: E402,F401  (registers "lowres_guided")
from . import pix2pix_vgg  # noqa: E402,F401  (registers "pix2pix_vgg")
from . import ratio_log  # noqa: E402,F401  (registers "ratio_log")
from . import unet_gn  # noqa: E402,F401  (registers "unet_gn")
from . import zero_dce  # noqa: E402,F401  (registers "zero_dce")
from . import zero_dce_pp  # noqa: E402,F401  (registers "zero_dce_pp")

__all__ = ["MODELS", "count_parameters", "create_model", "register_model"]
