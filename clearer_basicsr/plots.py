"""Figures the search writes next to its genotype."""

import matplotlib

matplotlib.use('Agg')  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402

from .archs.genotype import MODULES  # noqa: E402


def plot_column_weights(history, path, columns_per_cell):
    """One panel per column (rows = cells): each module's weight over the iterations.

    ``history``: list of ``(iteration, weights)``, weights a (num_columns, len(MODULES)) list."""
    if not history:
        return
    iters = [it for it, _ in history]
    num_columns = len(history[0][1])
    rows = max(1, num_columns // columns_per_cell)
    fig, axes = plt.subplots(
        rows, columns_per_cell, figsize=(2.6 * columns_per_cell, 1.9 * rows), sharex=True, sharey=True, squeeze=False
    )
    for c in range(num_columns):
        ax = axes[c // columns_per_cell][c % columns_per_cell]
        for k, name in enumerate(MODULES):
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
