"""Cost of every candidate of every column of the CLEARER search space, at a given patch size.

Costs are measured on the real modules (mmengine's ``FlopAnalyzer`` on a batch-1 forward of
the supernet at the patch size, so every candidate sees the branch shapes it sees in
training). ``FlopAnalyzer`` counts multiply-accumulates (convolutions; also one per element
of batch norm and nearest upsampling; additions, ReLUs and the supernet's mixing products are
not counted), so its numbers are labelled MACs here; the architecture-loss option naming this
metric is ``flops``.

The table printed by ``python -m clearer_basicsr.complexity`` is :mod:`clearer_basicsr.tools.complexity`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .arch_util import count_parameters, mac_counter
from .clearer_arch import CLEARERNet, CLEARERSearchNet
from .genotype import Genotype

COMPLEXITY_METRICS = {'flops': 'macs', 'params': 'params'}  # arch_loss: complexity option -> cost key


def _total(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    parts = list(parts)
    return {key: sum(part[key] for part in parts) for key in ('macs', 'params')}


@dataclass(frozen=True)
class Costs:
    """Measured costs of one preset at one patch size; every cost is ``{'macs': int, 'params': int}``.

    Attributes:
        patch_size: input height and width the MACs were measured at (batch 1).
        branch_channels, columns_per_cell: the preset measured.
        candidates: the space measured, in logit order.
        columns: per column (cell-major, the logit row order) a mapping candidate name -> cost.
        fixed: costs of the parts every architecture has: ``stem``, ``transition 1``..., ``head``.
    """

    patch_size: int
    branch_channels: tuple[int, ...]
    columns_per_cell: int
    candidates: tuple[str, ...]
    columns: tuple[Mapping[str, Mapping[str, int]], ...]
    fixed: Mapping[str, Mapping[str, int]]

    @property
    def fixed_total(self) -> dict[str, int]:
        return _total(self.fixed.values())

    @property
    def largest_total(self) -> dict[str, int]:
        """The most expensive derived network: the dearest candidate in every column (all parallel in the
        paper's space)."""
        dearest = [
            {key: max(cost[key] for cost in column.values()) for key in ('macs', 'params')} for column in self.columns
        ]
        return _total([self.fixed_total, *dearest])

    @property
    def supernet_total(self) -> dict[str, int]:
        """Fixed parts plus every candidate of every column."""
        return _total([self.fixed_total, *(cost for column in self.columns for cost in column.values())])


def preset_numbers(net: CLEARERSearchNet | CLEARERNet) -> dict[str, Any]:
    """The constructor numbers that determine the costs (not the genotype, not residual)."""
    return dict(
        in_channels=net.in_channels,
        out_channels=net.out_channels,
        branch_channels=tuple(net.branch_channels),
        columns_per_cell=net.columns_per_cell,
        stem_blocks=net.stem_blocks,
        stem_width=net.stem_width,
        candidates=tuple(net.candidates),
        candidate_modules=tuple(getattr(net, 'candidate_modules', ())),
    )


@functools.cache
def _measure(patch_size: int, **preset: Any) -> Costs:
    # A fresh CPU supernet in eval mode: measuring never touches a caller's weights or BN statistics,
    # nor the global RNG (its init would shift a training run's random stream, depending on
    # whether this cache was already warm).
    with torch.random.fork_rng(devices=[]):
        net = CLEARERSearchNet(**preset).eval()
    with torch.no_grad():
        macs = mac_counter(net, (1, net.in_channels, patch_size, patch_size)).by_module()

    def cost(name: str, module: torch.nn.Module) -> dict[str, int]:
        return {'macs': int(macs[name]), 'params': count_parameters(module)}

    columns = tuple(
        {name: cost(f'cells.{c}.{k}.{name}', column[name]) for name in net.candidates}
        for c, cell in enumerate(net.cells)
        for k, column in enumerate(cell)
    )
    fixed = {'stem': cost('stem', net.stem)}
    for t, transition in enumerate(net.transitions):
        fixed[f'transition {t + 1}'] = cost(f'transitions.{t}', transition)
    fixed['head'] = cost('head', net.head)
    return Costs(patch_size, net.branch_channels, net.columns_per_cell, net.candidates, columns, fixed)


def candidate_costs(net: CLEARERSearchNet | CLEARERNet, patch_size: int) -> Costs:
    """Costs of every candidate and the fixed parts for ``net``'s preset at ``patch_size``.

    Cached per (preset, patch size): measuring traces a supernet forward.
    """
    if patch_size < 1:
        raise ValueError(f'patch_size must be a positive int, got {patch_size}')
    return _measure(int(patch_size), **preset_numbers(net))


def derived_cost(costs: Costs, genotype: Any) -> dict[str, int]:
    """Cost of a derived net: the fixed parts plus the chosen candidate of each column."""
    genotype = Genotype.from_any(genotype, costs.branch_channels, costs.columns_per_cell)
    genotype.validate(costs.branch_channels, costs.columns_per_cell, costs.candidates)
    return _total([costs.fixed_total, *(column[name] for column, name in zip(costs.columns, genotype.choices))])


def genotype_cost(net: CLEARERSearchNet | CLEARERNet, genotype: Genotype, patch_size: int) -> dict[str, int]:
    """Cost of ``genotype``'s derived net on ``net``'s preset at the genotype's own branch channels
    (a macro-space genotype chose them, archs/widths.py; otherwise they are the preset's)."""
    preset = {**preset_numbers(net), 'branch_channels': tuple(genotype.branch_channels)}
    return derived_cost(_measure(int(patch_size), **preset), genotype)


def cost_matrix(net: CLEARERSearchNet | CLEARERNet, patch_size: int, metric: str = 'flops') -> torch.Tensor:
    """Cost of candidate k in column c as a float32 CPU tensor (num_columns, len(net.candidates)), k in
    the order of ``net.candidates`` (the logits' order).

    ``metric``: ``'flops'`` (measured as MACs) or ``'params'``.
    """
    if metric not in COMPLEXITY_METRICS:
        raise ValueError(f'complexity metric {metric!r} is not one of {list(COMPLEXITY_METRICS)}')
    key = COMPLEXITY_METRICS[metric]
    costs = candidate_costs(net, patch_size)
    return torch.tensor(
        [[column[name][key] for name in net.candidates] for column in costs.columns], dtype=torch.float32
    )


BUDGET_TOLERANCE = 0.1  # a budget search derives a genotype within +-10 % of its target
MAX_ENUMERATED = 2**24  # genotypes the space may have to be enumerated (the paper's space has 2^12)


def enumerate_genotypes(
    costs: torch.Tensor, fixed: float, chunk: int = 2**16
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every genotype of a space with candidate ``costs`` (num_columns, K), in chunks: candidate
    indices (n, num_columns), cell-major as the logits, and each genotype's total cost (n,)."""
    num_columns, k = costs.shape
    if k**num_columns > MAX_ENUMERATED:
        raise ValueError(f'{k}^{num_columns} genotypes are too many to enumerate (at most {MAX_ENUMERATED:,})')
    columns = torch.arange(num_columns)
    for start in range(0, k**num_columns, chunk):
        codes = torch.arange(start, min(start + chunk, k**num_columns), dtype=torch.long)
        digits = torch.stack([(codes // k**c) % k for c in range(num_columns)], dim=1)
        yield digits, fixed + costs.double()[columns, digits].sum(dim=1)


def genotypes_within(
    costs: torch.Tensor, fixed: float, target: float, tolerance: float = BUDGET_TOLERANCE
) -> list[list[int]]:
    """Candidate indices of every genotype whose cost lies within ``target`` +- ``tolerance``."""
    lo, hi = target * (1 - tolerance), target * (1 + tolerance)
    return [
        row
        for digits, total in enumerate_genotypes(costs, fixed)
        for row in digits[(total >= lo) & (total <= hi)].tolist()
    ]


def derive_within_budget(
    weights: torch.Tensor, costs: torch.Tensor, fixed: float, target: float, tolerance: float = BUDGET_TOLERANCE
) -> list[int] | None:
    """The genotype to derive when searching to a budget: of the genotypes whose cost lies within
    ``target`` +- ``tolerance`` (relative), the one the search found most likely (the largest sum
    of log column weights). That is the argmax whenever the argmax fits. ``weights`` and
    ``costs`` are (num_columns, K); ``fixed`` is the cost every network has. Returns candidate
    indices per column, or None when no genotype of the space fits the window. Exact: the space
    is enumerated, or, beyond :data:`MAX_ENUMERATED` genotypes (5 candidates over the paper's 12
    columns), its two halves of columns are (:func:`best_of_halves`)."""
    log_w = weights.detach().double().clamp_min(1e-12).log()
    lo, hi = target * (1 - tolerance), target * (1 + tolerance)
    num_columns, k = costs.shape
    if k**num_columns > MAX_ENUMERATED:
        return best_of_halves(log_w, costs, fixed, lo, hi)
    columns = torch.arange(num_columns)
    best, best_score = None, -math.inf
    for digits, total in enumerate_genotypes(costs, fixed):
        score = log_w[columns, digits].sum(dim=1).masked_fill((total < lo) | (total > hi), -math.inf)
        i = int(score.argmax())
        if float(score[i]) > best_score:
            best, best_score = digits[i].tolist(), float(score[i])
    return best


def _every(log_w: torch.Tensor, costs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every genotype of a few columns: candidate indices, cost and score (sum of log weights)."""
    parts = list(enumerate_genotypes(costs, 0.0))
    digits, total = torch.cat([d for d, _ in parts]), torch.cat([t for _, t in parts])
    return digits, total, log_w[torch.arange(costs.shape[0]), digits].sum(dim=1)


def best_of_halves(log_w: torch.Tensor, costs: torch.Tensor, fixed: float, lo: float, hi: float) -> list[int] | None:
    """:func:`derive_within_budget` by meeting in the middle: every genotype of the first half of
    the columns is paired with the most likely genotype of the second half whose cost brings the
    total into [lo, hi] (a range-maximum query over the second half sorted by cost), so a space of
    K^C genotypes costs about 2 K^(C/2) instead of K^C."""
    half = costs.shape[0] // 2
    a_digits, a_cost, a_score = _every(log_w[:half], costs[:half])
    b_digits, b_cost, b_score = _every(log_w[half:], costs[half:])
    order = b_cost.argsort()
    b_digits, b_cost, b_score = b_digits[order], b_cost[order], b_score[order]
    n = len(b_score)
    # best[j][i]: the index of the highest score among b_score[i : i + 2^j] (a sparse table)
    best = [torch.arange(n)]
    while 2 ** len(best) <= n:
        step, prev = 2 ** (len(best) - 1), best[-1]
        left, right = prev[: len(prev) - step], prev[step:]
        best.append(torch.where(b_score[left] >= b_score[right], left, right))
    first = torch.searchsorted(b_cost, lo - fixed - a_cost, side='left')
    stop = torch.searchsorted(b_cost, hi - fixed - a_cost, side='right')
    found = stop > first
    level = torch.log2((stop - first).clamp_min(1).double()).floor().long()
    table = torch.stack([torch.cat([t, t.new_zeros(n - len(t))]) for t in best])  # padded: (levels, n)
    left = table[level, first.clamp_max(n - 1)]
    right = table[level, (stop - 2**level).clamp(0, n - 1)]
    pick = torch.where(b_score[left] >= b_score[right], left, right)
    score = (a_score + b_score[pick]).masked_fill(~found, -math.inf)
    i = int(score.argmax())
    if score[i] == -math.inf:
        return None
    return a_digits[i].tolist() + b_digits[pick[i]].tolist()
