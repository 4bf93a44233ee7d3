"""Colour photos at sigma 30: the colour zoo entry, the gray entry run on each opponent colour
channel (clearer-infer --keep_colour) and colour BM3D, per test photo (docs/benchmarks.md, the
colour section).

    python benchmarks/zoo_colour.py --json benchmarks/results/zoo_colour.json [--bm3d]

Run from the repository root (the zoo entries' test.yml name the colour test set
datasets/photos/color/test, made by clearer-prepare photos). The noisy images are the test's own
(noise seeded per image). PSNR/SSIM as clearer-test computes them, on whole images without
self-ensemble. --bm3d runs colour BM3D again (about 3 minutes on one core); without it the BM3D
row is the colour entry's card.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402
from clearer_basicsr.inference import by_opponent_channel, restore_whole, score_images  # noqa: E402
from clearer_basicsr.tools.trained_net import load_trained_network  # noqa: E402

ZOO = 'zoo'
METRICS = {
    'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False},
    'ssim': {'type': 'calculate_ssim', 'crop_border': 0, 'test_y_channel': False},
}


def scores(restore, dataset) -> dict[str, dict[str, float]]:
    """Per photo PSNR/SSIM of ``restore`` (a function of the noisy 1 x 3 x H x W tensor)."""
    return score_images(dataset, lambda item: restore(item['lq'][None]), METRICS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--json', help='also write the figures here')
    parser.add_argument('--bm3d', action='store_true', help='run colour BM3D again instead of reading the card')
    args = parser.parse_args(argv)
    from basicsr.data import build_dataset

    import clearer_basicsr  # noqa: F401  (registers the dataset)

    torch.set_num_threads(1)
    colour_file = os.path.join(ZOO, 'clearer_color_s30', 'test.yml')
    if not os.path.isfile(colour_file):
        raise UserInputError(f'{colour_file}: not found; run this from the repository root')
    colour, opt = load_trained_network(colour_file)
    gray, gray_opt = load_trained_network(os.path.join(ZOO, 'clearer_gray_s30', 'test.yml'))
    dataset_opt = dict(next(iter(opt['datasets'].values())), phase='test')
    if not os.path.isdir(dataset_opt['dataroot_gt']):
        raise UserInputError(
            f'{dataset_opt["dataroot_gt"]}: no colour test photos; make them with clearer-prepare photos'
        )
    dataset = build_dataset(dataset_opt)
    multiple = 4  # both entries' pad_multiple
    rows = {
        'noisy input': scores(lambda x: x, dataset),
        'clearer_color_s30': scores(lambda x: restore_whole(colour, x, multiple), dataset),
        'clearer_gray_s30, each opponent channel (--keep_colour)': scores(
            lambda x: restore_whole(by_opponent_channel(gray), x, multiple), dataset
        ),
    }
    if args.bm3d:
        from clearer_basicsr.tools.bm3d_reference import score_dataset

        rows['colour BM3D'] = score_dataset(dataset_opt, METRICS)['images']
    names = list(rows['noisy input'])
    print(f'{"":58s} {"PSNR":>6s} {"SSIM":>6s}  ' + ' '.join(f'{n[:11]:>11s}' for n in names))
    summary = {}
    for label, per_image in rows.items():
        psnr = float(np.mean([per_image[n]['psnr'] for n in names]))
        ssim = float(np.mean([per_image[n]['ssim'] for n in names]))
        summary[label] = {'psnr': psnr, 'ssim': ssim, 'images': per_image}
        print(f'{label:58s} {psnr:6.2f} {ssim:6.4f}  ' + ' '.join(f'{per_image[n]["psnr"]:11.2f}' for n in names))
    if not args.bm3d:
        with open(os.path.join(ZOO, 'clearer_color_s30', 'card.yml')) as f:
            card = yaml.safe_load(f)
        print(f'{"colour BM3D (the entry card)":58s} {card["bm3d_psnr"]:6.2f} {card["bm3d_ssim"]:6.4f}')
        summary['colour BM3D (card)'] = {'psnr': card['bm3d_psnr'], 'ssim': card['bm3d_ssim']}
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'test_set': dataset_opt['dataroot_gt'], 'rows': summary}, f, indent=1)
    return summary


if __name__ == '__main__':
    run(main)
