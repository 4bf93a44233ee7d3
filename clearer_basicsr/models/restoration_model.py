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
"""

import contextlib
import math
import os
from collections import OrderedDict

import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY
from torch.nn.parallel import DataParallel, DistributedDataParallel

from ..archs.clearer_arch import pad_to_multiple
from ..checkpoint import atomic_torch_save, rng_state
from ..options_check import check_options

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def self_ensemble(fn, x):
    """Mean of ``fn`` over the 8 flips/rotations of ``x``, each mapped back."""
    outputs = []
    for flip in (False, True):
        xf = x.flip(-1) if flip else x
        for k in range(4):
            y = fn(torch.rot90(xf, k, dims=(-2, -1)))
            y = torch.rot90(y, -k, dims=(-2, -1))
            outputs.append(y.flip(-1) if flip else y)
    return torch.stack(outputs).mean(0)


class NonFiniteError(FloatingPointError):
    """A loss or gradient became NaN/Inf; the message says which, where, and what was saved."""


@MODEL_REGISTRY.register()
class RestorationModel(SRModel):
    def __init__(self, opt):
        check_options(opt)  # one clear error before anything is built (BasicSR's train.py / test.py too)
        self.batch_in_epoch = None  # set by clearer_basicsr.train, saved for a bit-exact resume
        self.epoch = 0
        self.nonfinite_skips = 0
        super().__init__(opt)

    # ----------------------------------------------------------------- setup
    def model_to_device(self, net):
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

    def get_optimizer(self, optim_type, params, lr, **kwargs):
        """Any ``torch.optim`` optimiser by name (1.4.2 knows the Adam family only)."""
        optim_cls = getattr(torch.optim, optim_type, None)
        if not (isinstance(optim_cls, type) and issubclass(optim_cls, torch.optim.Optimizer)):
            names = sorted(
                n
                for n, c in vars(torch.optim).items()
                if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and n != 'Optimizer'
            )
            raise ValueError(f'optimizer type {optim_type!r} is not a torch.optim optimizer; expected one of {names}')
        return optim_cls(params, lr=lr, **kwargs)

    def weight_parameters(self):
        """The parameters ``optim_g`` trains (the search model leaves out the architecture logits)."""
        return [p for p in self.net_g.parameters() if p.requires_grad]

    def setup_optimizers(self):
        train_opt = self.opt['train']
        optim_opt = dict(train_opt['optim_g'])
        self.optimizer_g = self.get_optimizer(optim_opt.pop('type'), self.weight_parameters(), **optim_opt)
        self.optimizers.append(self.optimizer_g)
        amp = train_opt.get('amp')
        if amp not in (None, False, *AMP_DTYPES):
            raise ValueError(f'train: amp = {amp!r}; expected one of {list(AMP_DTYPES)} or leave it out')
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=(amp == 'fp16'))

    # ---------------------------------------------------------------- steps
    def autocast(self, training=True):
        amp = (self.opt.get('train') or {}).get('amp') if training else (self.opt.get('val') or {}).get('amp')
        if amp in (None, False):
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[amp])

    def to_device(self, x):
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.opt.get('channels_last') else x

    def feed_data(self, data):
        self.lq = self.to_device(data['lq'])
        if 'gt' in data:
            self.gt = self.to_device(data['gt'])

    def pixel_losses(self, output, gt):
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

    def backward_step(self, losses, optimizer, params, current_iter, step_name):
        """Backward of the summed ``losses``, then :meth:`optimizer_step`.

        Returns False when the step was skipped (non-finite, ``train: skip_nonfinite: true``)."""
        if not self.losses_finite(losses, optimizer, current_iter, step_name):
            return False
        self.scaler.scale(sum(losses.values())).backward()
        return self.optimizer_step(optimizer, params, current_iter, step_name, losses)

    def losses_finite(self, losses, optimizer, current_iter, step_name):
        for name, value in list(losses.items()) + [('total', sum(losses.values()))]:
            if not torch.isfinite(value.detach()).all():
                return self._nonfinite(f'loss {name} = {value.item()}', step_name, current_iter, optimizer)
        return True

    def optimizer_step(self, optimizer, params, current_iter, step_name, losses):
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

    def _nonfinite(self, what, step_name, current_iter, optimizer):
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for buffer, kept in getattr(self, '_kept_buffers', []):
                buffer.copy_(kept)
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

    def save_resumable(self, last_iter):
        """Saves networks and training state as of the last completed iteration (not its own);
        a state already saved for that iteration (a periodic checkpoint) is kept as it is."""
        if last_iter < 1 or 'training_states' not in self.opt['path']:
            return 'No iteration had completed, so nothing was saved. '
        path = os.path.join(self.opt['path']['training_states'], f'{last_iter}.state')
        if os.path.isfile(path):
            return f'The state after iteration {last_iter} is at {path}. '
        self.save(self.epoch, last_iter)
        return f'The state after iteration {last_iter} was saved to {path}. '

    def keep_buffers(self):
        """Copies of the network's buffers (BatchNorm statistics, a few KB) before a step's forward
        pass: a non-finite step puts them back, as its forward may have left NaN there, before it is
        skipped or the state is saved."""
        self._kept_buffers = [(b, b.detach().clone()) for b in self.net_g.buffers()]

    def optimize_parameters(self, current_iter):
        self.optimizer_g.zero_grad(set_to_none=True)
        self.keep_buffers()
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
    def restore(self, net, x):
        """Whole-image inference: pad, (self-ensemble,) crop back."""
        val_opt = self.opt.get('val') or {}
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, int(val_opt.get('pad_multiple') or 1))
        y = self_ensemble(net, x) if val_opt.get('self_ensemble') else net(x)
        return y[..., :h, :w].float()

    def test(self):
        if hasattr(self, 'net_g_ema'):
            net = self.net_g_ema
        else:
            net = self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        with torch.no_grad(), self.autocast(training=False):
            self.output = self.restore(net, self.lq)
        net.train(was_training)

    # ------------------------------------------------------ save and resume
    @master_only
    def save_network(self, net, net_label, current_iter, param_key='params'):
        """BasicSR's ``save_network``, written atomically (temporary file + rename)."""
        label = 'latest' if current_iter == -1 else current_iter
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        save_dict = {}
        for net_, key in zip(nets, keys):
            state_dict = self.get_bare_model(net_).state_dict()
            save_dict[key] = OrderedDict(
                (k[7:] if k.startswith('module.') else k, v.cpu()) for k, v in state_dict.items()
            )
        atomic_torch_save(save_dict, os.path.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    def training_state(self, epoch, current_iter):
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
    def save_training_state(self, epoch, current_iter):
        if current_iter != -1:
            path = os.path.join(self.opt['path']['training_states'], f'{current_iter}.state')
            atomic_torch_save(self.training_state(epoch, current_iter), path)

    def resume_training(self, resume_state):
        super().resume_training(resume_state)
        if resume_state.get('scaler') and hasattr(self, 'scaler'):
            self.scaler.load_state_dict(resume_state['scaler'])
        self.nonfinite_skips = resume_state.get('nonfinite_skips', 0)
        self.epoch = resume_state.get('epoch', 0)
        self.apply_configured_lrs()

    def configured_lrs(self):
        """(optimizer, its ``train:`` key, the learning rate the options give it)."""
        return [(self.optimizer_g, 'optim_g', self.opt['train']['optim_g']['lr'])]

    def apply_configured_lrs(self):
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
