"""CLEARERSearchModel: CLEARER's architecture search (DARTS' bilevel search) on BasicSR's
training loop. Per iteration (after ``arch_warmup_iter``): one step of the architecture logits on
a batch of the held-apart *arch split* (:meth:`CLEARERSearchModel.arch_step`), then one step of
the network weights on the train batch BasicSR fed. The two optimisers never share a parameter.
The one-shot search is its own model, :mod:`.clearer_one_shot_model`; what both share is
:mod:`.supernet_search`.

BasicSR's loop only knows the ``train`` and ``val*`` dataset phases, so the arch split is
declared under ``train: arch_dataset`` (any BasicSR dataset; its loader keys
``batch_size_per_gpu``, ``num_worker_per_gpu``, ``gt_size``, ``use_hflip``, ``use_rot``
default to those of ``datasets: train``). Other ``train:`` keys:

* ``optim_arch``      logit optimiser (default Adam, lr 3e-4, betas (0.5, 0.999), no weight decay:
  the reference's 1e-3 outweighs the tiny pixel-loss gradients of the logits and holds every
  column at 0.5; see docs/search.md);
* ``scheduler_arch``  its schedule (default constant; BasicSR's ``scheduler`` is for the weights);
* ``arch_warmup_iter`` iterations with frozen logits (reference: 500);
* ``arch_update``     ``first_order`` (the paper) or ``second_order`` (DARTS' unrolled step);
* ``arch_bn_mode``    ``eval`` (reference) or ``train``: BatchNorm mode during the logit step;
* ``arch_sampling``   ``softmax`` (default: each column mixes both candidates) or ``gumbel``:
  GDAS' single path, each training forward samples one candidate per column (straight-through
  Gumbel-softmax) and computes only that one; validation runs the argmax. First order only;
  under DDP it switches on ``find_unused_parameters`` (unsampled candidates get no gradient);
* ``gumbel_tau``      its temperature: a number, or ``[start, end]`` linear over ``total_iter``
  (default ``[10, 0.1]``, GDAS'); it scales the logit gradient, not the sampling;
* ``arch_loss``       ``{type: CLEARERArchLoss, lambda_arch, lambda_comp, complexity}``;
* ``budget``          ``{metric, target | target_macs | target_ms_per_mp, tolerance}`` (:mod:`.budget`):
  a search to a budget, whose cost weight the search adjusts, deriving the most likely genotype
  inside the window.

At every validation and at the end it writes ``experiments/<name>/genotype.yml`` (genotype,
column weights, how firmly each column was decided, MACs and parameters of the derived net, the
budget and the cost reached) and ``column_weights.png``; at the end it warns about undecided
columns (:mod:`..archs.decisions`).
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist
from basicsr.losses import build_loss
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY

from ..archs.complexity import cost_matrix
from ..archs.decisions import column_decisions, undecided
from ..data.samplers import CyclingLoader, build_train_loader
from ..losses.arch_loss import column_entropy
from . import arch_gradient
from .search_export import export_search
from .search_options import (
    DEFAULT_OPTIM_ARCH,
    arch_dataset_options,
    build_scheduler,
    check_darts_train,
    gumbel_temperatures,
)
from .supernet_search import SupernetSearch

LOSS_SCALE_MOMENTUM = 0.9  # running mean of the weight step's loss: the budget term's unit
STEPS = ('architecture', 'weight')  # the two steps of an iteration, in order (Gumbel samples per step)
ARCH_LOSS_NAMES = {'l_pix': 'l_arch_pix', 'l_percep': 'l_arch_percep', 'l_style': 'l_arch_style'}


@MODEL_REGISTRY.register()
class CLEARERSearchModel(SupernetSearch):
    METHOD = 'darts'
    OTHERS_KEYS = ('one_shot',)

    def __init__(self, opt: dict) -> None:
        self.column_weight_history = []  # (iteration, softmax weights per column) for column_weights.png
        self.arch_steps_taken = 0  # logit steps taken: none, and there is no search result to export
        self.loss_scale = None  # running mean of the weight step's loss (None until the first step)
        if (opt.get('train') or {}).get('arch_sampling') == 'gumbel':
            opt['find_unused_parameters'] = True  # DDP: the candidates not sampled get no gradient
        super().__init__(opt)

    def arch_parameters(self) -> list[torch.nn.Parameter]:
        return self.supernet.arch_parameters()

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], where: str) -> None:
        super().check_train_options(train, where)
        check_darts_train(train, where)

    # ----------------------------------------------------------------- setup
    def init_training_settings(self) -> None:
        train_opt = self.opt['train']
        self.arch_warmup_iter = int(train_opt.get('arch_warmup_iter', 0))
        self.arch_update = train_opt.get('arch_update', 'first_order')
        self.arch_bn_mode = train_opt.get('arch_bn_mode', 'eval')
        self.arch_sampling = train_opt.get('arch_sampling', 'softmax')
        if self.arch_sampling == 'gumbel':
            self.setup_gumbel(gumbel_temperatures(train_opt, 'train'))
            self.setup_sampling_seed()
        super().init_training_settings()

    def setup_search(self) -> None:
        self.cri_arch = build_loss(self.arch_loss_options).to(self.device)
        if self.budget:
            self.cri_arch.set_budget(self.budget)
        elif self.cri_arch.lambda_comp > 0:
            self.cri_arch.set_costs(cost_matrix(self.supernet, self.patch_size, self.cri_arch.complexity))
        self.arch_loader = self.build_arch_loader()

    def setup_optimizers(self) -> None:
        super().setup_optimizers()
        optim_opt = self.arch_optim_options()
        self.optimizer_arch = self.get_optimizer(optim_opt.pop('type'), self.arch_parameters(), **optim_opt)
        self.optimizers.append(self.optimizer_arch)

    def build_arch_loader(self) -> CyclingLoader:
        arch_opt = arch_dataset_options(self.opt)
        loader, sampler = build_train_loader(arch_opt, self.opt)
        return CyclingLoader(loader, sampler, arch_opt['batch_size_per_gpu'])

    def arch_optim_options(self) -> dict[str, Any]:
        return dict(self.opt['train'].get('optim_arch') or DEFAULT_OPTIM_ARCH)

    def configured_lrs(self) -> list[tuple[torch.optim.Optimizer, str, float]]:
        return super().configured_lrs() + [(self.optimizer_arch, 'optim_arch', self.arch_optim_options()['lr'])]

    def setup_schedulers(self) -> None:
        # BasicSR puts its `scheduler` on every optimiser; the logits have their own.
        self.optimizers.remove(self.optimizer_arch)
        super().setup_schedulers()
        self.optimizers.append(self.optimizer_arch)
        self.schedulers.append(build_scheduler(self.opt['train'].get('scheduler_arch'), self.optimizer_arch))

    def setup_gumbel(self, temperatures: tuple[float, float]) -> None:
        self.gumbel_tau = temperatures
        self.supernet.gumbel_tau = self.gumbel_tau[0]  # from now on validation runs the argmax

    # ----------------------------------------------------------------- steps
    def optimize_parameters(self, current_iter: int) -> None:
        arch_log = self.arch_step(current_iter) if current_iter > self.arch_warmup_iter else {}
        self.sample_paths(current_iter, 'weight')
        super().optimize_parameters(current_iter)
        self.track_loss_scale()
        self.current_iter = current_iter
        self.log_dict.update(arch_log)
        self.add_to_interval_means(arch_log)
        if current_iter % self.opt['logger']['print_freq'] == 0:  # the weights leave the device at log lines only
            weights = self.supernet.column_weights().detach().float().cpu()
            self.column_weight_history.append((current_iter, weights.tolist()))
            self.log_dict.update(self.decision_log(weights))

    def decision_log(self, weights: torch.Tensor) -> dict[str, float]:
        """Log and TensorBoard scalars: entropy, each column's weight of every candidate but the
        first (``w_fusion`` alone in the paper's space) and margin, how many columns are still undecided."""
        net = self.supernet
        decisions = column_decisions(weights.tolist(), net.columns_per_cell, net.candidates)
        log = {'arch_entropy': float(column_entropy(weights)), 'arch_undecided': float(len(undecided(decisions)))}
        for k, name in enumerate(net.candidates[1:], 1):
            for c, w in enumerate(weights[:, k].tolist()):
                log[f'w_{name}/c{c + 1:02d}'] = w
        for d in decisions:
            log[f'margin/c{d.column + 1:02d}'] = d.margin
        if self.budget:
            log['arch_cost_fraction'] = float(self.cri_arch.expected_fraction(weights))
            log['arch_multiplier'] = float(self.cri_arch.multiplier)
        return log

    def track_loss_scale(self) -> None:
        """Running mean of the weight step's loss, the unit of the budget term (so its multiplier
        means the same for MSE at sigma 15 or L1 at sigma 50)."""
        loss = sum(v for k, v in self.log_dict.items() if k.startswith('l_'))
        if math.isfinite(loss) and loss > 0:
            m = LOSS_SCALE_MOMENTUM
            self.loss_scale = loss if self.loss_scale is None else m * self.loss_scale + (1 - m) * loss

    def arch_step(self, current_iter: int) -> dict[str, float]:
        """One step of the logits (DARTS' ``Architect.step``): get an arch batch, compute the logit
        gradient, average it over ranks, step. Returns the step's loss terms for the log."""
        batch = self.next_arch_batch()
        self.optimizer_arch.zero_grad(set_to_none=True)
        self.sample_paths(current_iter, 'architecture')
        self.guard.before_step(self.net_g)
        with self.arch_bn(), self.autocast():
            losses = self.logit_gradient(batch)
        self.average_logit_gradient()
        losses = OrderedDict((ARCH_LOSS_NAMES.get(k, k), v.detach()) for k, v in losses.items())
        if self.optimizer_step(self.optimizer_arch, self.arch_parameters(), current_iter, 'architecture', losses):
            self.arch_steps_taken += 1
            if self.budget:  # every rank holds the same logits, hence the same multiplier
                self.cri_arch.update_multiplier(self.supernet.column_weights().detach())
        return self.reduce_loss_dict(losses)

    def next_arch_batch(self) -> dict[str, torch.Tensor]:
        data = self.arch_loader.next()
        self.arch_batch = {'lq': self.to_device(data['lq']), 'gt': self.to_device(data['gt'])}
        return self.arch_batch

    def step_inputs(self, step_name: str) -> list[torch.Tensor]:
        return list(self.arch_batch.values()) if step_name == 'architecture' else super().step_inputs(step_name)

    def diverged_optimizer(self, term: str) -> str:
        """``optim_arch`` when the logits are not finite or ``term`` is a term of the
        architecture loss (entropy, cost); else the weights, through which every pixel loss and
        gradient flows (finite logits only mix candidates with weights in [0, 1])."""
        pixel_terms = {*ARCH_LOSS_NAMES, *ARCH_LOSS_NAMES.values(), 'total', 'gradient'}
        if term not in pixel_terms or not torch.isfinite(self.supernet.arch_logits).all():
            return 'optim_arch'
        return 'optim_g'

    def logit_gradient(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Fills the logits' ``.grad`` (first or second order, :mod:`.arch_gradient`); returns the loss terms."""
        if self.arch_update == 'first_order':
            with self.net_g.no_sync() if self.opt['dist'] else contextlib.nullcontext():  # reduced by hand below
                return arch_gradient.first_order(
                    self.net_g,
                    self.arch_parameters(),
                    batch,
                    self.data_loss,
                    self.arch_loss,
                    scale_loss=self.scaler.scale,
                )
        weights = self.optimizer_g.param_groups[0]  # the virtual step uses the weights' lr and decay
        return arch_gradient.second_order(
            self.supernet,
            self.arch_parameters(),
            self.weight_parameters(),
            batch,
            {'lq': self.lq, 'gt': self.gt},
            self.data_loss,
            self.arch_loss,
            weights['lr'],
            weights.get('weight_decay', 0.0),
        )

    def average_logit_gradient(self) -> None:
        """Every rank must take the same logit step: the mean of the ranks' gradients."""
        if self.opt['dist']:
            for p in self.arch_parameters():
                dist.all_reduce(p.grad)
                p.grad /= self.opt['world_size']

    def sample_paths(self, current_iter: int, step: str) -> None:
        """Gumbel mode: temperature and noise for the next training forward of ``step`` (one of
        :data:`STEPS`). The noise generator is seeded from the shared seed, the iteration and the
        step, so every rank samples the same paths and a resumed search samples as it would have."""
        if self.arch_sampling != 'gumbel':
            return
        start, end = self.gumbel_tau
        net = self.supernet
        net.gumbel_tau = start + (end - start) * min(current_iter / float(self.opt['train']['total_iter']), 1.0)
        seed = (self.sampling_seed * 1_000_003 + current_iter) * len(STEPS) + STEPS.index(step)
        net.gumbel_generator = torch.Generator().manual_seed(seed)

    def data_loss(self, output: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.pixel_losses(output.float(), batch['gt'])

    def arch_loss(self) -> dict[str, torch.Tensor]:
        return self.cri_arch(self.supernet.column_weights(), loss_scale=self.loss_scale or 1.0)

    @contextlib.contextmanager
    def arch_bn(self) -> Iterator[None]:
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
    @master_only
    def export_architecture(self, current_iter: Any) -> None:
        """Writes genotype.yml and column_weights.png into the experiment folder; logs how firmly
        each column was decided, and at the end of the search warns about undecided columns.
        Logits that never took a step are no search result: nothing is written then."""
        if not self.arch_steps_taken:
            get_root_logger().warning(
                f'genotype.yml not written at iteration {current_iter}: the architecture logits have not taken a '
                f'step yet (train: arch_warmup_iter = {self.arch_warmup_iter}), so a genotype would be their random '
                'start'
            )
            return
        export_search(
            self.supernet,
            self.budget,
            float(self.cri_arch.multiplier),
            self.patch_size,
            self.current_iter,
            self.column_weight_history,
            self.opt['path']['experiments_root'],
            self.is_final(current_iter),
        )

    def training_state(self, epoch: int, current_iter: int) -> dict[str, Any]:
        state = super().training_state(epoch, current_iter)
        state.update(
            column_weight_history=self.column_weight_history,
            arch_loader=self.arch_loader.state_dict(),
            arch_steps_taken=self.arch_steps_taken,
            loss_scale=self.loss_scale,
            arch_loss=self.cri_arch.state_dict(),
        )
        return state

    def resume_training(self, resume_state: dict[str, Any]) -> None:
        super().resume_training(resume_state)
        self.column_weight_history = list(resume_state['column_weight_history'])
        self.arch_loader.load_state_dict(resume_state['arch_loader'])
        self.loss_scale = resume_state['loss_scale']
        self.arch_steps_taken = resume_state['arch_steps_taken']
        if resume_state.get('arch_loss'):  # the budget's multiplier
            self.cri_arch.load_state_dict(resume_state['arch_loss'], strict=False)
