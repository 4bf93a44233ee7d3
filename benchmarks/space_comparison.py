"""Does a richer search space pay? Two evaluations of one budget, side by side (docs/evaluation.md).

Reads the CSVs two ``clearer-evaluate`` runs wrote (the EMA ones below, once written; the same
retrain recipe, test and seeds; one per search space) and prints, per space: the searched
genotypes and the best of the random ones, with their MACs at 256x256 and mean test PSNR over the
seeds, and the random genotypes' mean, standard error and spread. Rows that rest on a run that
did not converge are marked.

    python benchmarks/space_comparison.py --budget 0.75 \\
        --space "parallel, fusion=docs/evaluation_ema.csv" \\
        --space "parallel, fusion, skip, naf, fusion_gate=docs/evaluation_open_ema.csv" \\
        --json benchmarks/results/space_comparison.json
"""

import argparse
import csv
import json
import math
import os
import statistics
from collections import defaultdict


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
    return {
        'searched': searched,
        'random_best': random[0] if random else None,
        'random_count': len(random),
        'random_mean': statistics.fmean(means) if means else math.nan,
        'random_se': statistics.stdev(means) / math.sqrt(len(means)) if len(means) > 1 else math.nan,
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


def row(space, what, e):
    mark = '' if e['converged'] else ' (not converged)'
    genotype = e['genotype'].replace('|', '\\|')  # a table cell
    return f'| {space} | {what} `{genotype}` | {e["gmacs"]:.3f} | {e["psnr"]:.3f}{mark} | {e["seeds"]} |'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--budget', type=float, required=True, help='the budget both evaluations searched')
    parser.add_argument('--space', action='append', required=True, metavar='LABEL=CSV',
                        help="a space's label and its evaluation's CSV (give two or more)")  # fmt: skip
    parser.add_argument('--json', help='write the figures here')
    args = parser.parse_args()

    spaces = {}
    for item in args.space:
        label, sep, path = item.rpartition('=')
        if not sep or not label:
            parser.error(f'--space {item!r}: expected LABEL=CSV')
        nets = read_space(path, args.budget)
        if not nets:
            parser.error(f'{path}: no rows at budget {args.budget}')
        spaces[label] = summarise(nets)

    print('| space | network | GMACs (256x256) | test PSNR (mean over seeds) | seeds |')
    print('|---|---|---|---|---|')
    for label, s in spaces.items():
        for e in s['searched']:
            print(row(label, e['kind'], e))
        if s['random_best']:
            print(row(label, 'best random', s['random_best']))
    print()
    print('| space | random genotypes | GMACs | mean ± SE | spread (min–max) | networks not converged |')
    print('|---|---|---|---|---|---|')
    for label, s in spaces.items():
        low, high = s['random_gmacs']
        print(
            f'| {label} | {s["random_count"]} | {low:.3f}–{high:.3f} | {s["random_mean"]:.3f} ± {s["random_se"]:.3f} | '
            f'{s["random_min"]:.3f}–{s["random_max"]:.3f} ({s["random_max"] - s["random_min"]:.2f} dB) | '
            f'{s["unconverged"]} of {s["networks"]} |'
        )
    if args.json:
        os.makedirs(os.path.dirname(args.json) or '.', exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump({'budget': args.budget, 'spaces': spaces}, f, indent=1)


if __name__ == '__main__':
    main()
