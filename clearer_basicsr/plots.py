"""Figures: the search's ``column_weights.png``, and the two helpers every figure of the plugin
(the tools' too) is drawn with. matplotlib is imported on first use, with its file-only backend
(no display on training machines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .archs.genotype import CANDIDATES


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str, dpi: int) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)


def plot_column_weights(
    history: Sequence[tuple[int, Sequence[Sequence[float]]]], path: str, columns_per_cell: int
) -> None:
    """One panel per column (rows = cells): each candidate's weight over the iterations.

    ``history``: list of ``(iteration, weights)``, weights a (num_columns, len(CANDIDATES)) list."""
    if not history:
        return
    iters = [it for it, _ in history]
    num_columns = len(history[0][1])
    rows = max(1, num_columns // columns_per_cell)
    fig, axes = pyplot().subplots(
        rows,
        columns_per_cell,
        figsize=(2.6 * columns_per_cell, 1.9 * rows),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for c in range(num_columns):
        ax = axes[c // columns_per_cell][c % columns_per_cell]
        for k, name in enumerate(CANDIDATES):
            ax.plot(iters, [w[c][k] for _, w in history], label=name)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f'cell {c // columns_per_cell + 1}, column {c % columns_per_cell + 1}', fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.supxlabel('iteration', fontsize=8)
    fig.supylabel('column weight', fontsize=8)
    save_figure(fig, path, dpi=90)
