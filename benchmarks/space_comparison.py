"""Does a richer search space pay? Two evaluations of one budget, side by side (docs/evaluation.md).

Reads the CSVs two ``clearer-evaluate`` runs wrote (the same retrain recipe, test and seeds; one
per search space) and prints, per space: the searched genotypes and the best of the random ones,
with their MACs at 256x256 and mean test PSNR over the seeds; the random genotypes' mean, standard
error and spread against the seed noise (the standard deviation between seeds of one genotype,
pooled over every genotype with two or more); and each space's best genotype against the first
space's. (The searches against the random mean, in standard errors: each evaluation's report.) Rows that rest on a run
that did not converge are marked. The spaces' genotypes need not sit at the same MACs within the
budget's window, so it also gives each space's PSNR against the first's at equal MACs: a line
fitted through every genotype of every space (mean over seeds), one slope in GMACs shared by all,
one offset per space. ``--plot`` draws every genotype of every space against its MACs, with
those lines.

``--budget`` is the budget both evaluations searched, or one per ``--space`` in their order
where the spaces' budgets differ as fractions but meet at the same cost:

    python benchmarks/space_comparison.py --budget 0.75 \\
        --space "parallel, fusion=docs/evaluation_ema.csv" \\
        --space "parallel, fusion, skip, naf, fusion_gate=docs/evaluation_open_ema.csv" \\
        --json benchmarks/results/space_comparison.json
    python benchmarks/space_comparison.py --budget 0.2 0.7663 \\
        --space "macro=docs/evaluation_widths.csv" --space "paper=docs/evaluation_widths_paper.csv" \\
        --json benchmarks/results/space_comparison_widths.json --plot docs/space_comparison_widths.png
"""

import argparse
import csv
import json
import math
import os
import statistics
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from clearer_basicsr.plots import pyplot, save_figure  # noqa: E402


def read_space(path, budget):
    """{(kind, genotype): {'psnr': [per seed], 'converged': [per seed], 'macs': int}} of one budget."""
    nets = defaultdict(lambda: {'psnr': [], 'converged': [], 'macs': 0})
    with open(path, newline='', encoding='utf-8') as f:
        for row in csv.DictReader(f):
            if not row['budget'] or not math.isclose(float(row['budget']), budget):
                continue
            net = nets[(row['kind'], row['network'])]
            net['psnr'].append(float(row['psnr']))
            net['converged'].append(row['converged'] == 'True')
            net['macs'] = int(float(row['macs']))
    return dict(nets)


def summarise(nets):
    """The space's figures: each searched genotype, the random pool and its best."""

    def entry(kind, genotype):
        net = nets[(kind, genotype)]
        return {
            'kind': kind,
            'genotype': genotype,
            'psnr': statistics.fmean(net['psnr']),
            'seeds': len(net['psnr']),
            'converged': all(net['converged']),
            'gmacs': net['macs'] / 1e9,
        }

    searched = [entry(k, g) for k, g in nets if k != 'random']  # the searches' picks (and any hand-designed)
    random = sorted((entry(k, g) for k, g in nets if k == 'random'), key=lambda e: -e['psnr'])
    means = [e['psnr'] for e in random]
    # each genotype once: the seed noise pools the variance between seeds of every genotype with two or more
    genotypes = {g: net for (_, g), net in nets.items()}
    variances = [statistics.variance(net['psnr']) for net in genotypes.values() if len(net['psnr']) > 1]
    se = statistics.stdev(means) / math.sqrt(len(means)) if len(means) > 1 else math.nan
    best = max([*searched, *random], key=lambda e: e['psnr'])
    return {
        'searched': searched,
        'random_best': random[0] if random else None,
        'random_count': len(random),
        'random_mean': statistics.fmean(means) if means else math.nan,
        'random_se': se,
        'seed_sd': math.sqrt(statistics.fmean(variances)) if variances else math.nan,
        'best': best,
        'random_min': min(means, default=math.nan),
        'random_max': max(means, default=math.nan),
        'random_gmacs': [
            min((e['gmacs'] for e in random), default=math.nan),
            max((e['gmacs'] for e in random), default=math.nan),
        ],
        # each genotype once (a hand-designed one may also be drawn at random)
        'unconverged': len({e['genotype'] for e in [*searched, *random] if not e['converged']}),
        'networks': len({e['genotype'] for e in [*searched, *random]}),
    }


def genotype_points(nets):
    """(GMACs, mean PSNR over seeds) of each genotype once (a hand-designed one may also be drawn at random)."""
    genotypes = {g: net for (_, g), net in nets.items()}
    return [(net['macs'] / 1e9, statistics.fmean(net['psnr'])) for net in genotypes.values()]


def equal_macs_offsets(spaces_nets):
    """{label: (dB against the first space at equal MACs, its standard error)}, the shared slope in
    dB per GMAC and the first space's intercept in dB, from a least-squares fit of each genotype's
    mean PSNR (each genotype once)."""
    labels = list(spaces_nets)
    points = []  # (space index, GMACs, mean PSNR)
    for i, nets in enumerate(spaces_nets.values()):
        points += [(i, gmacs, psnr) for gmacs, psnr in genotype_points(nets)]
    x = np.array([[1.0, gmacs] + [float(i == k) for k in range(1, len(labels))] for i, gmacs, _ in points])
    y = np.array([p for *_, p in points])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    dof = len(y) - x.shape[1]
    variance = float(np.sum((y - x @ coef) ** 2)) / dof if dof > 0 else math.nan
    se = np.sqrt(np.diag(variance * np.linalg.inv(x.T @ x)))
    offsets = {label: (float(coef[1 + k]), float(se[1 + k])) for k, label in enumerate(labels) if k}
    return offsets, float(coef[1]), float(coef[0])


# marker and size of each kind of genotype; 'other': hand-designed, most parameters
MARKERS = {'random': ('o', 4), 'searched': ('*', 11), 'one-shot': ('P', 9), 'other': ('s', 6)}


def plot_spaces(spaces_nets, offsets, slope, intercept, path):
    """Each genotype's mean test PSNR over its seeds (bars: the seeds' range) against its MACs, one
    colour per space, a marker per kind (MARKERS); the equal-MACs fit as one dashed line per space."""
    fig, ax = pyplot().subplots(figsize=(7.5, 4.8))
    for k, (label, nets) in enumerate(spaces_nets.items()):
        colour = f'C{k}'
        for (kind, _), net in nets.items():
            gmacs, psnr = net['macs'] / 1e9, statistics.fmean(net['psnr'])
            bars = [[psnr - min(net['psnr'])], [max(net['psnr']) - psnr]]
            marker, size = MARKERS.get(kind, MARKERS['other'])
            ax.errorbar(gmacs, psnr, yerr=bars, color=colour, capsize=2, linestyle='none', marker=marker, ms=size)
        for kind in dict.fromkeys(k if k in MARKERS else 'other' for k, _ in nets):  # the legend: kinds present
            marker, size = MARKERS[kind]
            ax.plot([], [], marker, color=colour, ms=size, label=f'{label}: {kind}')
        gmacs = [g for g, _ in genotype_points(nets)]
        ends = np.array([min(gmacs), max(gmacs)])
        offset = offsets[label][0] if label in offsets else 0.0  # the first space is the fit's reference
        ax.plot(ends, intercept + offset + slope * ends, color=colour, linestyle='--', linewidth=0.8)
    ax.set_xlabel('GMACs (256x256 input)')
    ax.set_ylabel('test PSNR (dB), mean over seeds')
    ax.set_title("Each space at one budget (bars: the seeds' range; dashed: the equal-MACs fit)", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=110)


def row(space, what, e):
    mark = '' if e['converged'] else ' (not converged)'
    genotype = e['genotype'].replace('|', '\\|')  # a table cell
    return f'| {space} | {what} `{genotype}` | {e["gmacs"]:.3f} | {e["psnr"]:.3f}{mark} | {e["seeds"]} |'


def best_line(e):
    mark = '' if e['converged'] else ', not converged'
    return f'`{e["genotype"]}` {e["psnr"]:.3f} dB ({e["gmacs"]:.3f} GMACs{mark})'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--budget', type=float, nargs='+', required=True,
                        help='the budget both evaluations searched, or one per --space')  # fmt: skip
    parser.add_argument('--space', action='append', required=True, metavar='LABEL=CSV',
                        help="a space's label and its evaluation's CSV (give two or more)")  # fmt: skip
    parser.add_argument('--json', help='write the figures here')
    parser.add_argument('--plot', help='draw every genotype against its MACs here (.png, .svg)')
    args = parser.parse_args(argv)
    if len(args.budget) not in (1, len(args.space)):
        parser.error(f'--budget: {len(args.budget)} values for {len(args.space)} --space; expected 1 or one per space')
    budgets = args.budget * len(args.space) if len(args.budget) == 1 else args.budget

    spaces, every = {}, {}
    for item, budget in zip(args.space, budgets):
        label, sep, path = item.rpartition('=')
        if not sep or not label:
            parser.error(f'--space {item!r}: expected LABEL=CSV')
        if not os.path.isfile(path):
            parser.error(f'--space {item!r}: no file {path}')
        nets = read_space(path, budget)
        if not nets:
            parser.error(f'{path}: no rows at budget {budget}')
        spaces[label], every[label] = {'budget': budget, **summarise(nets)}, nets

    print('| space | network | GMACs (256x256) | test PSNR (mean over seeds) | seeds |')
    print('|---|---|---|---|---|')
    for label, s in spaces.items():
        for e in s['searched']:
            print(row(label, e['kind'], e))
        if s['random_best']:
            print(row(label, 'best random', s['random_best']))
    print()
    print('| space | budget | random genotypes | GMACs | mean ± SE | spread (min–max) | seed SD | spread / seed SD '
          '| networks not converged |')  # fmt: skip
    print('|---|---|---|---|---|---|---|---|---|')
    for label, s in spaces.items():
        low, high = s['random_gmacs']
        spread = s['random_max'] - s['random_min']
        print(
            f'| {label} | {s["budget"]:g} | {s["random_count"]} | {low:.3f}–{high:.3f} | '
            f'{s["random_mean"]:.3f} ± {s["random_se"]:.3f} | {s["random_min"]:.3f}–{s["random_max"]:.3f} '
            f'({spread:.2f} dB) | {s["seed_sd"]:.3f} | {spread / s["seed_sd"] if s["seed_sd"] else math.nan:.1f} | '
            f'{s["unconverged"]} of {s["networks"]} |'
        )
    offsets, slope, intercept = equal_macs_offsets(every)
    print()
    first = next(iter(spaces))
    best = spaces[first]['best']
    print(f'Best of {first}: {best_line(best)}.')
    for label, s in list(spaces.items())[1:]:
        other = s['best']
        print(f'Best of {label}: {best_line(other)}; {first} minus {label}: {best["psnr"] - other["psnr"]:+.3f} dB.')
    print(f'At equal MACs (one line through every genotype of every space, slope {slope:+.2f} dB per GMAC):')
    for label, (offset, se) in offsets.items():
        print(f'- {label} against {first}: {offset:+.3f} ± {se:.3f} dB (SE) = {offset / se:+.1f} SE')
    for path in (args.plot, args.json):
        if path:
            os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    if args.plot:
        plot_spaces(every, offsets, slope, intercept, args.plot)
    if args.json:
        figures = {'spaces': spaces, 'slope_db_per_gmac': slope, 'equal_macs_offsets': offsets}
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=1)


if __name__ == '__main__':
    main()
