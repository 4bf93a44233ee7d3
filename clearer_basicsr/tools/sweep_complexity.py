"""The complexity trade-off of CLEARER: search the demo for several lambda_comp values, retrain
each derived net briefly, test it, and plot MACs against PSNR (PNG + CSV).

For every lambda_comp it runs, in the current directory, exactly what a user would type:

    python -m clearer_basicsr.train -opt clearer_basicsr/options/demo_search.yml --force_yml \\
        name=sweep_lc0p5_search train:arch_loss:lambda_comp=0.5 train:total_iter=... ...
    python -m clearer_basicsr.train -opt clearer_basicsr/options/demo_train.yml --force_yml \\
        name=sweep_lc0p5_train network_g:genotype=experiments/sweep_lc0p5_search/genotype.yml ...
    python -m clearer_basicsr.test -opt clearer_basicsr/options/demo_test.yml --force_yml \\
        name=sweep_lc0p5_test network_g:genotype=... path:pretrain_network_g=...

then reads the results with ``clearer_basicsr.compare`` (parameters, MACs at --size, PSNR/SSIM
from the test's metrics.json). A stage whose output already exists is skipped (--rerun to redo),
so an interrupted sweep continues where it stopped.

Search and retrain are shorter than the demo's own by default (--search-iters, --warmup and
--train-iters; see --help for their defaults, and the demo option files for the demo's lengths).

Example (the run in docs/):

    python -m clearer_basicsr.tools.sweep_complexity --lambdas 0 0.1 0.5 2 --threads 1 --out docs/sweep_complexity
"""

from __future__ import annotations

import argparse
import os
import time

from _clearer_basicsr_cli import run
from clearer_basicsr.plots import pyplot, save_figure
from clearer_basicsr.tools.cli import PACKAGE_OPTIONS, doc_parser
from clearer_basicsr.tools.stages import run_stage


def tag(value: float) -> str:
    """A name-safe form of a lambda value: 0.5 -> '0p5' (BasicSR names become folder names)."""
    return f'{value:g}'.replace('.', 'p').replace('-', 'm').replace('+', '')


def sweep_one(lam: float, args: argparse.Namespace) -> dict[str, str]:
    """Search, retrain and test for one lambda_comp; returns the run names."""
    names = {stage: f'{args.prefix}_lc{tag(lam)}_{stage}' for stage in ('search', 'train', 'test')}
    genotype = f'experiments/{names["search"]}/genotype.yml'
    checkpoint = f'experiments/{names["train"]}/models/net_g_latest.pth'
    data = [f'datasets:train:dataroot_gt={args.data}/train.lmdb']
    logs = os.path.join('sweep_logs')
    os.makedirs(logs, exist_ok=True)
    stages = [
        (
            'search',
            'train',
            'demo_search.yml',
            genotype,
            [
                f'name={names["search"]}',
                f'train:arch_loss:lambda_comp={lam}',
                f'train:total_iter={args.search_iters}',
                f'train:scheduler:periods=[{args.search_iters}]',
                f'train:arch_warmup_iter={args.warmup}',
                f'logger:save_checkpoint_freq={args.search_iters}',
                f'train:arch_dataset:dataroot_gt={args.data}/arch.lmdb',
                *data,
            ],
        ),
        (
            'retrain',
            'train',
            'demo_train.yml',
            checkpoint,
            [
                f'name={names["train"]}',
                f'network_g:genotype={genotype}',
                f'train:total_iter={args.train_iters}',
                f'train:scheduler:periods=[{args.train_iters}]',
                f'logger:save_checkpoint_freq={args.train_iters}',
                *data,
            ],
        ),
        (
            'test',
            'test',
            'demo_test.yml',
            f'results/{names["test"]}',
            [
                f'name={names["test"]}',
                f'network_g:genotype={genotype}',
                f'path:pretrain_network_g={checkpoint}',
                f'datasets:test_1:dataroot_gt={args.data}/test',
            ],
        ),
    ]
    for stage, entry, option_file, output, force_yml in stages:
        if os.path.exists(output) and not args.rerun:
            print(f'  {stage}: {output} exists, skipped', flush=True)
            continue
        log_path = os.path.join(logs, f'{names["search"][: -len("_search")]}_{stage}.log')
        run_stage(
            stage,
            entry,
            os.path.join(PACKAGE_OPTIONS, option_file),
            ['--force_yml', *force_yml],
            log_path,
            threads=args.threads,
        )
    return names


def plot(rows: list[dict], path: str, size: int) -> None:
    fig, ax = pyplot().subplots(figsize=(6.4, 4.2))
    ax.plot([r['macs'] / 1e6 for r in rows], [r['psnr'] for r in rows], 'o-', color='tab:blue')
    points = {}  # values that found the same net share one point and one label
    for r in rows:
        points.setdefault((r['genotype'], r['macs'], r['psnr']), []).append(f'{r["lambda_comp"]:g}')
    middle = (min(r['macs'] for r in rows) + max(r['macs'] for r in rows)) / 2e6
    for (genotype, macs, psnr), lambdas in points.items():
        right = macs / 1e6 > middle
        ax.annotate(
            f'λ = {", ".join(lambdas)}\n{genotype}',
            (macs / 1e6, psnr),
            fontsize=7,
            va='bottom' if right else 'top',
            ha='right' if right else 'left',
            xytext=(-6, 5) if right else (6, -5),
            textcoords='offset points',
        )
    ax.set_xlabel(f'MMACs per {size}x{size} forward pass (mmengine)')
    ax.set_ylabel('PSNR (dB), demo test set, sigma 30')
    ax.set_title('CLEARER demo: complexity weight lambda_comp, cost and quality', fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.15, y=0.2)
    save_figure(fig, path, dpi=110)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = doc_parser(__doc__)
    parser.add_argument('--lambdas', type=float, nargs='+', default=[0, 0.1, 0.5, 2], help='lambda_comp values')
    parser.add_argument('--search-iters', type=int, default=150, help='search iterations (default %(default)s)')
    parser.add_argument('--warmup', type=int, default=30, help='iterations with frozen logits (default %(default)s)')
    parser.add_argument('--train-iters', type=int, default=300, help='retrain iterations (default %(default)s)')
    parser.add_argument('--data', default='datasets/demo', help='demo data folder (made if missing)')
    parser.add_argument('--prefix', default='sweep', help='prefix of the experiment names')
    parser.add_argument('--size', type=int, default=256, help='input size for the MACs (default 256)')
    parser.add_argument('--out', default='sweep_complexity', help='output prefix: OUT.csv and OUT.png')
    parser.add_argument('--rerun', action='store_true', help='redo stages whose output exists')
    parser.add_argument(
        '--threads',
        type=int,
        help="torch threads per stage (OMP_NUM_THREADS; default: this shell's, else 1); 1 is much faster on a CPU "
        'shared with other jobs, where OpenMP threads of several processes spin against each other',
    )
    args = parser.parse_args(argv)
    if not 0 < args.warmup < args.search_iters:
        parser.error('--warmup must be between 0 and --search-iters')

    from clearer_basicsr.data.demo_data import make_demo_data
    from clearer_basicsr.search_result import SearchResult
    from clearer_basicsr.tools.compare import collect, write_csv

    make_demo_data(args.data)
    start = time.time()
    rows = []
    for lam in args.lambdas:
        print(f'lambda_comp = {lam:g}', flush=True)
        names = sweep_one(lam, args)
        row = collect([os.path.join('results', names['test'])], size=args.size, latency=False)[0]
        found = SearchResult.in_folder(os.path.join('experiments', names['search']))
        rows.append(
            {
                'lambda_comp': lam,
                'genotype': row['genotype'],
                'params': row['params'],
                'macs': row['macs'],
                'mac_size': row['mac_size'],
                'macs_per_patch': found.macs,
                'patch_size': found.patch_size,
                'fusion_columns': row['genotype'].count('F'),
                'psnr': row['psnr'],
                'ssim': row['ssim'],
                'search': names['search'],
                'test': names['test'],
            }
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_csv(rows, args.out + '.csv', tuple(rows[0]))
    plot(rows, args.out + '.png', args.size)
    print(f'\n{"lambda_comp":>12}  {"genotype":<19}{"params":>10}{"MACs@" + str(args.size):>14}{"PSNR":>8}{"SSIM":>8}')
    for r in rows:
        print(
            f'{r["lambda_comp"]:>12g}  {r["genotype"]:<19}{r["params"]:>10,}{r["macs"]:>14,}{r["psnr"]:>8.2f}'
            f'{r["ssim"]:>8.4f}'
        )
    minutes, seconds = divmod(int(time.time() - start), 60)
    print(f'\nwrote {args.out}.csv and {args.out}.png ({minutes} min {seconds:02d} s)')
    return rows


if __name__ == '__main__':
    run(main)
