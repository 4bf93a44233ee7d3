"""The field's benchmarks (BSD68 gray, CBSD68 colour): published figures beside the project's
measured BM3D / colour BM3D and every zoo entry tested there; writes the table and the
PSNR-against-GMACs plot of docs/benchmarks.md.

    python benchmarks/field_benchmarks.py [--out docs/benchmarks]

Reads benchmarks/records/results/protocol_*_bm3d/metrics.json (BM3D on the same noisy images, made by
python -m clearer_basicsr.tools.bm3d_reference -opt benchmarks/protocol/{bsd68,cbsd68}.yml) and the
zoo cards whose test set is BSD68 or CBSD68. Published figures are data, with their sources.
"""

import argparse
import glob
import json
import os
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# GMACs per 256x256 from each architecture as its paper describes it (multiply-adds of the convs):
# DnCNN-S 17 conv layers of 64 channels; CDnCNN-B 20 layers; FFDNet at half resolution (gray: 15
# layers of 64 channels on 5 inputs; colour: 12 of 96 on 15); TNRD 5 stages of 48 7x7 filters,
# each applied and transposed. BM3D is not a network: it is drawn as a line.
PUBLISHED = [
    # set, method, params, GMACs/256^2, {sigma: PSNR}, source
    ('BSD68', 'BM3D', None, None, {15: 31.07, 25: 28.57, 50: 25.62}, 'DnCNN README'),
    ('BSD68', 'TNRD', 27_000, 1.54, {15: 31.42, 25: 28.92, 50: 25.97}, 'DnCNN README'),
    ('BSD68', 'DnCNN-S', 556_000, 36.3, {15: 31.73, 25: 29.23, 50: 26.23}, 'DnCNN README'),
    ('BSD68', 'FFDNet', 485_000, 7.9, {15: 31.63, 25: 29.19, 50: 26.29}, 'FFDNet paper, Table 2'),
    ('CBSD68', 'CBM3D', None, None, {25: 30.71, 50: 27.38}, 'DnCNN paper, Table 4'),
    ('CBSD68', 'CDnCNN-B', 668_000, 43.7, {25: 31.31, 50: 28.01}, 'DnCNN paper, Table 4'),
    ('CBSD68', 'FFDNet', 852_000, 14.0, {25: 31.21, 50: 27.96}, 'FFDNet paper, Table 3'),
]


def measured_bm3d():
    """{(set, sigma): PSNR} of the project's BM3D / colour BM3D records."""
    found = {}
    for name in ('protocol_bsd68_bm3d', 'protocol_cbsd68_bm3d'):  # the first noise draw, every network's
        path = os.path.join(REPO, 'benchmarks', 'records', 'results', name, 'metrics.json')
        if not os.path.isfile(path):
            continue
        with open(path, encoding='utf-8') as f:
            report = json.load(f)
        for name, result in report['datasets'].items():
            test_set, sigma = name.rsplit('_s', 1)
            found[(test_set, int(sigma))] = result['average']['psnr']
    return found


def zoo_rows():
    """The zoo entries tested on BSD68 / CBSD68: (set, name, params, GMACs, {sigma: PSNR}, card)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(REPO, 'clearer_basicsr', 'zoo', '*', 'card.yml'))):
        with open(path, encoding='utf-8') as f:
            card = yaml.safe_load(f)
        test_set = card['test_set'].split(',')[0].split()[0]
        if test_set in ('BSD68', 'CBSD68'):
            by_sigma = card.get('by_sigma') or {card['sigma']: {'psnr': card['psnr']}}  # a blind entry's levels
            scores = {s: v['psnr'] for s, v in by_sigma.items()}
            name = os.path.basename(os.path.dirname(path))
            rows.append((test_set, name, card['params'], card['gmacs_256'], scores, card))
    return rows


def cpu_speed():
    """benchmarks/cpu_speed.py's figures: {zoo entry: ms/MP} and {set: BM3D's ms/MP on the same images}."""
    path = os.path.join(REPO, 'benchmarks', 'results', 'cpu_speed.json')
    if not os.path.isfile(path):
        return {}, {}
    with open(path, encoding='utf-8') as f:
        found = json.load(f)
    entries = {name: row['ms_per_mp'] for name, row in found.items()}
    bm3d = {}
    for row in found.values():  # every entry timed BM3D on its images: the first of each set is kept
        reference = next(v for k, v in row.items() if k.endswith('BM3D_ms_per_mp'))
        bm3d.setdefault(row['set'].rsplit('_s', 1)[0], reference)
    return entries, bm3d


def table(bm3d, zoo):
    speed, bm3d_speed = cpu_speed()
    lines = [
        '| set | method | params | GMACs (256x256) | CPU ms/MP, 1 thread | sigma 15 | sigma 25 | sigma 50 | source |',
        '|---|---|---:|---:|---:|---:|---:|---:|---|',
    ]

    def ms(value):
        return f'{value:,.0f}' if value else ''

    def cells(scores):
        return [f'{scores[s]:.2f}' if s in scores else '' for s in (15, 25, 50)]

    for test_set, method, params, gmacs, scores, source in PUBLISHED:
        size = [f'{params:,}' if params else '', f'{gmacs:g}' if gmacs else '']
        lines.append('| ' + ' | '.join([test_set, method, *size, '', *cells(scores), f'published ({source})']) + ' |')
    for test_set in ('BSD68', 'CBSD68'):
        scores = {s: v for (t, s), v in bm3d.items() if t == test_set}
        if scores:
            method = 'BM3D' if test_set == 'BSD68' else 'CBM3D'
            lines.append(
                f'| {test_set} | {method} | | | {ms(bm3d_speed.get(test_set))} | '
                + ' | '.join(cells(scores))
                + ' | measured here (bm3d package) |'
            )
    for test_set, name, params, gmacs, scores, _ in zoo:
        lines.append(
            f'| {test_set} | {name} | {params:,} | {gmacs:.2f} | {ms(speed.get(name))} | '
            + ' | '.join(cells(scores))
            + ' | this zoo |'
        )
    return lines


def plot(bm3d, zoo, path):
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, test_set in zip(axes, ('BSD68', 'CBSD68')):
        for row_set, method, _, gmacs, scores, _ in PUBLISHED:
            if row_set != test_set or 25 not in scores:
                continue
            if gmacs is None:
                ax.axhline(scores[25], color='gray', ls=':', lw=1)
                ax.annotate(f'{method} (published)', (0.3, scores[25]), fontsize=8, va='bottom', color='gray')
            else:
                ax.scatter(gmacs, scores[25], color='tab:blue', marker='s')
                ax.annotate(method, (gmacs, scores[25]), fontsize=8, xytext=(4, -10), textcoords='offset points')
        if (test_set, 25) in bm3d:
            ax.axhline(bm3d[(test_set, 25)], color='tab:green', ls='--', lw=1)
            label = 'BM3D' if test_set == 'BSD68' else 'CBM3D'
            ax.annotate(
                f'{label} (measured here)', (0.3, bm3d[(test_set, 25)]), fontsize=8, va='top', color='tab:green'
            )
        for row_set, name, _, gmacs, scores, _ in zoo:
            if row_set == test_set and 25 in scores:
                ax.scatter(gmacs, scores[25], color='tab:red', marker='o')
                ax.annotate(name, (gmacs, scores[25]), fontsize=8, xytext=(4, 4), textcoords='offset points')
        ax.set_xscale('log')
        ax.set_xlim(0.25, 100)
        ax.set_xlabel('GMACs per 256x256 (log scale)')
        ax.set_ylabel('PSNR (dB), sigma 25')
        ax.set_title(f'{test_set}, sigma 25: blue published, red this zoo')
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=os.path.join(REPO, 'docs', 'benchmarks'), help='path prefix of the .png')
    args = parser.parse_args(argv)
    bm3d, zoo = measured_bm3d(), zoo_rows()
    lines = table(bm3d, zoo)
    print('\n'.join(lines))
    for (test_set, sigma), value in sorted(bm3d.items()):
        published = next(r[4].get(sigma) for r in PUBLISHED if r[0] == test_set and r[1] in ('BM3D', 'CBM3D'))
        if published is not None:
            gap = value - published
            print(f'{test_set} sigma {sigma}: measured {value:.2f} dB, published {published:.2f} ({gap:+.2f})')
    plot(bm3d, zoo, args.out + '.png')
    print(f'wrote {args.out}.png')
    return lines


if __name__ == '__main__':
    sys.exit(main() and 0)
