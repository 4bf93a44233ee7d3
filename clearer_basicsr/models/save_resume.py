"""Saving and resuming a RestorationModel: its checkpoints, written atomically and read as data,
its training states (everything a bit-exact resume needs) and the learning rates of a resume."""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from torch import nn
from torch.optim import Optimizer

from ..checkpoint import atomic_torch_save, rng_state, saved_weights, strip_module_prefix


class SaveAndResume:
    """Mixed into the model before BasicSR's SRModel, whose methods of these names it replaces."""

    def load_network(
        self, net: nn.Module, load_path: str, strict: bool = True, param_key: str | None = 'params'
    ) -> None:
        """BasicSR's ``load_network``, through :func:`saved_weights` (read as data, checked)."""
        net = self.get_bare_model(net)
        saved = saved_weights(net, load_path, strict, param_key)
        self._print_different_keys_loading(net, saved, strict)  # not strict: warns, sets other shapes aside
        net.load_state_dict(saved, strict=strict)

    @master_only
    def save_network(
        self, net: nn.Module | list[nn.Module], net_label: str, current_iter: int, param_key: str | list[str] = 'params'
    ) -> None:
        """BasicSR's ``save_network``, written atomically (temporary file + rename)."""
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        self.write_checkpoint({key: self.bare_state_dict(n) for n, key in zip(nets, keys)}, current_iter, net_label)

    def bare_state_dict(self, net: nn.Module) -> dict[str, Any]:
        return strip_module_prefix(self.get_bare_model(net).state_dict())

    def network_checkpoint(self) -> dict[str, dict[str, Any]]:
        """What :meth:`save` writes to ``models/net_g_<iter>.pth``: ``params`` (and ``params_ema``)."""
        nets = {'params': self.net_g, **({'params_ema': self.net_g_ema} if hasattr(self, 'net_g_ema') else {})}
        return {key: self.bare_state_dict(net) for key, net in nets.items()}

    @master_only
    def write_checkpoint(self, checkpoint: Mapping[str, Any], current_iter: int, net_label: str = 'net_g') -> None:
        label = 'latest' if current_iter == -1 else current_iter
        on_cpu = {key: OrderedDict((k, v.cpu()) for k, v in sd.items()) for key, sd in checkpoint.items()}
        atomic_torch_save(on_cpu, os.path.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    def training_state(self, epoch: int, current_iter: int) -> dict[str, Any]:
        """Everything ``resume_training`` and the plugin's loop need to continue exactly."""
        return {
            'epoch': epoch,
            'iter': current_iter,
            'optimizers': [o.state_dict() for o in self.optimizers],
            'schedulers': [s.state_dict() for s in self.schedulers],
            'scaler': self.scaler.state_dict() if hasattr(self, 'scaler') else None,
            'rng': rng_state(),
            'batch_in_epoch': self.batch_in_epoch,
            'nonfinite_skips': self.guard.skipped,
            'steps_attempted': self.guard.attempted,
        }

    @master_only
    def save_training_state(self, epoch: int, current_iter: int) -> None:
        if current_iter != -1:
            path = os.path.join(self.opt['path']['training_states'], f'{current_iter}.state')
            atomic_torch_save(self.training_state(epoch, current_iter), path)

    def resume_training(self, resume_state: dict[str, Any]) -> None:
        super().resume_training(resume_state)
        if resume_state.get('scaler') and hasattr(self, 'scaler'):
            self.scaler.load_state_dict(resume_state['scaler'])
        self.guard.skipped = resume_state.get('nonfinite_skips', 0)  # absent from BasicSR's own states
        self.guard.attempted = resume_state.get('steps_attempted', 0)
        self.epoch = resume_state.get('epoch', 0)
        self.apply_configured_lrs()

    def configured_lrs(self) -> list[tuple[Optimizer, str, float]]:
        """(optimizer, its ``train:`` key, the learning rate the options give it)."""
        return [(self.optimizer_g, 'optim_g', self.opt['train']['optim_g']['lr'])]

    def apply_configured_lrs(self) -> None:
        """A resumed optimiser keeps its saved learning rates, whatever the options say now
        (BasicSR). After a non-finite stop the user lowers ``lr`` and resumes: scale the saved
        rates and their schedule by (configured / saved initial rate)."""
        for optimizer, key, lr in self.configured_lrs():
            saved = optimizer.param_groups[0].get('initial_lr', optimizer.param_groups[0]['lr'])
            if not saved or math.isclose(float(lr), saved, rel_tol=1e-9):
                continue
            ratio = float(lr) / saved
            for group in optimizer.param_groups:
                group['lr'] *= ratio
                group['initial_lr'] = group.get('initial_lr', saved) * ratio
            scheduler = self.schedulers[self.optimizers.index(optimizer)] if self.schedulers else None
            if hasattr(scheduler, 'base_lrs'):
                scheduler.base_lrs = [base * ratio for base in scheduler.base_lrs]
            get_root_logger().info(
                f'train: {key}: lr = {lr} differs from the resumed state ({saved}): learning rates scaled by {ratio:g}'
            )
