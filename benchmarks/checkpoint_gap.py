"""Is a retrain overfitting? PSNR of its saved checkpoints on a few of its own training images
(fixed noise, whole images) beside its held-apart validation set: when the first keeps rising
while the second falls, the network learns its training images, not denoising.

    python benchmarks/checkpoint_gap.py -opt OPTIONS/test_X.yml --experiment experiments/R \\
        --train-images 32 [--every 1] [--json benchmarks/results/checkpoint_gap_X.json]

Reads the retrain's own option file (the one *.yml in experiments/R: its train and val data), runs
clearer-test of the test option file on each models/net_g_<iter>.pth with both sets as its test
sets (results/checkpoint_gap_<R>_<iter>/, reused when present), and prints one row per checkpoint.
The test option file's own test sets are never read: only the retrain's train and val data.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402


def flow(data):
    """A dataset entry as a one-line YAML mapping, for --force_yml."""
    return yaml.safe_dump(data, default_flow_style=True, width=10**6).strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-opt', required=True, help="a test option file of the retrain's network")
    parser.add_argument('--experiment', required=True, help='the retrain folder (models/, its option file)')
    parser.add_argument('--train-images', type=int, default=32, help='training images scored (default 32)')
    parser.add_argument('--every', type=int, default=1, help='every N-th checkpoint, newest included (default 1)')
    parser.add_argument('--json', help='write the rows here')
    args = parser.parse_args(argv)
    run_name = os.path.basename(os.path.normpath(args.experiment))
    owns = glob.glob(os.path.join(args.experiment, '*.yml'))
    if len(owns) != 1:
        raise UserInputError(f"--experiment {args.experiment!r}: expected the retrain's option file (one *.yml) in it")
    if args.train_images < 1 or args.every < 1:
        raise UserInputError('--train-images and --every: expected at least 1')
    from clearer_basicsr.option_file import read_option_file
    from clearer_basicsr.tools.recalibrate_run import checkpoints

    own = read_option_file(owns[0])
    data = own['datasets']
    keep = ('type', 'dataroot_gt', 'io_backend', 'in_ch', 'sigma', 'sigma_range', 'meta_info_file', 'quantize')
    train = {k: v for k, v in data['train'].items() if k in keep}
    if 'sigma_range' in train:  # fixed noise per image, at the middle of the range
        train['sigma'] = sum(train.pop('sigma_range')) / 2
    sets = {
        'train': dict(train, name='train', max_images=args.train_images),
        'held_apart': dict({k: v for k, v in data['val'].items() if k in keep}, name='held_apart'),
    }
    found = checkpoints(args.experiment, own['train']['total_iter'])[::-1][:: args.every][::-1]  # the newest in
    if not found:
        raise UserInputError(f'--experiment {args.experiment!r}: no models/net_g_<iter>.pth in it')
    rows = []
    print(f'{"iteration":>9s} {"train":>8s} {"held apart":>10s} {"gap":>6s}')
    for iteration, path in found:
        name = f'checkpoint_gap_{run_name}_{iteration}'
        metrics = os.path.join('results', name, 'metrics.json')
        if not os.path.isfile(metrics):
            command = [sys.executable, '-m', 'clearer_basicsr.test', '-opt', args.opt, '--force_yml', f'name={name}']
            command += [f'path:pretrain_network_g={path}', 'val:pbar=false']
            command.append('datasets=' + flow({f'test_{i}': d for i, d in enumerate(sets.values(), 1)}))
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                raise UserInputError(f'clearer-test of {path} failed: {done.stderr.strip().splitlines()[-1:]}')
        with open(metrics, encoding='utf-8') as f:
            scored = json.load(f)['datasets']
        row = {'iteration': iteration, **{k: scored[k]['average']['psnr'] for k in sets}}
        rows.append(row)
        gap = row['train'] - row['held_apart']
        print(f'{iteration:9d} {row["train"]:8.3f} {row["held_apart"]:10.3f} {gap:6.2f}')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump({'experiment': args.experiment, 'train_images': args.train_images, 'rows': rows}, f, indent=1)
    return rows


if __name__ == '__main__':
    run(main)
