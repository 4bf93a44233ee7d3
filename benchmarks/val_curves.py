"""Validation curves of training runs, side by side: where each flattens, and whether it converged.

    python benchmarks/val_curves.py experiments/photos_curve_30k experiments/photos_curve_10k \
        --out docs/retrain_curve.png

For each run folder (it holds val_log.jsonl): the PSNR at every validation, its best, the gain
over the last 20 % of its iterations (converged: under 0.05 dB), and the first iteration at
which the curve comes within 0.1 dB of its best. Draws PSNR against iterations.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402
from clearer_basicsr.convergence import CONVERGED_DB, gain_last_share, is_converged  # noqa: E402
from clearer_basicsr.plots import pyplot, save_figure  # noqa: E402
from clearer_basicsr.run_files import read_metrics, val_curve  # noqa: E402

FLAT_DB = 0.1  # "flattened": within this of the best validation


def flattens_at(curve, within=FLAT_DB):
    """The first iteration whose validation lies within ``within`` dB of the curve's best."""
    best = max(v for _, v in curve)
    return next(it for it, v in curve if v >= best - within)


def total_iterations(folder, curve):
    try:
        return int(read_metrics(folder)['convergence']['total_iter'])
    except (OSError, KeyError, TypeError, ValueError):
        return curve[-1][0]


def verdict(gain):
    """The rule's answer, naming a curve that fell: converged by the rule, yet below its own best."""
    if not is_converged(gain):
        return 'no'
    return f'yes, but fell {gain:+.2f} dB' if gain <= -CONVERGED_DB else 'yes'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', help='experiment folders holding val_log.jsonl')
    parser.add_argument('--out', help='the plot (PNG)')
    parser.add_argument(
        '--title', default='Retrain recipe: PSNR against iterations (Adam 2e-3, cosine to the last iteration)'
    )
    args = parser.parse_args(argv)
    curves = {folder: val_curve(folder) for folder in args.runs}
    for folder, curve in curves.items():
        if not curve:
            raise UserInputError(f'{folder}: no val_log.jsonl with a PSNR (a run with val: val_freq writes one)')
    fig, ax = pyplot().subplots(figsize=(7.5, 4.2))
    print('| run | iterations | final PSNR | best (at) | gain last 20 % | converged | first within 0.1 dB of best |')
    print('|---|---|---|---|---|---|---|')
    for folder, curve in curves.items():
        total = total_iterations(folder, curve)
        gain = gain_last_share(curve, total)
        best = max(curve, key=lambda p: p[1])
        name = os.path.basename(os.path.normpath(folder))
        print(
            f'| {name} | {total:,} | {curve[-1][1]:.2f} | {best[1]:.2f} ({best[0]:,}) | {gain:+.3f} | '
            f'{verdict(gain)} | {flattens_at(curve):,} |'
        )
        its, values = zip(*curve)
        ax.plot(its, values, marker='.', linewidth=1, label=f'{name} ({total:,} iterations)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('validation PSNR (dB), held-apart photos')
    ax.set_title(args.title, fontsize=9)
    ax.legend(fontsize=8)
    if args.out:
        save_figure(fig, args.out, dpi=110)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    run(main)
