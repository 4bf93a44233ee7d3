"""CLEARER's architecture loss: ``lambda_arch * entropy + lambda_comp * expected complexity``,
or, searching to a budget, ``lambda_arch * entropy + multiplier * (expected cost / target - 1)``
with the multiplier adjusted by the search itself (dual ascent). The budget itself is
:mod:`clearer_basicsr.models.budget`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn

from ..archs.complexity import COMPLEXITY_METRICS
from ..option_rules import ConstructorOptions, at_least, fail, key_path, number


def column_entropy(weights: torch.Tensor, base: float = 10.0) -> torch.Tensor:
    """Mean entropy of the columns' candidate weights, rows of ``weights`` (num_columns, K).

    Minimising it pushes every column towards one-hot, which closes the gap between the
    relaxed supernet and the derived net. (The paper's printed equation has the opposite sign,
    which would pull the weights to 0.5.)"""
    p = weights.clamp_min(1e-12)
    return -(weights * p.log()).sum(-1).mean() / math.log(base)


@LOSS_REGISTRY.register()
class CLEARERArchLoss(ConstructorOptions, nn.Module):
    """Regulariser of the architecture logits, added to the pixel loss in the logit step. A pure
    loss: the costs it weighs come from the search's budget (``train: budget``,
    :class:`clearer_basicsr.models.budget.Budget`) or, without one, from ``complexity``.

    Args:
        lambda_arch: weight of the column entropy (reference: 0.01, entropy in log10).
        lambda_comp: weight of the expected complexity (reference: 0.1 when on; 0 = off). With a
            budget, the starting value of the multiplier instead.
        complexity: ``flops`` (multiply-adds, as mmengine counts them) or ``params``: the cost
            of each candidate for ``lambda_comp`` without a budget, measured by
            ``clearer_basicsr.archs.complexity`` at the training patch size.
        entropy_base: logarithm base of the entropy (10 as the reference).
        dual_lr: with a budget, the step of the multiplier of ``expected cost = target`` per logit
            step and per unit of relative excess cost (dual ascent: no lambda is tuned by hand).
        penalty: weight of the quadratic penalty ``penalty / 2 * excess^2`` added to the
            multiplier's term (an augmented Lagrangian): it answers the excess at once, where the
            multiplier answers its sum, which damps the overshoot of the multiplier alone.
    """

    def __init__(
        self,
        lambda_arch: float = 0.01,
        lambda_comp: float = 0.0,
        complexity: str | None = None,
        entropy_base: float = 10.0,
        dual_lr: float = 0.1,
        penalty: float = 2.0,
    ) -> None:
        super().__init__()
        args = dict(
            lambda_arch=lambda_arch, lambda_comp=lambda_comp, complexity=complexity, dual_lr=dual_lr, penalty=penalty
        )
        self.check_arguments(type(self).__name__, args)
        self.lambda_arch = lambda_arch
        self.lambda_comp = lambda_comp
        self.complexity = complexity
        self.entropy_base = entropy_base
        self.dual_lr, self.penalty = dual_lr, penalty
        self.target = None  # with a budget: the target as a fraction of the largest network's cost
        self.register_buffer('costs', None)
        self.register_buffer('relative_costs', None)  # candidate costs / cost of the largest network
        self.fixed_fraction = 0.0  # the parts every network has, as a fraction of the largest
        # The multiplier is saved with the search's training state (a persistent buffer).
        self.register_buffer('multiplier', torch.tensor(float(lambda_comp)))

    @property
    def budgeted(self) -> bool:
        return self.target is not None

    @classmethod
    def check_arguments(cls, where: str, args: Mapping[str, Any]) -> None:
        for name in ('lambda_arch', 'lambda_comp'):
            at_least(key_path(where, name), args[name], 0, 'a weight')
        complexity = args['complexity']
        if complexity is not None and complexity not in COMPLEXITY_METRICS:
            fail(key_path(where, 'complexity'), complexity, f'one of {list(COMPLEXITY_METRICS)}')
        number(key_path(where, 'dual_lr'), args.get('dual_lr', 0.1), positive=True)
        at_least(key_path(where, 'penalty'), args.get('penalty', 2.0), 0, 'a weight')

    def set_costs(self, costs: Any) -> None:
        """Candidate costs (num_columns, K) of ``complexity``, for ``lambda_comp`` without a budget."""
        # on the loss's device (moved with the model): no host-to-device copy per logit step
        costs = torch.as_tensor(costs, dtype=torch.float32, device=self.multiplier.device)
        if (costs < 0).any() or float(costs.sum()) <= 0:  # a free candidate (skip) costs 0
            raise ValueError('CLEARERArchLoss: candidate costs must be >= 0, and not all 0')
        self.costs = costs / costs.sum()  # lambda_comp's term lies in [0, 1]

    def set_budget(self, budget: Any) -> None:
        """Search to ``budget`` (a :class:`~clearer_basicsr.models.budget.Budget` with a target)."""
        self.set_costs(budget.costs)
        self.relative_costs = budget.costs.to(self.multiplier.device) / budget.largest
        self.fixed_fraction = budget.fixed / budget.largest
        self.target = budget.fraction

    def expected_complexity(self, weights: torch.Tensor) -> torch.Tensor:
        if self.costs is None:
            raise RuntimeError('CLEARERArchLoss: call set_costs() before using lambda_comp > 0')
        return (weights * self.costs.to(weights)).sum()

    def expected_fraction(self, weights: torch.Tensor) -> torch.Tensor:
        """Expected cost of the network the weights sample, as a fraction of the largest one."""
        if self.relative_costs is None:
            raise RuntimeError('CLEARERArchLoss: call set_costs() before searching to a target')
        return self.fixed_fraction + (weights * self.relative_costs.to(weights)).sum()

    @torch.no_grad()
    def update_multiplier(self, weights: torch.Tensor) -> float:
        """Dual ascent on ``expected cost = target`` after a logit step: the multiplier grows
        while the expected cost is above the target and shrinks (below 0 too: then the cost
        term pays for cost) while it is under. Returns the relative excess."""
        excess = float(self.expected_fraction(weights)) / self.target - 1.0
        self.multiplier += self.dual_lr * excess
        return excess

    def forward(self, weights: torch.Tensor, loss_scale: float = 1.0) -> dict[str, torch.Tensor]:
        """Returns the weighted terms by name (only the switched-on ones). ``loss_scale``: the
        size of the data loss (a running mean), so the multiplier needs no rescaling between
        tasks and pixel losses."""
        terms = {}
        if self.lambda_arch > 0:
            terms['l_arch_entropy'] = self.lambda_arch * column_entropy(weights, self.entropy_base)
        if self.budgeted:
            excess = self.expected_fraction(weights) / self.target - 1.0
            multiplier = self.multiplier.to(weights) + 0.5 * self.penalty * excess
            terms['l_arch_budget'] = loss_scale * multiplier * excess
        elif self.lambda_comp > 0:
            terms['l_arch_comp'] = self.lambda_comp * self.expected_complexity(weights)
        return terms
