"""Small random-weight files for the flash-to-ambient enhancers, which ship no weights."""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import torch

#: the flash-to-ambient models (and enhancers of the same name)
FLASH_MODELS = ("guided_cgan", "pix2pix_vgg", "ratio_log")
#: a narrow width keeps the tests fast; the architecture is the same at every width
TEST_WIDTH = 0.125


@functools.lru_cache(maxsize=None)
def flash_weights(name: str) -> str:
    """Path of a state dict of model ``name`` at :data:`TEST_WIDTH`, seeded, made once."""
    from pipeline.models import create_model

    torch.manual_seed(0)
    model = create_model(name, width=TEST_WIDTH)
    folder = Path(tempfile.mkdtemp(prefix="nocturne-flash-"))
    path = folder / f"{name}.pt"
    torch.save(model.state_dict(), path)
    return str(path)


def enhancer_kwargs(name: str) -> dict[str, str]:
    """What ``build_enhancer(name, ...)`` needs in a test: weights for the flash models."""
    return {"weights": flash_weights(name)} if name in FLASH_MODELS else {}
