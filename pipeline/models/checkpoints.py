"""Reading weight files: official checkpoints as they are published, and our own.

A weights file is a state dict (name -> tensor) saved by ``torch.save``, possibly wrapped in a
dict under ``state_dict`` or ``model`` (training checkpoints), possibly with the ``module.``
prefix of ``nn.DataParallel``. Problems come out as ``ConfigError``s that name the file and, for
a file that does not fit the model, the missing and unexpected keys and mismatched shapes.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from ..media import file_problem

#: keys under which training checkpoints keep the model's state dict
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")
#: key prefixes added by wrappers: nn.DataParallel / DistributedDataParallel, torch.compile
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
#: at most this many keys are listed per kind of mismatch
_LISTED = 8


def load_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read the state dict in the weights file ``path`` (on the CPU).

    The file is read with ``weights_only=True``, which reads both zip and legacy (pre-1.6)
    torch pickles of tensors but never runs code from the file; a file that holds other
    pickled objects (a whole pickled model, say) is refused with a ``ConfigError`` saying so.
    """
    file = Path(path)
    problem = file_problem(file)
    if problem:
        raise ConfigError(f"weights file {str(file)!r} {problem}")
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch reports both a file of pickled classes and a file that is no pickle at all as
        # an UnpicklingError; only the first names a global it refused.
        if "global" not in str(exc).lower():
            raise ConfigError(
                f"weights file {str(file)!r} is not a readable torch checkpoint"
            ) from None
        raise ConfigError(
            f"weights file {str(file)!r} holds pickled objects other than tensors, which are "
            f"not loaded because unpickling them could run code; save the state dict instead "
            f"(torch.save(model.state_dict(), path)). Detail: {str(exc).splitlines()[0]}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(
            f"weights file {str(file)!r} is not a readable torch checkpoint: {exc}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - unpickling arbitrary bytes fails in any way
        # (a text file gave IndexError from the unpickler's stack): the file is not weights
        raise ConfigError(
            f"weights file {str(file)!r} is not a readable torch checkpoint "
            f"({type(exc).__name__})"
        ) from None
    return _state_dict_of(loaded, str(file))


def _state_dict_of(loaded: object, where: str) -> dict[str, torch.Tensor]:
    """The name -> tensor mapping inside ``loaded``, unwrapped and without wrapper prefixes."""
    if isinstance(loaded, Mapping):
        for key in WRAPPER_KEYS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not loaded:
        raise ConfigError(
            f"weights file {where!r} does not hold a state dict (got {type(loaded).__name__})"
        )
    state: dict[str, torch.Tensor] = {}
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ConfigError(
                f"weights file {where!r} is not a state dict: entry {key!r} is a "
                f"{type(value).__name__}, not a tensor"
            )
        # a damaged file (a flipped byte in a float's exponent) loads without complaint and
        # turns every frame into garbage: refuse it by name
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ConfigError(
                f"weights file {where!r} is damaged: {key!r} holds NaN or infinite values"
            )
        state[key] = value
    for prefix in WRAPPER_PREFIXES:
        if all(key.startswith(prefix) for key in state):
            state = {key[len(prefix):]: value for key, value in state.items()}
    return state


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    more = len(keys) - _LISTED
    return f"{shown}, ... ({more} more)" if more > 0 else shown


def load_weights(
    model: nn.Module,
    weights: str | os.PathLike[str] | Mapping[str, torch.Tensor],
    strict: bool = True,
) -> tuple[list[str], list[str]]:
    """Load a weights file (or an already loaded state dict) into ``model``.

    Args:
        model: the model to fill in place.
        weights: a path for :func:`load_state`, or a state dict.
        strict: every key of the model must be in the file and no other; when ``False``, keys
            on one side only are skipped (and returned). Shapes must match either way.

    Returns:
        ``(missing, unexpected)``: the model's keys the file lacks and the file's keys the
        model lacks (both empty under ``strict``).

    Raises:
        ConfigError: the file cannot be read, or does not fit the model; the message lists
            the missing and unexpected keys and the shape mismatches.
    """
    if isinstance(weights, Mapping):
        where = "state dict"
        state = _state_dict_of(weights, where)
    else:
        where = f"weights file {str(weights)!r}"
        state = load_state(weights)
    own = model.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    mismatched = [
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(own[key].shape)}"
        for key in own
        if key in state and state[key].shape != own[key].shape
    ]
    problems = []
    if strict and missing:
        problems.append(f"missing keys ({len(missing)}): {_listing(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches ({len(mismatched)}): {_listing(mismatched)}")
    if problems:
        raise ConfigError(
            f"{where} does not fit model {type(model).__name__}: " + "; ".join(problems)
        )
    if not strict and not any(key in own for key in state):
        raise ConfigError(f"{where} shares no keys with model {type(model).__name__}")
    model.load_state_dict({key: state[key] for key in state if key in own}, strict=False)
    return missing, unexpected
