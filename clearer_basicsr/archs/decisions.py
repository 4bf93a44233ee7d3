"""How firmly a search decided each column: the winning candidate, its weight and the margin.

A column is *decided* when its winning candidate's softmax weight is at least
:data:`DECIDED_WEIGHT` (0.6); otherwise the argmax is a near-tie, noise rather than a choice, and
the retrained network inherits that noise. ``genotype.yml``, the log, TensorBoard and the demo's
table all report these figures, and the search warns about undecided columns at its end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .candidates import DEFAULT_CANDIDATES

DECIDED_WEIGHT = 0.6
UNDECIDED_ADVICE = (
    'to make the search decide: keep optim_arch: weight_decay at 0 (L2 on the logits holds them at 0.5), '
    'raise optim_arch: lr (the demo uses 0.03), or search longer (total_iter) after the warm-up'
)


def column_name(column: int, columns_per_cell: int) -> str:
    """'cell 2 column 3' for the 0-based, cell-major ``column``."""
    cell, index = divmod(column, columns_per_cell)
    return f'cell {cell + 1} column {index + 1}'


@dataclass(frozen=True)
class ColumnDecision:
    """One column's outcome. ``column`` counts from 0, cell-major (the logit row order)."""

    column: int
    columns_per_cell: int
    choice: str
    weight: float
    margin: float  # winner's weight minus the runner-up's

    @property
    def decided(self) -> bool:
        return self.weight >= DECIDED_WEIGHT

    @property
    def name(self) -> str:
        return column_name(self.column, self.columns_per_cell)

    def as_dict(self) -> dict[str, object]:
        return {
            'column': self.name,
            'choice': self.choice,
            'weight': round(self.weight, 4),
            'margin': round(self.margin, 4),
            'decided': self.decided,
        }


def column_decisions(
    weights: Sequence[Sequence[float]], columns_per_cell: int, candidates: Sequence[str] = DEFAULT_CANDIDATES
) -> list[ColumnDecision]:
    """Decisions from softmax weights, one row per column in the order of the space ``candidates``."""
    decisions = []
    for c, row in enumerate(weights):
        ranked = sorted(range(len(row)), key=lambda k: row[k], reverse=True)
        best, second = ranked[0], ranked[1]
        margin = float(row[best]) - float(row[second])
        decisions.append(ColumnDecision(c, columns_per_cell, candidates[best], float(row[best]), margin))
    return decisions


def undecided(decisions: Sequence[ColumnDecision]) -> list[ColumnDecision]:
    return [d for d in decisions if not d.decided]


def undecided_warning(decisions: Sequence[ColumnDecision]) -> str | None:
    """One line naming the undecided columns and what to change; None when all are decided."""
    open_columns = undecided(decisions)
    if not open_columns:
        return None
    names = ', '.join(f'{d.name} ({d.choice} {d.weight:.2f})' for d in open_columns)
    return (
        f'{len(open_columns)} of {len(decisions)} columns are undecided (no candidate weight >= '
        f'{DECIDED_WEIGHT}): {names}. Their choice is a near-tie, not a search result; {UNDECIDED_ADVICE}.'
    )


def decision_table(decisions: Sequence[ColumnDecision]) -> list[str]:
    """Lines of a small table: column, choice, weight, margin, decided."""
    lines = [f'{"column":<20}{"choice":<12}{"weight":>8}{"margin":>8}  decided']
    for d in decisions:
        lines.append(f'{d.name:<20}{d.choice:<12}{d.weight:>8.3f}{d.margin:>8.3f}  {"yes" if d.decided else "NO"}')
    return lines
