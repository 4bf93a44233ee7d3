"""Crash-safe checkpoint files, their state dicts, and the random-number state that makes a resume bit-exact."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` through a temporary file and a rename, so a killed process never leaves a
    half-written file under ``path``. The temporary name ends in ``.tmp``: BasicSR's auto-resume
    parses every file ending in ``state`` as an iteration number."""
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def strip_module_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The keys without the ``module.`` prefix that DataParallel / DDP wrappers add."""
    return {k.removeprefix('module.'): v for k, v in state_dict.items()}


def rng_state() -> dict[str, Any]:
    state = {'python': random.getstate(), 'numpy': np.random.get_state(), 'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])
