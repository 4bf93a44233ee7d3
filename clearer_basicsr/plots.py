"""Figures the runtime writes: the search's ``column_weights.png`` (tools draw theirs themselves).
matplotlib is imported on first use, with its file-only backend (no display on training machines)."""

from __future__ import annotations

from collections.abc import Sequence

from .archs.genotype import CANDIDATES


def plot_column_weights(
    history: Sequence[tuple[int, Sequence[Sequence[float]]]], path: str, columns_per_cell: int
) -> None:
    """One panel per column (rows = cells): each candidate's weight over the iterations.

    ``history``: list of ``(iteration, weights)``, weights a (num_columns, len(CANDIDATES)) list."""
    if not history:
        return
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    iters = [it for it, _ in history]
    num_columns = len(history[0][1])
    rows = max(1, num_columns // columns_per_cell)
    fig, axes = plt.subplots(
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
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
