"""Fixes for basicsr 1.4.2 on current PyTorch, applied at run time inside the plugin.

Nothing in site-packages is edited. Each fix keeps BasicSR's behaviour where it already
worked (CUDA machines) and only adds what was missing:

* ``torchvision.transforms.functional_tensor`` is aliased by the start-up hook
  (``_clearer_basicsr_hook``); :func:`apply` installs it too, for a plugin used without the ``.pth``;
* ``init_dist`` falls back to the gloo backend without CUDA (BasicSR hard-codes NCCL and
  ``torch.cuda.set_device``);
* ``parse_options`` also resolves each ``network_*: genotype`` that names a genotype.yml, so a
  CLEARER network built by BasicSR's own scripts under any ``model_type`` gets a genotype;
* ``load_resume_state`` (used by the plugin's own train entry point; BasicSR's lives in its
  script) maps the state to the CPU when there is no CUDA;
  its training state read as data only (:func:`.checkpoint.torch_load`).
"""

from __future__ import annotations

import os
from typing import Any

import _clearer_basicsr_hook

from .errors import UserInputError

_BASICSR_PARSE_OPTIONS: Any = None  # the original, kept by apply()


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
    from .checkpoint import torch_load

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


def parse_options_resolved(*args: Any, **kwargs: Any) -> Any:
    """BasicSR's ``parse_options``, then each ``network_*: genotype`` that names a genotype.yml
    resolved to the genotype it holds (:func:`..search_result.resolve_genotype_files`), so that
    BasicSR's own scripts build CLEARER networks whatever their ``model_type``."""
    from .search_result import resolve_genotype_files

    opt, parsed = _BASICSR_PARSE_OPTIONS(*args, **kwargs)
    return resolve_genotype_files(opt), parsed


def apply() -> None:
    """Installs the run-time fixes into basicsr's modules (idempotent)."""
    global _BASICSR_PARSE_OPTIONS
    _clearer_basicsr_hook.install()  # before basicsr is imported: it imports functional_tensor
    import basicsr.utils.options

    basicsr.utils.options.init_dist = init_dist  # parse_options calls it, in BasicSR's scripts too
    if basicsr.utils.options.parse_options is not parse_options_resolved:
        _BASICSR_PARSE_OPTIONS = basicsr.utils.options.parse_options
        basicsr.utils.options.parse_options = parse_options_resolved  # before basicsr/train.py imports it
