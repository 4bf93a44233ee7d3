"""What a training run needs to survive a NaN or Inf, at no cost per step until one happens.

A step whose loss or gradient is not finite either stops the run, saving the last state that
did not lead there, or (``train: skip_nonfinite``) is skipped, within :data:`SKIP_LIMIT` of the
steps tried. :class:`FiniteGuard` keeps what either needs:

* stopping: a copy of the state at every log line (``logger: print_freq``), where BasicSR's
  logging waits for the device anyway; the last two, so that the one kept at the iteration
  before the failing one (which led there) is never the one saved;
* skipping: the network's buffers (BatchNorm statistics) before each step, put back when the
  step is skipped, as its forward may have left NaN there.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
from basicsr.utils import get_root_logger
from torch import nn

from ..archs.arch_util import restore_buffers, snapshot_buffers
from ..checkpoint import atomic_torch_save, detached_copy
from ..errors import UserInputError

SKIP_LIMIT = 0.1  # train: skip_nonfinite stops the run once more than this share of its steps was skipped ...
SKIP_LIMIT_FROM = 10  # ... counted from this many steps on


class NonFiniteError(UserInputError, FloatingPointError):
    """A loss or gradient became NaN/Inf; the message says which, where, what was saved and what
    to change (a user error: shown as one line by the entry points)."""


class FiniteGuard:
    def __init__(self, skip: bool, keep_every: int) -> None:
        self.skip, self.keep_every = bool(skip), int(keep_every)
        self.attempted = 0  # optimiser steps tried, skipped ones included
        self.skipped = 0
        self.states: collections.deque = collections.deque(maxlen=2)  # {'networks': ..., 'state': ...}
        self.buffers: list = []

    # ----------------------------------------------------------------- every step
    def before_step(self, net: nn.Module) -> None:
        if self.skip:
            self.buffers = snapshot_buffers(net)

    def keep(self, current_iter: int, state: Callable[[], Mapping[str, Any]]) -> None:
        """After a finite iteration: a copy of ``state()`` at log lines (never with ``skip``)."""
        if not self.skip and current_iter % self.keep_every == 0:
            self.states.append(detached_copy(dict(state())))

    # ----------------------------------------------------------------- a non-finite step
    def on_nonfinite(
        self,
        model: Any,
        norm: torch.Tensor,
        losses: Mapping[str, torch.Tensor],
        step: str,
        iteration: int,
        optimizer: Any,
    ) -> bool:
        """A step of ``model`` whose gradient ``norm`` is not finite: names the first non-finite loss
        term (or the gradient itself), then skips the step (``skip_nonfinite``, returns False) or
        stops the run (:meth:`skip_or_stop`). Returns True where fp16's GradScaler skips it by itself."""
        for name, value in [*losses.items(), ('total', sum(losses.values()))]:
            if not torch.isfinite(value.detach()).all():
                return self.skip_or_stop(model, f'loss {name} = {value.item()}', name, step, iteration, optimizer)
        if model.scaler.is_enabled():  # fp16: the scaler skips the step and rescales
            return True
        what = f'gradient norm = {norm.item()} (of {" + ".join(losses)})'
        return self.skip_or_stop(model, what, 'gradient', step, iteration, optimizer)

    def skip_or_stop(self, model: Any, what: str, term: str, step: str, iteration: int, optimizer: Any) -> bool:
        """A non-finite ``term`` (a loss name or 'gradient'): skip the step within
        :data:`SKIP_LIMIT`, else stop with the last finite state saved, naming the cause: the
        batch, or the optimiser whose parameters diverged (``model.diverged_optimizer``)."""
        optimizer.zero_grad(set_to_none=True)
        logger = get_root_logger()
        problem = f'non-finite {what} in the {step} step at iteration {iteration}'
        if self.skip:
            restore_buffers(self.buffers)
            logger.warning(f'{problem}: step skipped ({self.skipped + 1} skipped so far)')
            self.count_skip()
            return False
        if not all(torch.isfinite(x).all() for x in model.step_inputs(step)):
            cause = (
                f"the {step} step's input batch holds NaN or Inf values. Check the data (a resume meets the same batch)"
            )
        else:
            key = model.diverged_optimizer(term)
            what_diverged = 'architecture logits' if key == 'optim_arch' else 'network weights'
            cause = f'the {what_diverged} diverged (train: {key}). Lower train: {key}: lr and resume with --auto_resume'
        if model.opt['rank'] != 0:
            saved = 'Rank 0 saves the last finite state.'
        else:
            saved = self.save_last_finite(iteration, model.opt['path'].get('training_states'), model.write_checkpoint)
        message = f'{problem}: {cause}, or set train: skip_nonfinite: true to skip such steps. {saved}'
        logger.error(message)  # the run's log file says why it stopped
        raise NonFiniteError(message)

    def count_skip(self) -> None:
        """One more skipped step; the run stops once skipped steps pass :data:`SKIP_LIMIT` of the
        steps tried, as skipped steps train nothing and the run would end looking trained."""
        self.skipped += 1
        if self.attempted >= SKIP_LIMIT_FROM and self.skipped > SKIP_LIMIT * self.attempted:
            raise NonFiniteError(
                f'train: skip_nonfinite: {self.skipped} of {self.attempted} steps were non-finite and '
                f'skipped, more than {SKIP_LIMIT:.0%}: the run stopped, as what it would end with is barely trained. '
                'Lower the learning rates or check the data, and resume with --auto_resume (from the last '
                'periodic checkpoint) or start again'
            )

    def save_last_finite(
        self, current_iter: int, folder: str | None, write_networks: Callable[[Mapping, int], None]
    ) -> str:
        """Saves the newest kept state from before iteration ``current_iter - 1`` into ``folder``
        (training_states; its networks through ``write_networks``) and says where. A newer
        training state on disk is set aside (renamed ``*.state.nonfinite``) so that
        ``--auto_resume`` starts from the saved one; an identical one already saved is kept."""
        earlier = [s for s in self.states if s['state']['iter'] <= current_iter - 2]
        if not earlier or folder is None:
            return 'No finite state after a completed iteration is kept, so nothing was saved: start the run again.'
        snapshot = earlier[-1]
        last = snapshot['state']['iter']
        path = os.path.join(folder, f'{last}.state')
        set_aside = []
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if name.endswith('.state') and name[: -len('.state')].isdigit() and int(name[: -len('.state')]) > last:
                os.replace(os.path.join(folder, name), os.path.join(folder, name + '.nonfinite'))
                set_aside.append(name)
        aside = f' ({", ".join(set_aside)} set aside as *.state.nonfinite)' if set_aside else ''
        if os.path.isfile(path):
            return f'The last finite state, after iteration {last}, is at {path}{aside}.'
        write_networks(snapshot['networks'], last)
        atomic_torch_save(snapshot['state'], path)
        return f'The last finite state, after iteration {last}, was saved to {path}{aside}.'
