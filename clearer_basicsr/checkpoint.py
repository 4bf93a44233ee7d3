"""Crash-safe checkpoint files, their state dicts read as data only (:func:`torch_load`, the one
reader of every checkpoint and training state), and the random-number state that makes a resume
bit-exact."""

from __future__ import annotations

import contextlib
import copy
import os
import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from basicsr.utils import get_root_logger
from torch import nn

from .errors import UserInputError
from .files import atomic_write


def torch_load(path: str | os.PathLike, map_location: Any = 'cpu') -> Any:
    """Loads a checkpoint or training state (BasicSR's or the plugin's) as data: tensors, numbers,
    strings and containers — ``torch.load(weights_only=True)`` and nothing more, so no code runs
    from a file. UserInputError naming the file when it is missing, not a checkpoint, or needs more."""
    import pickle

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserInputError(f'{path}: no such file; expected a checkpoint (.pth) or training state (.state)')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        try:  # names the globals without running anything
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except (RuntimeError, ValueError):  # not a zip checkpoint at all
            raise _not_a_checkpoint(path, err) from None
        unsafe = unsafe or ['objects other than tensors']
        raise UserInputError(
            f'{path}: refused: loading it would call {", ".join(unsafe)}, which no checkpoint or training state '
            'holds (only tensors, numbers, strings and containers are loaded, so that no code runs from a file)'
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise _not_a_checkpoint(path, err) from None


def _not_a_checkpoint(path: str, err: Exception) -> UserInputError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if 'weights only load failed' in reason.lower():
        reason = 'an unknown format'
    return UserInputError(f'{path}: not a PyTorch checkpoint or training state, or truncated ({reason})')


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` through :func:`.files.atomic_write`: a killed process never leaves a
    half-written checkpoint under ``path``."""
    with atomic_write(path, binary=True) as f:
        torch.save(obj, f)


def strip_module_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The keys without the ``module.`` prefix that DataParallel / DDP wrappers add."""
    return {k.removeprefix('module.'): v for k, v in state_dict.items()}


def detached_copy(obj: Any) -> Any:
    """A copy of a state to keep while training goes on: tensors cloned, dicts and lists copied,
    everything else (numbers, strings, tuples, which are immutable here) shared."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, Mapping):
        copied = copy.copy(obj)  # keeps the type: dict, OrderedDict, Counter
        for key, value in obj.items():
            copied[key] = detached_copy(value)
        return copied
    if isinstance(obj, list):
        return [detached_copy(value) for value in obj]
    return obj


def rng_state() -> dict[str, Any]:
    """The random states of python, numpy, torch (and CUDA) in plain form: tuples, lists, numbers
    and tensors, all that ``torch.load(weights_only=True)`` reads back."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state['state']['key'] = numpy_state['state']['key'].tolist()
    state = {'python': random.getstate(), 'numpy': numpy_state, 'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restores :func:`rng_state`."""
    random.setstate(state['python'])
    numpy_state = dict(state['numpy'], state=dict(state['numpy']['state']))
    numpy_state['state']['key'] = np.asarray(numpy_state['state']['key'], dtype=np.uint32)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])


@contextlib.contextmanager
def rng_kept() -> Iterator[None]:
    """Runs the block with the random states put back afterwards: a validation between two
    iterations (building its loader draws from torch's generator) leaves training's streams as
    they were, so a state saved just before it resumes bit-exactly."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def first_mismatch(expected: Mapping[str, torch.Tensor], given: Mapping[str, Any]) -> str | None:
    """How ``given`` (a loaded state dict) fails to fit a network whose state dict is ``expected``,
    as one phrase naming the first key that differs (shape, missing or unexpected); None when it fits."""
    for key, tensor in expected.items():
        shape = list(getattr(given.get(key), 'shape', ()))
        if key in given and shape != list(tensor.shape):
            return f'{key} has shape {shape} there but {list(tensor.shape)} in the network'
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    if missing or unexpected:
        key, where = (missing[0], 'is missing there') if missing else (unexpected[0], 'is not in the network')
        return f'{key} {where} ({len(missing)} keys missing, {len(unexpected)} unexpected)'
    return None


def saved_weights(net: nn.Module, load_path: str, strict: bool = True, param_key: str | None = 'params') -> dict:
    """The weights a checkpoint holds for ``net`` (under ``param_key``, else 'params', as BasicSR),
    read as data only (:func:`torch_load`), 'module.' prefixes stripped and, when
    ``strict``, compared with the network: one line naming the first key that does not fit (a
    checkpoint of other network options) instead of PyTorch's list."""
    saved = torch_load(load_path)
    if param_key is not None:
        if param_key not in saved and 'params' in saved:
            get_root_logger().info('Loading: params_ema does not exist, use params.')
            param_key = 'params'
        if not isinstance(saved, Mapping) or param_key not in saved:
            keys = list(saved)[:5] if isinstance(saved, Mapping) else type(saved).__name__
            raise UserInputError(
                f'{load_path}: no {param_key!r} entry (found {keys}); expected a network checkpoint '
                'that BasicSR or the plugin saved (models/net_g_*.pth)'
            )
        saved = saved[param_key]
    get_root_logger().info(f'Loading {type(net).__name__} model from {load_path}, with param key: [{param_key}].')
    saved = strip_module_prefix(saved)
    mismatch = first_mismatch(net.state_dict(), saved) if strict else None
    if mismatch is not None:
        raise UserInputError(
            f'{load_path}: does not fit the network of the options: {mismatch}; expected a checkpoint of '
            'the network these options build (were network_g options changed since it was saved?)'
        )
    return saved
