"""RestorationModel: BasicSR's SRModel plus what restoration training needs and 1.4.2 lacks.

Option keys (all optional, BasicSR's own keep their meaning):

* ``train: optim_g: type``  any ``torch.optim`` class by name (``SGD``, ``Adam``, ``AdamW``, ...);
* ``train: grad_clip``      max global gradient norm (off when absent or 0);
* ``train: amp``            ``bf16`` | ``fp16`` autocast (fp16 with a GradScaler); ``val: amp`` at test;
* ``channels_last: true``   network and inputs in channels-last memory format;
* ``train: skip_nonfinite`` skip a step whose loss or gradient is NaN/Inf (default: stop, after
  saving a resumable state);
* ``val: self_ensemble``    8-way flip/rotation self-ensemble at test;
* ``val: pad_multiple``     pad test inputs to a multiple of this size, crop the output back.

Its validation also keeps every image's metrics (``validation_results``), which the entry
points write to ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from basicsr.metrics import calculate_metric
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, imwrite, tensor2img
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY
from torch import nn
from torch.nn.parallel import DataParallel, DistributedDataParallel
from torch.optim import Optimizer
from tqdm import tqdm

from .. import option_rules as rules
from ..archs.arch_util import pad_to_multiple
from ..checkpoint import atomic_torch_save, rng_state, strip_module_prefix
from ..options_check import check_options, was_checked

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
Losses = dict[str, torch.Tensor]  # loss terms by name, as BasicSR logs them
BASICSR_SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')  # BaseModel.setup_schedulers


def self_ensemble(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Mean of ``fn`` over the 8 flips/rotations of ``x``, each mapped back."""
    outputs = []
    for flip in (False, True):
        xf = x.flip(-1) if flip else x
        for k in range(4):
            y = fn(torch.rot90(xf, k, dims=(-2, -1)))
            y = torch.rot90(y, -k, dims=(-2, -1))
            outputs.append(y.flip(-1) if flip else y)
    return torch.stack(outputs).mean(0)


def restore_whole(
    net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, multiple: int = 1, ensemble: bool = False
) -> torch.Tensor:
    """Whole-image inference: ``x`` padded at the bottom/right to a multiple of ``multiple``, ``net``
    (or its 8-way self-ensemble), the output cropped back to the size of ``x``."""
    h, w = x.shape[-2:]
    x = pad_to_multiple(x, multiple)
    y = self_ensemble(net, x) if ensemble else net(x)
    return y[..., :h, :w].float()


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
    """``{type: <torch.optim name>, lr: <positive>, ...}``."""
    optim_opt = rules.mapping(where, optim_opt, 'an optimiser, e.g. {type: Adam, lr: 1.0e-3}')
    optimizer_class(optim_opt.get('type'), rules.key_path(where, 'type'))
    rules.number(rules.key_path(where, 'lr'), optim_opt.get('lr'), positive=True)


class NonFiniteError(FloatingPointError):
    """A loss or gradient became NaN/Inf; the message says which, where, and what was saved."""


@MODEL_REGISTRY.register()
class RestorationModel(SRModel):
    def __init__(self, opt: dict) -> None:
        if not was_checked(opt):  # built by BasicSR's own train.py / test.py: check the whole file here
            check_options(opt)
        self.batch_in_epoch = None  # set by clearer_basicsr.train, saved for a bit-exact resume
        self.epoch = 0
        self.nonfinite_skips = 0
        self.validation_results = {}  # test set name -> averages and per-image metrics of its last validation
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

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], where: str) -> None:
        key = functools.partial(rules.key_path, where)
        rules.number(key('total_iter'), train.get('total_iter'), positive=True, integer=True)
        check_optimizer_options(train.get('optim_g'), key('optim_g'))
        expected = f'a mapping with a type, one of {list(BASICSR_SCHEDULERS)}'
        scheduler = rules.mapping(key('scheduler'), train.get('scheduler'), expected)
        if scheduler.get('type') not in BASICSR_SCHEDULERS:
            name = scheduler.get('type')
            raise rules.OptionError(
                f'{key("scheduler: type")} = {name!r} is not a scheduler BasicSR sets up; '
                f'{rules.suggest(name, BASICSR_SCHEDULERS)}'
            )
        for loss in sorted(k for k, v in train.items() if k.endswith('_opt') and isinstance(v, Mapping)):
            rules.check_component(LOSS_REGISTRY, key(loss), train[loss], 'loss (LOSS_REGISTRY)')
            if 'loss_weight' in train[loss]:
                rules.number(key(f'{loss}: loss_weight'), train[loss]['loss_weight'])
        if train.get('grad_clip') is not None:
            rules.at_least(key('grad_clip'), train['grad_clip'], 0, 'a gradient norm (0: off)')
        rules.one_of(key('amp'), train.get('amp'), (None, False, *AMP_DTYPES))

    @classmethod
    def check_val_options(cls, val: Mapping[str, Any], where: str) -> None:
        key = functools.partial(rules.key_path, where)
        for name, metric in (val.get('metrics') or {}).items():
            if isinstance(metric, Mapping):
                rules.lookup(METRIC_REGISTRY, key(f'metrics: {name}: type'), metric.get('type'), 'metric')
        if val.get('pad_multiple') is not None:
            rules.number(key('pad_multiple'), val['pad_multiple'], positive=True, integer=True)
        if val.get('val_freq') is not None:
            rules.number(key('val_freq'), val['val_freq'], positive=True)
        rules.one_of(key('amp'), val.get('amp'), (None, False, *AMP_DTYPES))

    # ----------------------------------------------------------------- setup
    def model_to_device(self, net: nn.Module) -> nn.Module:
        """BasicSR's version, plus channels-last and DDP on the CPU (gloo)."""
        net = net.to(self.device)
        if self.opt.get('channels_last'):
            net = net.to(memory_format=torch.channels_last)
        if self.opt['dist']:
            kwargs = {'find_unused_parameters': self.opt.get('find_unused_parameters', False)}
            if self.device.type == 'cuda':
                kwargs['device_ids'] = [torch.cuda.current_device()]
            net = DistributedDataParallel(net, **kwargs)
        elif self.opt['num_gpu'] > 1:
            net = DataParallel(net)
        return net

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

    # ---------------------------------------------------------------- steps
    def autocast(self, training: bool = True) -> contextlib.AbstractContextManager:
        amp = (self.opt.get('train') or {}).get('amp') if training else (self.opt.get('val') or {}).get('amp')
        if amp in (None, False):
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[amp])

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.opt.get('channels_last') else x

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
        if not self.losses_finite(losses, optimizer, current_iter, step_name):
            return False
        self.scaler.scale(sum(losses.values())).backward()
        return self.optimizer_step(optimizer, params, current_iter, step_name, losses)

    def losses_finite(self, losses: Losses, optimizer: Optimizer, current_iter: int, step_name: str) -> bool:
        for name, value in list(losses.items()) + [('total', sum(losses.values()))]:
            if not torch.isfinite(value.detach()).all():
                return self._nonfinite(f'loss {name} = {value.item()}', step_name, current_iter, optimizer)
        return True

    def optimizer_step(
        self, optimizer: Optimizer, params: list[nn.Parameter], current_iter: int, step_name: str, losses: Losses
    ) -> bool:
        """Gradient checks, clipping (``train: grad_clip``) and the step of ``optimizer``."""
        self.scaler.unscale_(optimizer)
        grad_clip = self.opt['train'].get('grad_clip') or 0
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
        if not torch.isfinite(norm) and not self.scaler.is_enabled():  # fp16: the scaler skips and rescales
            return self._nonfinite(
                f'gradient norm = {norm.item()} (of {" + ".join(losses)})', step_name, current_iter, optimizer
            )
        self.scaler.step(optimizer)
        self.scaler.update()
        return True

    def _nonfinite(self, what: str, step_name: str, current_iter: int, optimizer: Optimizer) -> bool:
        optimizer.zero_grad(set_to_none=True)
        self.restore_buffer_snapshot()
        logger = get_root_logger()
        if self.opt['train'].get('skip_nonfinite'):
            self.nonfinite_skips += 1
            logger.warning(
                f'non-finite {what} in the {step_name} step at iteration {current_iter}: step skipped '
                f'({self.nonfinite_skips} skipped so far)'
            )
            return False
        saved = self.save_resumable(current_iter - 1)
        lr_key = 'optim_arch' if optimizer is getattr(self, 'optimizer_arch', None) else 'optim_g'
        message = (
            f'non-finite {what} in the {step_name} step at iteration {current_iter}. {saved}'
            f'Lower the learning rate (train: {lr_key}: lr) and resume with --auto_resume, or set '
            'train: skip_nonfinite: true to skip such steps.'
        )
        logger.error(message)  # the run's log file says why it stopped
        raise NonFiniteError(message)

    def save_resumable(self, last_iter: int) -> str:
        """Saves networks and training state as of the last completed iteration (not its own);
        a state already saved for that iteration (a periodic checkpoint) is kept as it is."""
        if last_iter < 1 or 'training_states' not in self.opt['path']:
            return 'No iteration had completed, so nothing was saved. '
        path = os.path.join(self.opt['path']['training_states'], f'{last_iter}.state')
        if os.path.isfile(path):
            return f'The state after iteration {last_iter} is at {path}. '
        self.save(self.epoch, last_iter)
        return f'The state after iteration {last_iter} was saved to {path}. '

    def snapshot_buffers(self) -> None:
        """Copies of the network's buffers (BatchNorm statistics, a few KB) before a step's forward
        pass: a non-finite step puts them back (:meth:`restore_buffer_snapshot`), as its forward
        may have left NaN there, before it is skipped or the state is saved."""
        self._buffer_snapshot = [(b, b.detach().clone()) for b in self.net_g.buffers()]

    def restore_buffer_snapshot(self) -> None:
        with torch.no_grad():
            for buffer, saved in getattr(self, '_buffer_snapshot', []):
                buffer.copy_(saved)

    def optimize_parameters(self, current_iter: int) -> None:
        self.optimizer_g.zero_grad(set_to_none=True)
        self.snapshot_buffers()
        with self.autocast():
            self.output = self.net_g(self.lq)
            losses = self.pixel_losses(self.output.float(), self.gt)
        if not losses:
            raise ValueError('train: no pixel_opt or perceptual_opt is given, so there is no loss to train with')
        self.backward_step(losses, self.optimizer_g, self.weight_parameters(), current_iter, 'weight')
        losses = OrderedDict((k, v.detach()) for k, v in losses.items())
        self.log_dict = self.reduce_loss_dict(losses)
        if self.nonfinite_skips:
            self.log_dict['nonfinite_skips'] = float(self.nonfinite_skips)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    # ----------------------------------------------------------------- test
    def restore(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Whole-image inference with ``val: pad_multiple`` and ``val: self_ensemble``."""
        val_opt = self.opt.get('val') or {}
        return restore_whole(net, x, int(val_opt.get('pad_multiple') or 1), bool(val_opt.get('self_ensemble')))

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
                imwrite(metric_data['img'], images[img_name]['output'])
            if pbar:
                pbar.update(1)
                pbar.set_description(f'Test {img_name}')
        if pbar:
            pbar.close()
        self.metric_results = {name: sum(v[name] for v in images.values()) / len(images) for name in metric_opts}
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

    # ------------------------------------------------------ save and resume
    @master_only
    def save_network(
        self, net: nn.Module | list[nn.Module], net_label: str, current_iter: int, param_key: str | list[str] = 'params'
    ) -> None:
        """BasicSR's ``save_network``, written atomically (temporary file + rename)."""
        label = 'latest' if current_iter == -1 else current_iter
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        save_dict = {}
        for net_, key in zip(nets, keys):
            state_dict = strip_module_prefix(self.get_bare_model(net_).state_dict())
            save_dict[key] = OrderedDict((k, v.cpu()) for k, v in state_dict.items())
        atomic_torch_save(save_dict, os.path.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

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
            'nonfinite_skips': self.nonfinite_skips,
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
        self.nonfinite_skips = resume_state.get('nonfinite_skips', 0)
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
