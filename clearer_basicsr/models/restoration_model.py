"""RestorationModel: BasicSR's SRModel plus what restoration training needs and 1.4.2 lacks.

Option keys (all optional, BasicSR's own keep their meaning):

* ``train: optim_g: type``  any ``torch.optim`` class by name (``SGD``, ``Adam``, ``AdamW``, ...);
* ``train: grad_clip``      max global gradient norm (off when absent or 0);
* ``train: amp``            ``auto`` | ``bf16`` | ``fp16`` autocast (fp16 with a GradScaler); ``auto`` is
  bf16 where the device computes bf16 natively and fp32 elsewhere; ``val: amp`` at test;
* ``channels_last``         ``true`` | ``false`` | ``auto`` (the default: on for networks measured faster
  so, CLEARER's on the CPU): network and inputs in channels-last memory format;
* ``train: skip_nonfinite`` skip a step whose loss or gradient is NaN/Inf; the run still stops
  once more than 10 % of its steps were skipped (:mod:`.finite_guard`; skipped steps train nothing).
  Default: stop at the first one, saving the last finite state (the one before the iteration
  that led there) and naming the optimiser that diverged, so that a resume with its learning
  rate lowered gets past that iteration;
* ``train: identity_start`` the name of the network's last layer (``conv_last`` in SwinIR, ``tail`` in
  RIDNet): its weights are zeroed before the first iteration of a new run, so that a residual
  network starts as the identity (CLEARER's N(0, 0.001) init does this by itself);
* ``val: self_ensemble``    8-way flip/rotation self-ensemble at test;
* ``val: pad_multiple``     pad test inputs to a multiple of this size, crop the output back;
* ``val: tile``             (default true) restore an image in tiles where a whole-image pass
  would not fit in free memory (:mod:`..memory`), with one warning; false refuses in one line;
* ``val: recalibrate_bn``   N (training only): before each validation and save, the BatchNorm
  statistics of the nets are averaged over N train batches, the same ones each time
  (:mod:`..bn_recalibration`), so that curves and saved nets do not carry the last batches'
  noise. Training itself is unchanged: its steps use batch statistics and its random streams.
* ``train: ema_decay``      BasicSR's: validation, saves (``params_ema``) and tests use the
  parameters averaged over the steps. Two fixes over 1.4.2: the averaged net's BatchNorm
  statistics (1.4.2 averages parameters only and leaves them at their initial values) are
  copied from the trained net before each validation and save, then recalibrated with
  ``val: recalibrate_bn``; and building the averaged net no longer draws from training's random
  stream, so a run with EMA trains the very weights the same run without it trains.

Its validation also keeps every image's metrics (``validation_results``), which the entry
points write to ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from torch import nn
from torch.nn.parallel import DataParallel, DistributedDataParallel
from torch.optim import Optimizer

from .. import option_rules as rules
from ..checkpoint import rng_kept
from ..options_check import check_options, was_checked
from ..registration import register
from .finite_guard import FiniteGuard
from .precision import amp_dtype, autocast, use_channels_last
from .restoration_options import check_model_options, check_train_section, check_val_section, optimizer_class
from .save_resume import SaveAndResume
from .validation import WholeImageValidation

Losses = dict[str, torch.Tensor]  # loss terms by name, as BasicSR logs them


def zero_layer(net: nn.Module, name: str, where: str) -> None:
    """Zeroes the weights (and bias) of the layer ``name`` of ``net``."""
    layers = {n: m for n, m in net.named_modules() if isinstance(getattr(m, 'weight', None), torch.Tensor)}
    if name not in layers:
        last = [n for n in layers if n][-3:]
        raise rules.OptionError(
            f'{where} = {name!r}: {type(net).__name__} has no layer of that name with weights; its last ones: '
            f'{", ".join(last)}'
        )
    with torch.no_grad():
        for tensor in (layers[name].weight, getattr(layers[name], 'bias', None)):
            if isinstance(tensor, torch.Tensor):
                tensor.zero_()


@register(MODEL_REGISTRY, 'CLEARERRestorationModel')
class RestorationModel(SaveAndResume, WholeImageValidation, SRModel):
    def __init__(self, opt: dict) -> None:
        if not was_checked(opt):  # built by BasicSR's own train.py / test.py: check the whole file here
            check_options(opt)
        self.batch_in_epoch = None  # set by clearer_basicsr.train, saved for a bit-exact resume
        self.epoch = 0
        self.interval_losses = {}  # loss name -> (sum, count) since the last get_current_log
        train, logger = opt.get('train') or {}, opt.get('logger') or {}
        self.guard = FiniteGuard(train.get('skip_nonfinite'), logger.get('print_freq') or 1)
        self.validation_results = {}  # test set name -> averages and per-image metrics of its last validation
        self.calibration = None  # val: recalibrate_bn: the train batches, drawn once
        self.recalibrated_after = None  # the number of steps the statistics were last recalibrated after
        super().__init__(opt)

    # ----------------------------------------------------------------- options
    @classmethod
    def check_options(cls, opt: Mapping[str, Any], where: str = '') -> None:
        """The keys this model reads: ``train`` (when training) and ``val`` (:mod:`.restoration_options`)."""
        check_model_options(cls, opt, where)

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], where: str) -> None:
        check_train_section(train, where)

    @classmethod
    def check_val_options(cls, val: Mapping[str, Any], where: str) -> None:
        check_val_section(val, where)

    # ----------------------------------------------------------------- setup
    def model_to_device(self, net: nn.Module) -> nn.Module:
        """BasicSR's version, plus channels-last and DDP on the CPU (gloo)."""
        net = net.to(self.device)
        self.channels_last = use_channels_last(self.opt.get('channels_last'), net, self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        if self.opt['dist']:
            kwargs = {'find_unused_parameters': self.opt.get('find_unused_parameters', False)}
            if self.device.type == 'cuda':
                kwargs['device_ids'] = [torch.cuda.current_device()]
            net = DistributedDataParallel(net, **kwargs)
        elif self.opt['num_gpu'] > 1:
            net = DataParallel(net)
        return net

    def init_training_settings(self) -> None:
        name = self.opt['train'].get('identity_start')
        if name and not self.opt['path'].get('pretrain_network_g'):  # a resume or a pretrained net keeps its weights
            zero_layer(self.get_bare_model(self.net_g), name, 'train: identity_start')
        with rng_kept():  # SRModel initialises net_g_ema at random before copying net_g into it
            super().init_training_settings()

    def get_optimizer(self, optim_type: str, params: list, lr: float, **kwargs: Any) -> Optimizer:
        """Any ``torch.optim`` optimiser by name (1.4.2 knows the Adam family only)."""
        return optimizer_class(optim_type, 'optimizer type')(params, lr=lr, **kwargs)

    def weight_parameters(self) -> list[nn.Parameter]:
        """The parameters ``optim_g`` trains (the search model leaves out the architecture logits)."""
        return [p for p in self.net_g.parameters() if p.requires_grad]

    def setup_optimizers(self) -> None:
        train_opt = self.opt['train']
        optim_opt = dict(train_opt['optim_g'])
        self.optimizer_g = self.get_optimizer(optim_opt.pop('type'), self.weight_parameters(), **optim_opt)
        self.optimizers.append(self.optimizer_g)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=(train_opt.get('amp') == 'fp16'))
        if train_opt.get('amp') == 'auto':
            chosen = 'bf16' if amp_dtype('auto', self.device) else 'fp32 (no native bf16)'
            get_root_logger().info(f'train: amp: auto -> {chosen} on {self.device}')

    # ---------------------------------------------------------------- steps
    def autocast(self, training: bool = True) -> contextlib.AbstractContextManager:
        amp = (self.opt.get('train') or {}).get('amp') if training else (self.opt.get('val') or {}).get('amp')
        return autocast(amp, self.device)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def feed_data(self, data: dict[str, Any]) -> None:
        self.lq = self.to_device(data['lq'])
        if 'gt' in data:
            self.gt = self.to_device(data['gt'])

    def pixel_losses(self, output: torch.Tensor, gt: torch.Tensor) -> Losses:
        """The pixel/perceptual loss terms of SRModel, as an ordered dict."""
        losses = OrderedDict()
        if self.cri_pix:
            losses['l_pix'] = self.cri_pix(output, gt)
        if self.cri_perceptual:
            l_percep, l_style = self.cri_perceptual(output, gt)
            if l_percep is not None:
                losses['l_percep'] = l_percep
            if l_style is not None:
                losses['l_style'] = l_style
        return losses

    def backward_step(
        self, losses: Losses, optimizer: Optimizer, params: list[nn.Parameter], current_iter: int, step_name: str
    ) -> bool:
        """Backward of the summed ``losses``, then :meth:`optimizer_step`.

        Returns False when the step was skipped (non-finite, ``train: skip_nonfinite: true``)."""
        self.scaler.scale(sum(losses.values())).backward()
        return self.optimizer_step(optimizer, params, current_iter, step_name, losses)

    def optimizer_step(
        self, optimizer: Optimizer, params: list[nn.Parameter], current_iter: int, step_name: str, losses: Losses
    ) -> bool:
        """Clipping (``train: grad_clip``), the finiteness check and the step of ``optimizer``.

        The gradient norm is the one value checked, one host sync per step: a non-finite loss
        makes the gradient non-finite too, and only then are the losses looked at, to name it."""
        self.guard.attempted += 1
        self.scaler.unscale_(optimizer)
        grad_clip = self.opt['train'].get('grad_clip') or 0
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
        if not torch.isfinite(norm) and not self.guard.on_nonfinite(
            self, norm, losses, step_name, current_iter, optimizer
        ):
            return False
        self.scaler.step(optimizer)
        self.scaler.update()
        return True

    def step_inputs(self, step_name: str) -> list[torch.Tensor]:
        """The batch the step named ``step_name`` trained on."""
        return [x for x in (getattr(self, 'lq', None), getattr(self, 'gt', None)) if x is not None]

    def diverged_optimizer(self, term: str) -> str:
        """The ``train:`` key of the optimiser whose parameters made ``term`` non-finite."""
        return 'optim_g'

    def keep_finite_state(self, current_iter: int) -> None:
        """After iteration ``current_iter`` (finite): what a non-finite stop would save, kept at log lines."""
        self.guard.keep(
            current_iter,
            lambda: {'networks': self.network_checkpoint(), 'state': self.training_state(self.epoch, current_iter)},
        )

    def optimize_parameters(self, current_iter: int) -> None:
        self.optimizer_g.zero_grad(set_to_none=True)
        self.guard.before_step(self.net_g)
        with self.autocast():
            self.output = self.net_g(self.lq)
            losses = self.pixel_losses(self.output.float(), self.gt)
        if not losses:
            raise ValueError('train: no pixel_opt or perceptual_opt is given, so there is no loss to train with')
        self.backward_step(losses, self.optimizer_g, self.weight_parameters(), current_iter, 'weight')
        losses = OrderedDict((k, v.detach()) for k, v in losses.items())
        self.log_dict = self.reduce_loss_dict(losses)
        self.add_to_interval_means(self.log_dict)
        if self.guard.skipped:
            self.log_dict['nonfinite_skips'] = float(self.guard.skipped)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def add_to_interval_means(self, log: Mapping[str, float]) -> None:
        """Adds this iteration's losses (``l_*``) to the means :meth:`get_current_log` reports."""
        for key, value in log.items():
            if key.startswith('l_'):
                total, count = self.interval_losses.get(key, (0.0, 0))
                self.interval_losses[key] = (total + float(value), count + 1)

    def get_current_log(self) -> OrderedDict:
        """The log of the latest iteration, its losses (``l_*``) averaged over every iteration
        since the previous call: BasicSR logs one batch's loss every print_freq iterations, a
        sample too noisy to tell whether the training loss has flattened."""
        log = OrderedDict(self.log_dict)
        for key, (total, count) in self.interval_losses.items():
            if key in log:
                log[key] = total / count
        self.interval_losses = {}
        return log
