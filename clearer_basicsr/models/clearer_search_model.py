"""CLEARERSearchModel: CLEARER's bilevel architecture search on BasicSR's training loop.

Per iteration (after ``arch_warmup_iter``): one step of the architecture logits on a batch of
the held-apart *arch split*, then one step of the network weights on the train batch BasicSR
fed. The two optimisers never share a parameter.

BasicSR's loop only knows the ``train`` and ``val*`` dataset phases, so the arch split is
declared under ``train: arch_dataset`` (any BasicSR dataset; its loader keys
``batch_size_per_gpu``, ``num_worker_per_gpu``, ``gt_size``, ``use_hflip``, ``use_rot``
default to those of ``datasets: train``). Other ``train:`` keys:

* ``optim_arch``      logit optimiser (default Adam, lr 3e-4, betas (0.5, 0.999), wd 1e-3);
* ``scheduler_arch``  its schedule (default constant; BasicSR's ``scheduler`` is for the weights);
* ``arch_warmup_iter`` iterations with frozen logits (reference: 500);
* ``arch_update``     ``first_order`` (the paper) or ``second_order`` (DARTS' unrolled step);
* ``arch_bn_mode``    ``eval`` (reference) or ``train``: BatchNorm mode during the logit step;
* ``arch_sampling``   ``softmax`` (default: each column mixes both modules) or ``gumbel``: GDAS'
  single path, each training forward samples one module per column (straight-through
  Gumbel-softmax) and computes only that one; validation runs the argmax. First order only;
  under DDP it switches on ``find_unused_parameters`` (unsampled modules get no gradient);
* ``gumbel_tau``      its temperature: a number, or ``[start, end]`` linear over ``total_iter``
  (default ``[10, 0.1]``, GDAS'); it scales the logit gradient, not the sampling;
* ``arch_loss``       ``{type: CLEARERArchLoss, lambda_arch, lambda_comp, complexity}``.

At every validation and at the end it writes ``experiments/<name>/genotype.yml`` (genotype,
column weights, MACs and parameters of the derived net) and ``column_weights.png``.
"""

import contextlib
import os
from collections import OrderedDict

import torch
import torch.distributed as dist
from basicsr.losses import build_loss
from basicsr.models import lr_scheduler as basicsr_schedulers
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY

from ..archs.genotype import MODULES
from ..data.samplers import CyclingLoader, build_train_loader
from ..losses.arch_loss import column_entropy
from ..plots import plot_column_weights
from . import arch_gradient
from .restoration_model import RestorationModel

ARCH_UPDATES = ('first_order', 'second_order')
ARCH_SAMPLINGS = ('softmax', 'gumbel')
GDAS_TAU = (10.0, 0.1)
BN_MODES = ('eval', 'train')
DEFAULT_OPTIM_ARCH = {'type': 'Adam', 'lr': 3e-4, 'betas': (0.5, 0.999), 'weight_decay': 1e-3}
LOADER_KEYS = ('batch_size_per_gpu', 'num_worker_per_gpu', 'gt_size', 'use_hflip', 'use_rot')


def build_scheduler(sched_opt, optimizer):
    """A BasicSR (or torch) LR scheduler from ``{type: ..., ...}``; None: constant."""
    if not sched_opt:
        return basicsr_schedulers.MultiStepRestartLR(optimizer, milestones=[])
    sched_opt = dict(sched_opt)
    name = sched_opt.pop('type')
    cls = getattr(basicsr_schedulers, name, None) or getattr(torch.optim.lr_scheduler, name, None)
    if cls is None:
        raise ValueError(f'train: scheduler_arch: type {name!r} is neither a basicsr nor a torch LR scheduler')
    return cls(optimizer, **sched_opt)


@MODEL_REGISTRY.register()
class CLEARERSearchModel(RestorationModel):
    def __init__(self, opt):
        self.alpha_history = []  # (iteration, column weights) for column_weights.png
        if (opt.get('train') or {}).get('arch_sampling') == 'gumbel':
            opt['find_unused_parameters'] = True  # DDP: the modules not sampled get no gradient
        super().__init__(opt)

    @property
    def supernet(self):
        return self.get_bare_model(self.net_g)

    def arch_parameters(self):
        return self.supernet.arch_parameters()

    def weight_parameters(self):
        net = self.supernet
        if not hasattr(net, 'arch_parameters'):
            raise ValueError(
                f'model_type CLEARERSearchModel needs a network_g with architecture logits '
                f'(e.g. CLEARERSearchNet), got {type(net).__name__}'
            )
        return [p for p in net.weight_parameters() if p.requires_grad]

    # ----------------------------------------------------------------- setup
    def init_training_settings(self):
        train_opt = self.opt['train']
        self.arch_warmup_iter = int(train_opt.get('arch_warmup_iter', 0))
        self.arch_update = train_opt.get('arch_update', 'first_order')
        self.arch_bn_mode = train_opt.get('arch_bn_mode', 'eval')
        self.arch_sampling = train_opt.get('arch_sampling', 'softmax')
        for key, value, allowed in (
            ('arch_update', self.arch_update, ARCH_UPDATES),
            ('arch_bn_mode', self.arch_bn_mode, BN_MODES),
            ('arch_sampling', self.arch_sampling, ARCH_SAMPLINGS),
        ):
            if value not in allowed:
                raise ValueError(f'train: {key} = {value!r}; expected one of {list(allowed)}')
        if self.arch_sampling == 'gumbel':
            self.setup_gumbel(train_opt)
        if self.arch_update == 'second_order' and train_opt.get('amp') == 'fp16':
            raise ValueError('train: arch_update second_order does not support amp: fp16 (use bf16 or none)')
        self.patch_size = int(self.opt['datasets']['train'].get('gt_size') or 64)
        self.cri_arch = build_loss(dict(train_opt.get('arch_loss') or {'type': 'CLEARERArchLoss'})).to(self.device)
        if self.cri_arch.lambda_comp > 0:
            from ..complexity import cost_matrix  # lazily: `python -m clearer_basicsr.complexity` imports us

            self.cri_arch.set_costs(cost_matrix(self.supernet, self.patch_size, self.cri_arch.complexity))
        self.arch_loader = self.build_arch_loader()
        super().init_training_settings()

    def build_arch_loader(self):
        arch_opt = self.opt['train'].get('arch_dataset')
        if not arch_opt:
            raise ValueError(
                'train: arch_dataset is missing: the search needs a held-apart split for the '
                'architecture logits (any BasicSR dataset options, e.g. GaussianNoiseDataset)'
            )
        arch_opt = dict(arch_opt)
        train_opt = self.opt['datasets']['train']
        for key in LOADER_KEYS:
            if key not in arch_opt and key in train_opt:
                arch_opt[key] = train_opt[key]
        arch_opt.update(phase='train', name=arch_opt.get('name', 'arch'))
        if 'scale' in self.opt:
            arch_opt['scale'] = self.opt['scale']
        loader, sampler = build_train_loader(arch_opt, self.opt)
        return CyclingLoader(loader, sampler, arch_opt['batch_size_per_gpu'])

    def arch_optim_options(self):
        return dict(self.opt['train'].get('optim_arch') or DEFAULT_OPTIM_ARCH)

    def setup_optimizers(self):
        super().setup_optimizers()
        optim_opt = self.arch_optim_options()
        self.optimizer_arch = self.get_optimizer(optim_opt.pop('type'), self.arch_parameters(), **optim_opt)
        self.optimizers.append(self.optimizer_arch)

    def configured_lrs(self):
        return super().configured_lrs() + [(self.optimizer_arch, 'optim_arch', self.arch_optim_options()['lr'])]

    def setup_schedulers(self):
        # BasicSR puts its `scheduler` on every optimiser; the logits have their own.
        self.optimizers.remove(self.optimizer_arch)
        super().setup_schedulers()
        self.optimizers.append(self.optimizer_arch)
        self.schedulers.append(build_scheduler(self.opt['train'].get('scheduler_arch'), self.optimizer_arch))

    def setup_gumbel(self, train_opt):
        if self.arch_update != 'first_order':
            raise ValueError(
                'train: arch_sampling gumbel needs arch_update: first_order (the unrolled step '
                'would compare losses of different samples)'
            )
        tau = train_opt.get('gumbel_tau', GDAS_TAU)
        tau = [tau, tau] if isinstance(tau, (int, float)) else list(tau)
        if len(tau) != 2 or not all(isinstance(t, (int, float)) and t > 0 for t in tau):
            raise ValueError(
                f'train: gumbel_tau = {train_opt.get("gumbel_tau")!r}; expected a temperature > 0 '
                'or [start, end] (linear over total_iter)'
            )
        self.gumbel_tau = tuple(float(t) for t in tau)
        self.supernet.gumbel_tau = self.gumbel_tau[0]  # from now on validation runs the argmax
        # The noise is drawn from this seed, the iteration and the step: the same on every rank.
        seed = [int(self.opt.get('manual_seed') or 0)]
        if self.opt['dist']:  # without manual_seed BasicSR draws one per rank
            dist.broadcast_object_list(seed, src=0)
        self.sampling_seed = seed[0]

    # ----------------------------------------------------------------- steps
    def sample_paths(self, current_iter, step):
        """Gumbel mode: temperature and noise for the next training forward (``step`` 0: logits,
        1: weights). The noise generator is seeded from the shared seed, the iteration and the
        step, so every rank samples the same paths and a resumed search samples as it would have."""
        if self.arch_sampling != 'gumbel':
            return
        start, end = self.gumbel_tau
        net = self.supernet
        net.gumbel_tau = start + (end - start) * min(current_iter / float(self.opt['train']['total_iter']), 1.0)
        net.gumbel_generator = torch.Generator().manual_seed((self.sampling_seed * 1_000_003 + current_iter) * 2 + step)

    def optimize_parameters(self, current_iter):
        arch_log = self.arch_step(current_iter) if current_iter > self.arch_warmup_iter else {}
        self.sample_paths(current_iter, 1)
        super().optimize_parameters(current_iter)
        with torch.no_grad():
            weights = self.supernet.column_weights().detach().float().cpu()
        self.alpha_history.append((current_iter, weights.tolist()))
        self.log_dict.update(arch_log)
        self.log_dict['arch_entropy'] = float(column_entropy(weights))
        for c, w in enumerate(weights[:, MODULES.index('fusion')].tolist()):
            self.log_dict[f'w_fusion/c{c + 1:02d}'] = w

    def data_loss(self, output, batch):
        return self.pixel_losses(output.float(), batch['gt'])

    def arch_loss(self):
        return self.cri_arch(self.supernet.column_weights())

    def arch_step(self, current_iter):
        """One step of the logits on an arch batch; returns its loss terms for the log."""
        data = self.arch_loader.next()
        batch = {'lq': self.to_device(data['lq']), 'gt': self.to_device(data['gt'])}
        arch_params = self.arch_parameters()
        self.optimizer_arch.zero_grad(set_to_none=True)
        self.sample_paths(current_iter, 0)
        self.keep_buffers()
        with self.arch_bn(), self.autocast():
            if self.arch_update == 'first_order':
                with self.net_g.no_sync() if self.opt['dist'] else contextlib.nullcontext():
                    losses = arch_gradient.first_order(
                        self.net_g, arch_params, batch, self.data_loss, self.arch_loss, scale=self.scaler.scale
                    )
            else:
                xi = self.optimizer_g.param_groups[0]['lr']
                wd = self.optimizer_g.param_groups[0].get('weight_decay', 0.0)
                train_batch = {'lq': self.lq, 'gt': self.gt}
                losses = arch_gradient.second_order(
                    self.supernet,
                    arch_params,
                    self.weight_parameters(),
                    batch,
                    train_batch,
                    self.data_loss,
                    self.arch_loss,
                    xi,
                    wd,
                )
        if self.opt['dist']:  # every rank must take the same logit step
            for p in arch_params:
                dist.all_reduce(p.grad)
                p.grad /= self.opt['world_size']
        names = {'l_pix': 'l_arch_pix', 'l_percep': 'l_arch_percep', 'l_style': 'l_arch_style'}
        losses = OrderedDict((names.get(k, k), v.detach()) for k, v in losses.items())
        if self.losses_finite(losses, self.optimizer_arch, current_iter, 'architecture'):
            self.optimizer_step(self.optimizer_arch, arch_params, current_iter, 'architecture', losses)
        return self.reduce_loss_dict(losses)

    @contextlib.contextmanager
    def arch_bn(self):
        """BatchNorm in ``arch_bn_mode`` for the logit step (the reference used eval mode)."""
        bns = [m for m in self.supernet.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        modes = [m.training for m in bns]
        for m in bns:
            m.train(self.arch_bn_mode == 'train')
        try:
            yield
        finally:
            for m, mode in zip(bns, modes):
                m.train(mode)

    # ------------------------------------------------------- export, resume
    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        super().validation(dataloader, current_iter, tb_logger, save_img)
        self.export_architecture(current_iter)

    def save(self, epoch, current_iter):
        super().save(epoch, current_iter)
        if current_iter == -1 and not self.opt.get('val'):  # else the final validation exports
            self.export_architecture(current_iter)

    @master_only
    def export_architecture(self, current_iter):
        """Writes genotype.yml and column_weights.png into the experiment folder."""
        from ..complexity import candidate_costs, derived_cost

        net = self.supernet
        genotype = net.genotype()
        derived = derived_cost(candidate_costs(net, self.patch_size), genotype)
        root = self.opt['path']['experiments_root']
        weights = net.column_weights().detach().float().cpu().tolist()
        genotype.save(
            os.path.join(root, 'genotype.yml'),
            column_weights=[dict(zip(MODULES, (round(v, 6) for v in row))) for row in weights],
            macs=derived['macs'],
            params=derived['params'],
            patch_size=self.patch_size,
            iteration=self.alpha_history[-1][0] if self.alpha_history else 0,
        )
        plot_column_weights(self.alpha_history, os.path.join(root, 'column_weights.png'), net.columns_per_cell)
        get_root_logger().info(
            f'Genotype: {genotype} ({derived["params"]:,} params, {derived["macs"]:,} MACs at {self.patch_size}px)'
        )

    def training_state(self, epoch, current_iter):
        state = super().training_state(epoch, current_iter)
        state.update(alpha_history=self.alpha_history, arch_loader=self.arch_loader.state_dict())
        return state

    def resume_training(self, resume_state):
        super().resume_training(resume_state)
        self.alpha_history = list(resume_state.get('alpha_history', []))
        if resume_state.get('arch_loader'):
            self.arch_loader.load_state_dict(resume_state['arch_loader'])
