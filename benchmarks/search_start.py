"""The first iterations of the paper-preset search (options/search_clearer_denoise.yml, batch 32 at
64 px, SGD lr 0.025): the pixel loss step by step with the shipped start and with gentler ones,
against the noisy input's own loss (sigma^2). Writes benchmarks/results/search_start.json.

    python benchmarks/search_start.py [--iters 80] [--warmup 0 20 50]

Run from a folder holding datasets/BSD500/gray (clearer-prepare bsd500 BSR --gray
--extra-test BSD68=BSD68). One thread, one run after another; each run's experiment is
benchmark_search_start_w<N> (removed first).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGMA = 30


def run(iters, warmup, init_std=None):
    name = f'benchmark_search_start_w{warmup}' + (f'_init{init_std:g}' if init_std else '')
    shutil.rmtree(os.path.join('experiments', name), ignore_errors=True)
    overrides = [
        f'name={name}',
        f'train:total_iter={iters}',
        f'train:warmup_iter={warmup if warmup else -1}',
        f'train:arch_warmup_iter={iters - 1}',  # the logits stay frozen, as the reference's first 500
        *([f'network_g:init_std={init_std}'] if init_std else []),
        'logger:print_freq=1',
        f'logger:save_checkpoint_freq={10 * iters}',
        'logger:use_tb_logger=false',
        'datasets:train:num_worker_per_gpu=0',
    ]
    option_file = os.path.join(REPO, 'clearer_basicsr', 'options', 'search_clearer_denoise.yml')
    command = [sys.executable, '-m', 'clearer_basicsr.train', '-opt', option_file, '--force_yml', *overrides]
    subprocess.run(command, check=True, env=dict(os.environ, OMP_NUM_THREADS='1'), stdout=subprocess.DEVNULL)
    with open(os.path.join('experiments', name, 'train_log.jsonl'), encoding='utf-8') as f:
        entries = [json.loads(line) for line in f]
    return {
        'warmup_iter': warmup,
        'init_std': init_std,
        'l_pix': [e['l_pix'] for e in entries],
        'seconds_per_iter': entries[-1]['time'],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iters', type=int, default=80)
    parser.add_argument('--warmup', type=int, nargs='+', default=[0, 50])
    parser.add_argument('--init-std', type=float, help="the weights' init std (default: the file's 0.001)")
    parser.add_argument('--json', default=os.path.join(REPO, 'benchmarks', 'results', 'search_start.json'))
    args = parser.parse_args(argv)
    noisy = (SIGMA / 255) ** 2
    runs = []
    for warmup in args.warmup:
        result = run(args.iters, warmup, args.init_std)
        losses = result['l_pix']
        below = next((i + 1 for i, v in enumerate(losses) if v < noisy), None)
        result.update(peak=max(losses), peak_iter=losses.index(max(losses)) + 1, first_below_noisy=below)
        runs.append(result)
        with open(args.json, 'w', encoding='utf-8') as f:  # after each run: a stopped session keeps the first
            json.dump({'iters': args.iters, 'noisy_mse': noisy, 'runs': runs}, f, indent=1)
        print(
            f'warmup_iter {warmup:>3}, init_std {args.init_std or 0.001:g}: first loss {losses[0]:.3f}, '
            f'peak {result["peak"]:.3g} at iteration {result["peak_iter"]}, '
            f'below the noisy input ({noisy:.4f}) from iteration {below}, last {losses[-1]:.4f} '
            f'({result["seconds_per_iter"]:.1f} s per iteration)',
            flush=True,
        )


if __name__ == '__main__':
    main()
