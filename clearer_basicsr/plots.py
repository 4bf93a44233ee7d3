"""Figures: the search's ``column_weights.png``, and the two helpers every figure of the plugin
(the tools' too) is drawn with. matplotlib is imported on first use, with its file-only backend
(no display on training machines)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .archs.candidates import DEFAULT_CANDIDATES, candidate, registered
from .archs.genotype import Genotype
from .files import atomic_write


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str, dpi: int) -> None:
    """Saves ``fig`` all at once (:func:`.files.atomic_write`; the format from the extension) and closes it."""
    fig.tight_layout()
    with atomic_write(path, binary=True) as f:
        fig.savefig(f, dpi=dpi, format=os.path.splitext(path)[1][1:] or 'png')
    pyplot().close(fig)


def plot_column_weights(
    history: Sequence[tuple[int, Sequence[Sequence[float]]]],
    path: str,
    columns_per_cell: int,
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
) -> None:
    """One panel per column (rows = cells): each candidate's weight over the iterations.

    ``history``: list of ``(iteration, weights)``, weights a (num_columns, len(candidates)) list."""
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
        for k, name in enumerate(candidates):
            ax.plot(iters, [w[c][k] for _, w in history], label=name)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f'cell {c // columns_per_cell + 1}, column {c % columns_per_cell + 1}', fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.supxlabel('iteration', fontsize=8)
    fig.supylabel('column weight', fontsize=8)
    save_figure(fig, path, dpi=90)


# --------------------------------------------------------------------------- the derived network
def genotype_blocks(genotype: Genotype) -> list[tuple[str, int, tuple[int, ...]]]:
    """The network of ``genotype`` left to right, as ``(kind, x, branches)``: the stem, then per cell
    a ``transition`` (listing the branch it adds) and its columns (the candidate's name, over the
    cell's branches), and the ``head``, which fuses every branch into branch 0. Branch 0 is the
    full resolution; branch b runs at 1/2^b."""
    blocks = [('stem', 0, (0,))]
    x = 1
    for c, cell in enumerate(genotype.cells):
        branches = tuple(range(c + 2))
        blocks.append(('transition', x, (branches[-1],)))
        blocks += [(name, x + 1 + k, branches) for k, name in enumerate(cell)]
        x += 1 + len(cell)
    blocks.append(('head', x, tuple(range(len(genotype.branch_channels)))))
    return blocks


FIXED_PARTS = ('stem', 'transition', 'head')


GENOTYPE_COLOURS = {'parallel': '#4c78a8', 'fusion': '#f58518', 'transition': '#8c8c8c', 'stem': '#54a24b'}
OTHER_COLOURS = ('#e45756', '#b279a2', '#72b7b2', '#eeca3b', '#9d755d', '#ff9da6', '#bab0ac')
"""Colours of the other candidates, in registration order (the table's ``drawing`` says the shape)."""


def candidate_colour(name: str) -> str:
    if name in GENOTYPE_COLOURS:
        return GENOTYPE_COLOURS[name]
    others = [n for n in registered() if n not in GENOTYPE_COLOURS]
    return OTHER_COLOURS[others.index(name) % len(OTHER_COLOURS)]


def _legend_entry(name: str) -> Any:
    """The legend line of a candidate: its name and summary, drawn as its columns are."""
    from matplotlib.lines import Line2D

    entry = candidate(name)
    marker, line = {'branch': ('s', ''), 'exchange': ('o', '-'), 'identity': ('o', '')}[entry.drawing]
    label = f'{name} ({entry.code}): {entry.summary}' if entry.summary else f'{name} ({entry.code})'
    if name == 'parallel':
        label = 'parallel: a residual block per branch'
    elif name == 'fusion':
        label = 'fusion: exchange across scales'
    face = 'none' if entry.drawing == 'identity' else candidate_colour(name)
    return Line2D([], [], marker=marker, ls=line, color=candidate_colour(name), markerfacecolor=face, label=label)


def draw_genotype(genotype: Genotype, path: str) -> None:
    """``path`` (PNG): the derived network as a grid, branches as rows (full resolution on top),
    columns left to right, each drawn as its candidate's ``drawing`` says (:mod:`.archs.candidates`):
    a parallel column (and every per-branch candidate) is one block per branch (blue squares for
    parallel, no exchange); a fusion column (and every exchanging candidate) exchanges features
    across every pair of its branches (orange dots and the lines between them for fusion); a skip
    column is a hollow circle per branch; a transition adds a half-resolution branch (grey arrow);
    the head fuses all branches into the full-resolution one. The legend names every candidate
    drawn (parallel and fusion always)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Rectangle

    blocks = genotype_blocks(genotype)
    channels = genotype.branch_channels
    width = blocks[-1][1] + 1
    shown = [n for n in registered() if n in ('parallel', 'fusion') or n in genotype.choices]
    entries = len(shown) + 1
    per_row = 3 if width >= 14 else (1 if entries <= 3 else 2)  # side by side where the figure is wide enough
    legend_rows = -(-entries // per_row)
    fig, ax = pyplot().subplots(figsize=(1.8 + 0.55 * width, 0.7 + 0.6 * len(channels) + 0.2 * legend_rows))
    start = {b: x for kind, x, (b, *_) in blocks if kind in ('stem', 'transition')}
    for b, x0 in start.items():  # each branch's feature map, from where it is made to the head
        ax.plot([x0, width - 1], [-b, -b], color='#d0d0d0', lw=1.5, zorder=0)
    for c in range(len(genotype.cells)):  # shade the cells
        xs = [x for kind, x, branches in blocks if kind not in FIXED_PARTS and len(branches) == c + 2]
        ax.add_patch(Rectangle((xs[0] - 0.45, -c - 1.4), xs[-1] - xs[0] + 0.9, c + 1.8, color='#f2f2f2', zorder=-1))
        ax.text((xs[0] + xs[-1]) / 2, 0.55, f'cell {c + 1}', ha='center', fontsize=8)
    for kind, x, branches in blocks:
        drawing = 'exchange' if kind == 'head' else None if kind in FIXED_PARTS else candidate(kind).drawing
        colour = GENOTYPE_COLOURS['fusion'] if kind == 'head' else candidate_colour(kind) if drawing else None
        if drawing == 'branch':
            for b in branches:
                ax.add_patch(Rectangle((x - 0.18, -b - 0.18), 0.36, 0.36, color=colour, zorder=2))
        elif drawing == 'exchange':
            targets = branches if kind != 'head' else (0,)
            for i in targets:
                for j in branches:
                    if i != j:
                        ax.plot([x - 0.3, x + 0.3], [-j, -i], color=colour, lw=0.8, zorder=1)
            ax.scatter([x] * len(targets), [-i for i in targets], s=40, color=colour, zorder=2)
        elif drawing == 'identity':
            ys = [-b for b in branches]
            ax.scatter([x] * len(ys), ys, s=30, facecolors='none', edgecolors=colour, zorder=2)
        elif kind == 'transition':
            (b,) = branches
            ax.add_patch(FancyArrowPatch((x, -b + 1), (x, -b), arrowstyle='-|>', mutation_scale=10, color='#8c8c8c'))
        else:
            ax.add_patch(Rectangle((x - 0.25, -0.25), 0.5, 0.5, color=GENOTYPE_COLOURS['stem'], zorder=2))
    ax.text(width - 1 + 0.45, 0, '1x1 conv\n-> image', va='center', fontsize=7)
    ax.set_yticks([-b for b in range(len(channels))])
    ax.set_yticklabels([f'1/{2**b} res, {ch} ch' for b, ch in enumerate(channels)], fontsize=8)
    ax.set_xticks([x for _, x, _ in blocks])
    ax.set_xticklabels(
        ['T' if k == 'transition' else k if k in FIXED_PARTS else candidate(k).code for k, _, _ in blocks], fontsize=7
    )
    ax.set_xlim(-0.6, width + 0.6)
    ax.set_ylim(-len(channels) + 0.4, 0.9)
    for side in ('top', 'right', 'left', 'bottom'):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    legend = [
        *(_legend_entry(name) for name in shown),
        Line2D([], [], marker='v', ls='', color=GENOTYPE_COLOURS['transition'], label='transition: new 1/2-res branch'),
    ]
    ax.legend(handles=legend, loc='upper center', bbox_to_anchor=(0.5, -0.1), ncol=per_row, fontsize=7, frameon=False)
    ax.set_title(f'CLEARER genotype  {genotype}', fontsize=9)
    save_figure(fig, path, dpi=110)
