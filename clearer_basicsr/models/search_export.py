"""What a search's logits say, written down: the derived genotype (under the budget, if any),
its cost, how firmly each column was decided, as a :class:`.SearchResult` with its pictures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from basicsr.utils import get_root_logger
from torch import nn

from ..archs.complexity import (
    BUDGET_TOLERANCE,
    COMPLEXITY_METRICS,
    candidate_costs,
    cost_matrix,
    derive_within_budget,
    derived_cost,
)
from ..archs.decisions import column_decisions, column_name, decision_table, undecided, undecided_warning
from ..archs.genotype import Genotype
from ..search_result import SearchResult, write_search_outputs


def derived_genotype(net: nn.Module, arch_loss: Any, patch_size: int) -> tuple[Genotype, list[int]]:
    """The argmax genotype; searching to a budget, the most likely genotype within the budget's
    window (:func:`derive_within_budget`). Also returns the columns where that differs from the
    argmax (0-based)."""
    argmax = net.genotype()
    if not arch_loss.budgeted:
        return argmax, []
    key = COMPLEXITY_METRICS[arch_loss.complexity]
    costs = candidate_costs(net, patch_size)
    matrix = cost_matrix(net, patch_size, arch_loss.complexity)
    weights = net.column_weights().detach().float().cpu()
    choice = derive_within_budget(weights, matrix, costs.fixed_total[key], arch_loss.target * costs.largest_total[key])
    if choice is None:  # no genotype of the space fits the window: keep the argmax, the report says so
        return argmax, []
    genotype = Genotype.from_indices(choice, net.branch_channels, net.columns_per_cell, net.candidates)
    return genotype, [c for c, (a, b) in enumerate(zip(argmax.indices_in(net.candidates), choice)) if a != b]


def budget_report(
    net: nn.Module, arch_loss: Any, patch_size: int, derived: Mapping[str, int], changed: list[int]
) -> dict[str, Any] | None:
    """The budget searched for and the cost the derived network reached, as fractions of the
    all-parallel network's cost (and MACs at 256x256 when the metric is flops); None without a budget."""
    if not arch_loss.budgeted:
        return None
    key = COMPLEXITY_METRICS[arch_loss.complexity]
    largest = candidate_costs(net, patch_size).largest_total[key]
    report = {
        'metric': key,
        'target_fraction': round(arch_loss.target, 4),
        'reached_fraction': round(derived[key] / largest, 4),
        'tolerance': BUDGET_TOLERANCE,
        'multiplier': round(float(arch_loss.multiplier), 6),
        # columns where the argmax did not fit the window and a less likely candidate was derived
        'changed_from_argmax': [column_name(c, net.columns_per_cell) for c in changed],
    }
    if key == 'macs':  # MACs grow with the input area: also at a 256x256 input
        area = (256 / patch_size) ** 2
        report.update(
            target_macs_256=round(arch_loss.target * largest * area), reached_macs_256=round(derived[key] * area)
        )
    return report


def export_search(
    net: nn.Module,
    arch_loss: Any,
    patch_size: int,
    iteration: int,
    history: Sequence[tuple[int, Any]],
    folder: str,
    final: bool,
) -> SearchResult:
    """Writes genotype.yml, genotype.png and column_weights.png into ``folder``; logs the genotype
    and how firmly each column was decided, and at the end (``final``) warns about undecided columns."""
    genotype, changed = derived_genotype(net, arch_loss, patch_size)
    derived = derived_cost(candidate_costs(net, patch_size), genotype)
    weights = net.column_weights().detach().float().cpu().tolist()
    decisions = column_decisions(weights, net.columns_per_cell, net.candidates)
    result = SearchResult(
        genotype,
        column_weights=[dict(zip(net.candidates, (round(v, 6) for v in row))) for row in weights],
        decisions=[d.as_dict() for d in decisions],
        undecided=[d.name for d in undecided(decisions)],
        macs=derived['macs'],
        params=derived['params'],
        patch_size=patch_size,
        iteration=iteration,
        budget=budget_report(net, arch_loss, patch_size, derived, changed),
    )
    write_search_outputs(result, folder, history)
    logger = get_root_logger()
    logger.info(
        f'Genotype: {genotype} ({derived["params"]:,} params, {derived["macs"]:,} MACs at {patch_size}px)\n'
        + '\n'.join(decision_table(decisions))
    )
    warning = undecided_warning(decisions)
    if final and warning:
        logger.warning(warning)
    return result
