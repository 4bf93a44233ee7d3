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
import functools
import math
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from basicsr.data import build_dataset
from basicsr.metrics import calculate_metric
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, tensor2img
from basicsr.utils.registry import LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY
from torch import nn
from torch.nn.parallel import DataParallel, DistributedDataParallel
from torch.optim import Optimizer
from tqdm import tqdm

from .. import option_rules as rules
from ..bn_recalibration import calibration_batches, recalibrate_batchnorm
from ..checkpoint import rng_kept
from ..files import write_image
from ..inference import mean_scores, restore_whole
from ..memory import restore_within_memory
from ..options_check import check_options, was_checked
from ..registration import register
from .finite_guard import FiniteGuard, NonFiniteError
from .save_resume import SaveAndResume

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
AMP_CHOICES = (None, False, 'auto', *AMP_DTYPES)
Losses = dict[str, torch.Tensor]  # loss terms by name, as BasicSR logs them
BASICSR_SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')  # BaseModel.setup_schedulers


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: a CUDA GPU of compute capability 8 or more, a
    CPU with AVX512-BF16 or AMX. Elsewhere bf16 is emulated, slower than fp32."""
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported(including_emulation=False)
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')  # private, hence looked up
    return device.type == 'cpu' and any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def amp_dtype(amp: Any, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of an ``amp`` option on ``device``; None: fp32 (``auto`` without native bf16)."""
    if amp == 'auto':
        return torch.bfloat16 if native_bf16(device) else None
    return AMP_DTYPES.get(amp)


def use_channels_last(value: Any, net: nn.Module, device: torch.device) -> bool:
    """The ``channels_last`` option; ``auto`` or absent: on for networks that run faster so
    (``prefers_channels_last``, measured by benchmarks/bench_search.py) on the CPU, where it was measured."""
    if value in (None, 'auto'):
        return device.type == 'cpu' and getattr(net, 'prefers_channels_last', False)
    return bool(value)


def optimizer_class(type_name: Any, where: str) -> type:
    """The ``torch.optim`` optimiser named ``type_name`` (BasicSR 1.4.2 knows the Adam family only)."""
    optim_cls = getattr(torch.optim, type_name, None) if isinstance(type_name, str) else None
    if isinstance(optim_cls, type) and issubclass(optim_cls, torch.optim.Optimizer):
        return optim_cls
    names = sorted(
        n
        for n, c in vars(torch.optim).items()
        if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and n != 'Optimizer'
    )
    raise rules.OptionError(
        f'{where} = {type_name!r} is not a torch.optim optimizer; {rules.suggest(type_name, names)}'
    )


def check_optimizer_options(optim_opt: Any, where: str) -> None:
    """``{type: <torch.optim name>, lr: <positive>, ...}``, the others typed by the optimiser's signature."""
    optim_opt = rules.mapping(where, optim_opt, 'an optimiser, e.g. {type: Adam, lr: 1.0e-3}')
    optim_cls = optimizer_class(optim_opt.get('type'), rules.key_path(where, 'type'))
    rules.number(rules.key_path(where, 'lr'), optim_opt.get('lr'), positive=True)
    rules.check_keywords(optim_cls, optim_opt, where, supplied=('params',))
    rules.check_argument_types(optim_cls, optim_opt, where)


# The keys of train and val this model reads (besides optimisers, scheduler and losses).
TRAIN_KEYS = {
    'warmup_iter': rules.Integer(-1),
    'ema_decay': rules.Real(0, below=1),
    'grad_clip': rules.Real(0),
    'skip_nonfinite': rules.Boolean(),
    'identity_start': rules.Text(),
}
VAL_KEYS = {
    'val_freq': rules.Integer(1),
    'save_img': rules.Boolean(),
    'suffix': rules.Maybe(rules.Text()),
    'pbar': rules.Boolean(),
    'self_ensemble': rules.Boolean(),
    'pad_multiple': rules.Integer(1),
    'tile': rules.Boolean(),
    'recalibrate_bn': rules.Integer(0),
    'metrics': rules.Maybe(rules.Section({}, 'a mapping of metrics, each {type: calculate_psnr, ...}')),
}
METRIC_KEYS = {
    'crop_border': rules.Integer(0),
    'test_y_channel': rules.Boolean(),
    'better': rules.Choice('higher', 'lower'),
}
SCHEDULER_KEYS = {  # BasicSR's schedulers do not annotate these
    'milestones': rules.ListOf(rules.Integer(0)),
    'gamma': rules.Real(positive=True),
    'restarts': rules.ListOf(rules.Integer(0)),
    'restart_weights': rules.ListOf(rules.Real(0)),
    'periods': rules.ListOf(rules.Integer(1)),
    'eta_min': rules.Real(0),
}
SCHEDULER_REQUIRED = {
    'MultiStepLR': 'milestones',
    'MultiStepRestartLR': 'milestones',
    'CosineAnnealingRestartLR': 'periods',
}


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


def check_scheduler_options(scheduler: Mapping[str, Any], where: str) -> None:
    """A scheduler's keys: the one it needs, typed (:data:`SCHEDULER_KEYS`, else by its signature)."""
    from basicsr.models import lr_scheduler

    needed = SCHEDULER_REQUIRED.get(scheduler.get('type'))
    if needed is not None:
        rules.required(scheduler, needed, where, f'the iterations of the {scheduler["type"]} schedule, a list')
    rules.check_keys(scheduler, SCHEDULER_KEYS, where)
    # BaseModel.setup_schedulers builds MultiStepLR as BasicSR's MultiStepRestartLR
    name = {'MultiStepLR': 'MultiStepRestartLR'}.get(scheduler.get('type'), scheduler.get('type'))
    scheduler_cls = getattr(lr_scheduler, str(name), None)
    if scheduler_cls is not None:
        rules.check_keywords(scheduler_cls, scheduler, where, supplied=('optimizer',))
        rules.check_argument_types(
            scheduler_cls, {k: v for k, v in scheduler.items() if k not in SCHEDULER_KEYS}, where
        )


@register(MODEL_REGISTRY, 'CLEARERRestorationModel')
class RestorationModel(SaveAndResume, SRModel):
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
        """The keys this model reads: ``train`` (when training) and ``val``."""
        if opt.get('is_train'):
            train = rules.mapping(
                rules.key_path(where, 'train'),
                opt.get('train'),
                'a train section (optim_g, scheduler, total_iter, pixel_opt, ...)',
            )
            cls.check_train_options(train, rules.key_path(where, 'train'))
        if isinstance(opt.get('val'), Mapping):
            cls.check_val_options(opt['val'], rules.key_path(where, 'val'))
            if opt['val'].get('recalibrate_bn') and not opt.get('is_train'):
                raise rules.OptionError(
                    f'{rules.key_path(where, "val: recalibrate_bn")}: applies while training (it draws train '
                    'batches); the nets a training run saved hold the recalibrated statistics already, remove it here'
                )
        rules.one_of(rules.key_path(where, 'channels_last'), opt.get('channels_last'), (None, 'auto', True, False))

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], where: str) -> None:
        key = functools.partial(rules.key_path, where)
        rules.number(key('total_iter'), train.get('total_iter'), positive=True, integer=True)
        rules.check_keys(train, TRAIN_KEYS, where)
        check_optimizer_options(train.get('optim_g'), key('optim_g'))
        expected = f'a mapping with a type, one of {list(BASICSR_SCHEDULERS)}'
        scheduler = rules.mapping(key('scheduler'), train.get('scheduler'), expected)
        if scheduler.get('type') not in BASICSR_SCHEDULERS:
            name = scheduler.get('type')
            raise rules.OptionError(
                f'{key("scheduler: type")} = {name!r} is not a scheduler BasicSR sets up; '
                f'{rules.suggest(name, BASICSR_SCHEDULERS)}'
            )
        check_scheduler_options(scheduler, key('scheduler'))
        for loss in sorted(k for k, v in train.items() if k.endswith('_opt') and isinstance(v, Mapping)):
            rules.check_component(LOSS_REGISTRY, key(loss), train[loss], 'loss (LOSS_REGISTRY)')
        rules.one_of(key('amp'), train.get('amp'), AMP_CHOICES)

    @classmethod
    def check_val_options(cls, val: Mapping[str, Any], where: str) -> None:
        key = functools.partial(rules.key_path, where)
        rules.check_keys({k: v for k, v in val.items() if v is not None}, VAL_KEYS, where)
        for name, metric in (val.get('metrics') or {}).items():
            metric = rules.mapping(
                key(f'metrics: {name}'), metric, 'a metric, e.g. {type: calculate_psnr, crop_border: 0}'
            )
            metric_fn = rules.lookup(METRIC_REGISTRY, key(f'metrics: {name}: type'), metric.get('type'), 'metric')
            rules.check_keys(metric, METRIC_KEYS, key(f'metrics: {name}'))
            rules.check_argument_types(metric_fn, metric, key(f'metrics: {name}'))
        rules.one_of(key('amp'), val.get('amp'), AMP_CHOICES)

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
        dtype = amp_dtype(amp, self.device)
        return contextlib.nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

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
        if not torch.isfinite(norm):
            for name, value in list(losses.items()) + [('total', sum(losses.values()))]:
                if not torch.isfinite(value.detach()).all():
                    return self._nonfinite(f'loss {name} = {value.item()}', name, step_name, current_iter, optimizer)
            if not self.scaler.is_enabled():  # fp16: the scaler skips the step and rescales
                what = f'gradient norm = {norm.item()} (of {" + ".join(losses)})'
                return self._nonfinite(what, 'gradient', step_name, current_iter, optimizer)
        self.scaler.step(optimizer)
        self.scaler.update()
        return True

    def _nonfinite(self, what: str, term: str, step_name: str, current_iter: int, optimizer: Optimizer) -> bool:
        """A non-finite ``term`` (a loss name or 'gradient'): skip the step (``skip_nonfinite``)
        within the guard's limit, else stop with the last finite state saved."""
        optimizer.zero_grad(set_to_none=True)
        logger = get_root_logger()
        problem = f'non-finite {what} in the {step_name} step at iteration {current_iter}'
        if self.guard.skip:
            self.guard.restore_buffers()
            logger.warning(f'{problem}: step skipped ({self.guard.skipped + 1} skipped so far)')
            self.guard.count_skip()
            return False
        inputs = self.step_inputs(step_name)
        if not all(torch.isfinite(x).all() for x in inputs):
            cause = (
                f"the {step_name} step's input batch holds NaN or Inf values. Check the data (a resume meets the "
                'same batch)'
            )
        else:
            key = self.diverged_optimizer(term)
            what_diverged = 'architecture logits' if key == 'optim_arch' else 'network weights'
            cause = f'the {what_diverged} diverged (train: {key}). Lower train: {key}: lr and resume with --auto_resume'
        if self.opt['rank'] != 0:
            saved = 'Rank 0 saves the last finite state.'
        else:
            folder = self.opt['path'].get('training_states')
            saved = self.guard.save_last_finite(current_iter, folder, self.write_checkpoint)
        message = f'{problem}: {cause}, or set train: skip_nonfinite: true to skip such steps. {saved}'
        logger.error(message)  # the run's log file says why it stopped
        raise NonFiniteError(message)

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

    # ------------------------------------------------- BatchNorm statistics
    def recalibrate_batchnorm(self) -> None:
        """The nets' BatchNorm statistics brought up to date, once per state of the weights: the
        EMA net's copied from the trained net's (see ``ema_decay`` above), then with ``val:
        recalibrate_bn: N`` both averaged over N train batches, under training's random states."""
        if not self.is_train or self.recalibrated_after == self.guard.attempted:
            return
        nets = [self.get_bare_model(self.net_g)] + ([self.net_g_ema] if hasattr(self, 'net_g_ema') else [])
        trained = dict(nets[0].named_buffers())
        for ema in nets[1:]:
            for key, buffer in ema.named_buffers():
                buffer.copy_(trained[key])
        count = (self.opt.get('val') or {}).get('recalibrate_bn')
        if count:
            with rng_kept():
                if self.calibration is None:
                    train_set = self.opt['datasets']['train']
                    seed = self.opt.get('manual_seed') or 0
                    size = train_set['batch_size_per_gpu']
                    batches = calibration_batches(build_dataset(train_set), count, size, seed)
                    self.calibration = [self.to_device(x) for x in batches]
                with self.autocast():
                    layers = sum(recalibrate_batchnorm(net, self.calibration) for net in nets)
            if self.recalibrated_after is None:
                get_root_logger().info(f'val: recalibrate_bn: {layers} BatchNorm layers, over {count} train batches')
        self.recalibrated_after = self.guard.attempted

    def validation(self, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool = False) -> None:
        self.recalibrate_batchnorm()
        super().validation(dataloader, current_iter, tb_logger, save_img)

    def save(self, epoch: int, current_iter: int) -> None:
        self.recalibrate_batchnorm()
        super().save(epoch, current_iter)

    # ----------------------------------------------------------------- test
    def restore(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Whole-image inference with ``val: pad_multiple`` and ``val: self_ensemble``, in tiles
        where the image does not fit in free memory (``val: tile: false`` refuses instead)."""
        val_opt = self.opt.get('val') or {}
        pad, ensemble = int(val_opt.get('pad_multiple') or 1), bool(val_opt.get('self_ensemble'))
        multiple = math.lcm(pad, int(getattr(net, 'size_multiple', 1)))
        whole = functools.partial(restore_whole, net, multiple=pad, ensemble=ensemble)
        return restore_within_memory(whole, net, x, multiple, val_opt.get('tile', True), get_root_logger().warning)

    def test(self) -> None:
        if hasattr(self, 'net_g_ema'):
            net = self.net_g_ema
        else:
            net = self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        with torch.no_grad(), self.autocast(training=False):
            self.output = self.restore(net, self.lq)
        net.train(was_training)

    def nondist_validation(self, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool) -> None:
        """BasicSR's validation (same outputs, metrics, log and saved images) that also keeps
        ``validation_results[test set] = {'average': ..., 'images': {image: {metric: value,
        'output': saved file}}}``."""
        dataset_name = dataloader.dataset.opt['name']
        metric_opts = self.opt['val'].get('metrics') or {}
        if metric_opts:
            self._initialize_best_metric_results(dataset_name)
        images = {}
        pbar = tqdm(total=len(dataloader), unit='image') if self.opt['val'].get('pbar', False) else None
        for val_data in dataloader:
            img_name = os.path.splitext(os.path.basename(val_data['lq_path'][0]))[0]
            self.feed_data(val_data)
            self.test()
            metric_data = {'img': tensor2img([self.output.detach().cpu()])}
            if hasattr(self, 'gt'):
                metric_data['img2'] = tensor2img([self.gt.detach().cpu()])
                del self.gt
            del self.lq, self.output
            torch.cuda.empty_cache()
            images[img_name] = {name: float(calculate_metric(metric_data, m)) for name, m in metric_opts.items()}
            if save_img:
                images[img_name]['output'] = self.saved_image_path(dataset_name, img_name, current_iter)
                write_image(metric_data['img'], images[img_name]['output'])
            if pbar:
                pbar.update(1)
                pbar.set_description(f'Test {img_name}')
        if pbar:
            pbar.close()
        self.metric_results = mean_scores(images, metric_opts)
        self.validation_results[dataset_name] = {'average': dict(self.metric_results), 'images': images}
        if metric_opts:
            for metric, value in self.metric_results.items():
                self._update_best_metric_result(dataset_name, metric, value, current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)

    def saved_image_path(self, dataset_name: str, img_name: str, current_iter: Any) -> str:
        """Where BasicSR's validation saves an output: per image and iteration when training, per
        test set with ``val: suffix`` (else the run's name) when testing."""
        folder = self.opt['path']['visualization']
        if self.opt['is_train']:
            return os.path.join(folder, img_name, f'{img_name}_{current_iter}.png')
        return os.path.join(folder, dataset_name, f'{img_name}_{self.opt["val"].get("suffix") or self.opt["name"]}.png')
