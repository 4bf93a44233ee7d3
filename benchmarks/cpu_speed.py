"""CPU milliseconds per megapixel, one thread, of the zoo entries tested on BSD68 / CBSD68 beside
BM3D (gray) and colour BM3D on the same noisy images: the speed column of docs/benchmarks.md.

Each zoo entry whose card names BSD68 or CBSD68 restores the first ``--images`` images of its own
test set (whole images, as clearer-test, no self-ensemble); BM3D and colour BM3D (the ``bm3d``
package, at the set's sigma) denoise the same noisy images. Each image is timed once after one
untimed warm-up image; the figure is the total time over the total megapixels. Run it on an idle
machine: it pins torch, OpenMP and BLAS to one thread.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/cpu_speed.py \\
        [--images 8] [--json benchmarks/results/cpu_speed.json] [--entries NAME ...]
"""

import argparse
import functools
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402

SETS = ('BSD68', 'CBSD68')


def timed(work, items):
    """Total seconds of ``work(item)`` over ``items`` after one untimed call on the first."""
    work(items[0])
    start = time.perf_counter()
    for item in items:
        work(item)
    return time.perf_counter() - start


def restore(net, multiple, item):
    from clearer_basicsr.inference import restore_whole

    return restore_whole(net, item['lq'][None], multiple)


def denoise(sigma, colour, item):
    """BM3D (colour BM3D for a colour image) at ``sigma`` on the 0-1 scale."""
    import bm3d

    noisy = item['lq'].permute(1, 2, 0).numpy()
    return bm3d.bm3d_rgb(noisy, sigma) if colour else bm3d.bm3d(noisy[..., 0], sigma)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=int, default=8, help='images of each test set timed (default 8)')
    parser.add_argument('--json', help='write the figures here')
    parser.add_argument(
        '--entries', nargs='+', metavar='NAME', help='time only these entries; --json keeps the rows of the others'
    )
    args = parser.parse_args(argv)
    if args.images < 1:
        raise UserInputError('--images: expected at least 1')
    for name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        if os.environ.get(name) != '1':
            raise UserInputError(f'{name}=1 expected in the environment (BM3D and torch on one thread each)')

    import torch
    from basicsr.data import build_dataset

    import clearer_basicsr  # noqa: F401  (registers the dataset)
    from clearer_basicsr.tools.trained_net import trained_network
    from clearer_basicsr.tools.zoo import entries, entry_options, read_card

    torch.set_num_threads(1)
    unknown = sorted(set(args.entries or ()) - set(entries()))
    if unknown:
        raise UserInputError(f'--entries: no zoo entry named {", ".join(unknown)} (clearer-zoo list names them)')
    results = {}
    if args.entries and args.json and os.path.isfile(args.json):
        with open(args.json, encoding='utf-8') as f:
            results = {k: v for k, v in json.load(f).items() if k not in args.entries}
    for name in args.entries or entries():
        card = read_card(name)
        if not any(card['test_set'].startswith(s + ',') for s in SETS):
            continue
        opt = entry_options(name)
        tested = list(opt['datasets'].values())  # a blind entry's: its sigma-25 set, as its card's main figures
        dataset_opt = next((d for d in tested if d.get('sigma') == 25), tested[0])
        dataset = build_dataset(dict(dataset_opt, phase='test'))
        items = [dataset[i] for i in range(min(args.images, len(dataset)))]
        megapixels = sum(item['gt'].shape[-2] * item['gt'].shape[-1] for item in items) / 1e6
        net, _ = trained_network(opt, name)
        multiple = int((opt.get('val') or {}).get('pad_multiple') or 1)
        with torch.no_grad():
            seconds = timed(functools.partial(restore, net, multiple), items)
        colour = items[0]['lq'].shape[0] == 3
        reference = 'colour BM3D' if colour else 'BM3D'
        bm3d_seconds = timed(functools.partial(denoise, float(dataset_opt['sigma']) / 255, colour), items)
        results[name] = {
            'set': dataset_opt['name'],
            'images': len(items),
            'megapixels': round(megapixels, 4),
            'ms_per_mp': round(1000 * seconds / megapixels, 1),
            reference.replace(' ', '_') + '_ms_per_mp': round(1000 * bm3d_seconds / megapixels, 1),
        }
        print(
            f'{name:22s} {dataset_opt["name"]:12s} {results[name]["ms_per_mp"]:9.1f} ms/MP; '
            f'{reference} on the same {len(items)} images {1000 * bm3d_seconds / megapixels:9.1f} ms/MP'
        )
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(dict(sorted(results.items())), f, indent=1)
    return results


if __name__ == '__main__':
    run(main)
