"""CLEARER's architecture loss: ``lambda_arch * entropy + lambda_comp * expected complexity``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn

from ..archs.complexity import COMPLEXITY_METRICS
from ..option_rules import ConstructorOptions, OptionError, at_least, fail, key_path


def column_entropy(weights: torch.Tensor, base: float = 10.0) -> torch.Tensor:
    """Mean entropy of the columns' candidate weights, rows of ``weights`` (num_columns, K).

    Minimising it pushes every column towards one-hot, which closes the gap between the
    relaxed supernet and the derived net. (The paper's printed equation has the opposite sign,
    which would pull the weights to 0.5.)"""
    p = weights.clamp_min(1e-12)
    return -(weights * p.log()).sum(-1).mean() / math.log(base)


@LOSS_REGISTRY.register()
class CLEARERArchLoss(ConstructorOptions, nn.Module):
    """Regulariser of the architecture logits, added to the pixel loss in the logit step.

    Args:
        lambda_arch: weight of the column entropy (reference: 0.01, entropy in log10).
        lambda_comp: weight of the expected complexity (reference: 0.1 when on; 0 = off).
        complexity: ``flops`` (multiply-adds, as mmengine counts them) or ``params``: the cost
            of each candidate, measured by ``clearer_basicsr.archs.complexity`` at the
            training patch size. Required when ``lambda_comp > 0``.
        entropy_base: logarithm base of the entropy (10 as the reference).
    """

    def __init__(
        self,
        lambda_arch: float = 0.01,
        lambda_comp: float = 0.0,
        complexity: str | None = None,
        entropy_base: float = 10.0,
    ) -> None:
        super().__init__()
        weights = dict(lambda_arch=lambda_arch, lambda_comp=lambda_comp, complexity=complexity)
        self.check_arguments(type(self).__name__, weights)
        self.lambda_arch = lambda_arch
        self.lambda_comp = lambda_comp
        self.complexity = complexity
        self.entropy_base = entropy_base
        self.register_buffer('costs', None)

    @classmethod
    def check_arguments(cls, where: str, args: Mapping[str, Any]) -> None:
        lambda_arch, lambda_comp, complexity = args['lambda_arch'], args['lambda_comp'], args['complexity']
        for name, value in (('lambda_arch', lambda_arch), ('lambda_comp', lambda_comp)):
            at_least(key_path(where, name), value, 0, 'a weight')
        metrics = list(COMPLEXITY_METRICS)
        if lambda_comp > 0 and complexity not in metrics:
            raise OptionError(
                f'{key_path(where, "lambda_comp")} = {lambda_comp!r} needs a complexity metric, but '
                f'complexity = {complexity!r}; expected one of {metrics}'
            )
        if complexity is not None and complexity not in metrics:
            fail(key_path(where, 'complexity'), complexity, f'one of {metrics}')

    def set_costs(self, costs: Any) -> None:
        """Candidate costs (num_columns, K), normalised by their total so the term lies in [0, 1]."""
        costs = torch.as_tensor(costs, dtype=torch.float32)
        if (costs <= 0).any():
            raise ValueError('CLEARERArchLoss: every candidate cost must be positive')
        self.costs = costs / costs.sum()

    def expected_complexity(self, weights: torch.Tensor) -> torch.Tensor:
        if self.costs is None:
            raise RuntimeError('CLEARERArchLoss: call set_costs() before using lambda_comp > 0')
        return (weights * self.costs.to(weights)).sum()

    def forward(self, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """Returns the weighted terms by name (only the switched-on ones)."""
        terms = {}
        if self.lambda_arch > 0:
            terms['l_arch_entropy'] = self.lambda_arch * column_entropy(weights, self.entropy_base)
        if self.lambda_comp > 0:
            terms['l_arch_comp'] = self.lambda_comp * self.expected_complexity(weights)
        return terms
