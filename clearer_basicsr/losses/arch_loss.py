"""CLEARER's architecture loss: ``lambda_arch * entropy + lambda_comp * expected complexity``."""

import math

import torch
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn

COMPLEXITY_METRICS = ('flops', 'params')


def column_entropy(weights, base=10.0):
    """Mean entropy of the columns' module weights, rows of ``weights`` (num_columns, K).

    Minimising it pushes every column towards one-hot, which closes the gap between the
    relaxed supernet and the derived net. (The paper's printed equation has the opposite sign,
    which would pull the weights to 0.5.)"""
    p = weights.clamp_min(1e-12)
    return -(weights * p.log()).sum(-1).mean() / math.log(base)


@LOSS_REGISTRY.register()
class CLEARERArchLoss(nn.Module):
    """Regulariser of the architecture logits, added to the pixel loss in the logit step.

    Args:
        lambda_arch: weight of the column entropy (reference: 0.01, entropy in log10).
        lambda_comp: weight of the expected complexity (reference: 0.1 when on; 0 = off).
        complexity: ``flops`` (multiply-adds, as mmengine counts them) or ``params``: the cost
            of each candidate module, measured by ``clearer_basicsr.complexity`` at the
            training patch size. Required when ``lambda_comp > 0``.
        entropy_base: logarithm base of the entropy (10 as the reference).
    """

    def __init__(self, lambda_arch=0.01, lambda_comp=0.0, complexity=None, entropy_base=10.0):
        super().__init__()
        if lambda_arch < 0 or lambda_comp < 0:
            raise ValueError(f'CLEARERArchLoss: lambda_arch={lambda_arch} and lambda_comp={lambda_comp} must be >= 0')
        if lambda_comp > 0 and complexity not in COMPLEXITY_METRICS:
            raise ValueError(
                f'CLEARERArchLoss: lambda_comp={lambda_comp} needs complexity: one of '
                f'{list(COMPLEXITY_METRICS)}, got {complexity!r}'
            )
        if complexity is not None and complexity not in COMPLEXITY_METRICS:
            raise ValueError(f'CLEARERArchLoss: complexity={complexity!r}; expected one of {list(COMPLEXITY_METRICS)}')
        self.lambda_arch = lambda_arch
        self.lambda_comp = lambda_comp
        self.complexity = complexity
        self.entropy_base = entropy_base
        self.register_buffer('costs', None)

    def set_costs(self, costs):
        """Candidate costs (num_columns, K), normalised by their total so the term lies in [0, 1]."""
        costs = torch.as_tensor(costs, dtype=torch.float32)
        if (costs <= 0).any():
            raise ValueError('CLEARERArchLoss: every candidate cost must be positive')
        self.costs = costs / costs.sum()

    def expected_complexity(self, weights):
        if self.costs is None:
            raise RuntimeError('CLEARERArchLoss: call set_costs() before using lambda_comp > 0')
        return (weights * self.costs.to(weights)).sum()

    def forward(self, weights):
        """Returns the weighted terms by name (only the switched-on ones)."""
        terms = {}
        if self.lambda_arch > 0:
            terms['l_arch_entropy'] = self.lambda_arch * column_entropy(weights, self.entropy_base)
        if self.lambda_comp > 0:
            terms['l_arch_comp'] = self.lambda_comp * self.expected_complexity(weights)
        return terms
