"""Where a colour network loses: its squared error split between saturated pixels (a channel of
the clean image at 0 or 255) and the rest, beside a gray network run on each opponent colour
channel (clearer-infer --keep_colour), on the same noisy images.

    python benchmarks/colour_saturation.py --colour zoo/clearer_color_s30/test.yml \\
        --gray zoo/clearer_gray_s30/test.yml --data datasets/cbsd432/CBSD68 --sigma 30 [--every 2]

Each network is given by a test option file (network and weights). PSNR as clearer-test computes
it (8-bit output, whole image), averaged over images; the error shares and per-pixel PSNRs are
pooled over all pixels. One thread.
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from clearer_basicsr.inference import by_opponent_channel, restore_whole  # noqa: E402
from clearer_basicsr.tools.trained_net import load_trained_network  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--colour', required=True, help='test option file of a 3-channel network')
    parser.add_argument('--gray', help='test option file of a 1-channel network (run per opponent channel)')
    parser.add_argument('--data', required=True, help='a folder of clean colour images')
    parser.add_argument('--sigma', type=float, required=True)
    parser.add_argument('--every', type=int, default=1, help='every N-th image only')
    args = parser.parse_args(argv)
    from basicsr.data import build_dataset

    import clearer_basicsr  # noqa: F401  (registers the dataset)

    torch.set_num_threads(1)
    nets = {'colour network': load_trained_network(args.colour)}
    if args.gray:
        nets['gray network, each opponent channel'] = load_trained_network(args.gray)
    dataset = build_dataset(
        {'name': 'probe', 'type': 'CLEARERGaussianNoiseDataset', 'dataroot_gt': args.data, 'phase': 'test'}
        | {'io_backend': {'type': 'disk'}, 'in_ch': 3, 'sigma': args.sigma}
    )
    sums = {name: {'psnr': [], 'sat': 0.0, 'rest': 0.0} for name in nets}
    counts = {'sat': 0, 'rest': 0}
    for index in range(0, len(dataset), args.every):
        item = dataset[index]
        gt = item['gt'].numpy()
        saturated = ((gt <= 0.5 / 255) | (gt >= 254.5 / 255)).any(0)
        counts['sat'] += int(saturated.sum())
        counts['rest'] += int((~saturated).sum())
        for name, (net, opt) in nets.items():
            multiple = int((opt.get('val') or {}).get('pad_multiple') or 1)
            restorer = net if net.in_channels == 3 else by_opponent_channel(net)
            with torch.no_grad():
                out = restore_whole(restorer, item['lq'][None], multiple)[0].clamp(0, 1).numpy()
            error = ((np.round(out * 255) / 255 - gt) ** 2).sum(0)
            sums[name]['psnr'].append(10 * np.log10(3 / error.mean()))
            sums[name]['sat'] += float(error[saturated].sum())
            sums[name]['rest'] += float(error[~saturated].sum())
    share = counts['sat'] / (counts['sat'] + counts['rest'])
    print(f'{len(range(0, len(dataset), args.every))} images, sigma {args.sigma:g}: {share:.1%} of pixels saturated')
    for name, s in sums.items():
        sat_psnr = 10 * np.log10(3 * counts['sat'] / s['sat']) if counts['sat'] else float('nan')
        rest_psnr = 10 * np.log10(3 * counts['rest'] / s['rest'])
        sat_share = s['sat'] / (s['sat'] + s['rest'])
        print(
            f'{name:38s} PSNR {np.mean(s["psnr"]):.2f}  saturated pixels: {sat_share:.0%} of the squared error, '
            f'{sat_psnr:.2f} dB there; the rest {rest_psnr:.2f} dB'
        )


if __name__ == '__main__':
    main()
