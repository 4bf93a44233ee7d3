"""Fixes for basicsr 1.4.2 on current PyTorch, applied at run time inside the plugin.

Nothing in site-packages is edited. Each fix keeps BasicSR's behaviour where it already
worked (CUDA machines) and only adds what was missing:

* ``torchvision.transforms.functional_tensor`` is aliased by the start-up hook
  (``_clearer_basicsr_hook``); :func:`apply` installs it too, for a plugin used without the ``.pth``;
* ``init_dist`` falls back to the gloo backend without CUDA (BasicSR hard-codes NCCL and
  ``torch.cuda.set_device``);
* ``load_resume_state`` (used by the plugin's own train entry point; BasicSR's lives in its
  script) maps the state to the CPU when there is no CUDA;
* :func:`torch_load` reads every checkpoint and training state as data only (no code runs from
  a file someone else made).
"""

from __future__ import annotations

import os
from typing import Any

import _clearer_basicsr_hook

from .errors import UserInputError


def init_dist(launcher: str, backend: str = 'nccl', **kwargs: Any) -> None:
    """BasicSR's ``init_dist``, with gloo on machines without CUDA."""
    import torch
    import torch.distributed as dist
    from basicsr.utils import dist_util

    if not torch.cuda.is_available():
        if launcher != 'pytorch':
            raise ValueError(f'--launcher {launcher} needs CUDA; on a CPU machine use --launcher pytorch (gloo)')
        if not dist.is_initialized():
            dist.init_process_group(backend='gloo', **kwargs)
        return
    dist_util.init_dist(launcher, backend, **kwargs)


def torch_load(path: str | os.PathLike, map_location: Any = 'cpu') -> Any:
    """Loads a checkpoint or training state (BasicSR's or the plugin's) as data: tensors, numbers,
    strings and containers — ``torch.load(weights_only=True)`` and nothing more, so no code runs
    from a file. UserInputError naming the file when it is missing, not a checkpoint, or needs more."""
    import pickle

    import torch

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


def load_resume_state(opt: dict) -> dict | None:
    """BasicSR's ``load_resume_state`` that also works on the CPU."""
    import torch
    from basicsr.utils import scandir

    resume_state_path = None
    if opt['auto_resume']:
        state_path = os.path.join('experiments', opt['name'], 'training_states')
        if opt.get('root_path'):
            state_path = os.path.join(opt['root_path'], state_path)
        if os.path.isdir(state_path):
            states = [int(v.split('.state')[0]) for v in scandir(state_path, suffix='state', recursive=False)]
            if states:
                resume_state_path = os.path.join(state_path, f'{max(states):.0f}.state')
                opt['path']['resume_state'] = resume_state_path
    elif opt['path'].get('resume_state'):
        resume_state_path = opt['path']['resume_state']
    if resume_state_path is None:
        return None
    device = torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() else 'cpu'
    resume_state = torch_load(resume_state_path, map_location=device)
    from basicsr.utils import check_resume

    check_resume(opt, resume_state['iter'])
    for key, weights in opt['path'].items():  # check_resume points them at the weights saved with the state
        if key.startswith('pretrain_network') and weights is not None and not os.path.isfile(weights):
            source = '--auto_resume chose' if opt['auto_resume'] else 'path: resume_state ='
            raise UserInputError(
                f'{source} {resume_state_path!r}: the network weights saved with it ({weights}) are missing; '
                'expected a training state whose models/ folder is beside it'
            )
    return resume_state


def apply() -> None:
    """Installs the run-time fixes into basicsr's modules (idempotent)."""
    _clearer_basicsr_hook.install()  # before basicsr is imported: it imports functional_tensor
    import basicsr.utils.options

    basicsr.utils.options.init_dist = init_dist  # parse_options calls it, in BasicSR's scripts too
