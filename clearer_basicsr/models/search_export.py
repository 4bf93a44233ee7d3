"""What a search's logits say, written down: the derived genotype (under the budget, if any),
its cost, how firmly each column was decided, as a :class:`.SearchResult` with its pictures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from basicsr.utils import get_root_logger
from torch import nn

from ..archs.complexity import candidate_costs, derived_cost
from ..archs.decisions import column_decisions, column_name, decision_table, undecided, undecided_warning
from ..archs.genotype import Genotype
from ..search_result import SearchResult, write_search_outputs
from .budget import Budget


def derived_genotype(net: nn.Module, budget: Budget | None) -> tuple[Genotype, list[int]]:
    """The argmax genotype; searching to a budget, the most likely genotype within the budget's
    window (:meth:`.Budget.derive`). Also returns the columns where that differs from the argmax
    (0-based)."""
    argmax = net.genotype()
    if budget is None:
        return argmax, []
    choice = budget.derive(net.column_weights().detach().float().cpu())
    if choice is None:  # no genotype of the space fits the window: keep the argmax, the report says so
        return argmax, []
    genotype = budget.genotype(choice)
    return genotype, [c for c, (a, b) in enumerate(zip(argmax.indices_in(net.candidates), choice)) if a != b]


def export_search(
    net: nn.Module,
    budget: Budget | None,
    multiplier: float,
    patch_size: int,
    iteration: int,
    history: Sequence[tuple[int, Any]],
    folder: str,
    final: bool,
) -> SearchResult:
    """Writes genotype.yml, genotype.png and column_weights.png into ``folder``; logs the genotype
    and how firmly each column was decided, and at the end (``final``) warns about undecided columns."""
    genotype, changed = derived_genotype(net, budget)
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
        budget=budget.report(genotype, multiplier, [column_name(c, net.columns_per_cell) for c in changed])
        if budget
        else None,
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
