"""Prepares Rain800 for deraining: side-by-side images -> paired lq (rainy) / gt (clean) PNG folders
and BasicSR LMDBs with identical keys.

Each Rain800 file holds the clean and the rainy photo side by side. Which half is clean is
set by --clean-side (left, as the CLEARER reference read it); a quick check on a sample
warns when the chosen clean half has more fine detail than the other one, as rain streaks
add exactly that. The arch split is carved from `training` (whole images, --arch-fraction,
--seed); `test_syn` is only ever the test split.
"""

import os
import warnings

import cv2
import numpy as np
import prep_common as pc
from tqdm import tqdm

LAYOUT = """  Rain800/
    training/*.jpg   (700 files) -> train + arch splits
    test_syn/*.jpg   (100 files) -> test split
  each file: two photos of equal width side by side, clean | rainy (or rainy | clean)"""
EPILOG = f"""dataset: Rain800 (Zhang, Sindagi, Patel: ID-CGAN), from its official page:
  https://github.com/hezhangsprinter/ID-CGAN

input layout:
{LAYOUT}

output (in --out):
  train/{{lq,gt}}/*.png, train_lq.lmdb, train_gt.lmdb   (the same for arch and test)
  prepare_info.json

example:
  python scripts/prepare_rain800.py ~/data/Rain800 --clean-side left --arch-fraction 0.1
"""


def side_by_side_pairs(folder, clean_side):
    """Pairs of one Rain800 folder, after checking every file splits into two equal halves."""
    names = pc.list_images(folder)
    if not names:
        raise pc.layout_error(folder, 'no images in this folder', LAYOUT)
    pairs = []
    for name in tqdm(names, desc=f'checking {os.path.basename(folder)}', unit='img', leave=False):
        path = os.path.join(folder, name)
        w, _ = pc.image_size(path)
        if w % 2:
            raise pc.layout_error(path, f'width {w} is odd, so the file is not two equal halves side by side', LAYOUT)
        left, right = pc.Source(path, (0, w // 2)), pc.Source(path, (w // 2, w))
        gt, lq = (left, right) if clean_side == 'left' else (right, left)
        pairs.append(pc.Pair(pc.stem(name), pc.stem(name), lq, gt))
    pc.check_keys([p.key for p in pairs], folder)
    return pairs


def detail(img):
    """Mean |Laplacian| of the gray image: fine detail, which rain streaks raise."""
    return float(np.abs(cv2.Laplacian(pc.to_gray(img).astype(np.float32), cv2.CV_32F)).mean())


def check_clean_side(pairs, clean_side, samples):
    """Warns when, in most of an evenly spread sample, the chosen clean half is the more detailed one."""
    picked = [pairs[i] for i in np.linspace(0, len(pairs) - 1, min(samples, len(pairs))).round().astype(int)]
    rainier = sum(
        detail(pc.load(p.gt)) > detail(pc.load(p.lq))
        for p in tqdm(picked, desc='clean-side check', unit='img', leave=False)
    )
    message = (
        f'clean-side check: the chosen clean side ({clean_side}) has more fine detail (mean |Laplacian|) '
        f'than the other half in {rainier} of {len(picked)} sampled images'
    )
    if rainier * 2 > len(picked):
        other = 'right' if clean_side == 'left' else 'left'
        warnings.warn(
            f'{message}: it looks rainier, so the halves may be swapped. Look at one file and pass '
            f'--clean-side {other} if the {clean_side} half is the rainy one.',
            stacklevel=2,
        )
    else:
        print(message + ': looks right')
    return rainier, len(picked)


def main(argv=None):
    parser = pc.make_parser(__doc__, EPILOG, out_default='datasets/Rain800')
    parser.add_argument('root', help='Rain800 folder (holding training/ and test_syn/)')
    parser.add_argument(
        '--clean-side',
        choices=('left', 'right'),
        default='left',
        help='half of each file that is the clean photo (default: left)',
    )
    parser.add_argument(
        '--check-samples', type=int, default=50, help='images sampled by the clean-side check (default: 50)'
    )
    pc.add_arch_args(parser)
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join('datasets', 'Rain800')

    root = pc.require_dir(os.path.expanduser(args.root), LAYOUT, 'Rain800 folder')
    train_dir = pc.require_dir(os.path.join(root, 'training'), LAYOUT)
    test_dir = pc.require_dir(os.path.join(root, 'test_syn'), LAYOUT)
    train_pairs = side_by_side_pairs(train_dir, args.clean_side)
    test_pairs = side_by_side_pairs(test_dir, args.clean_side)
    check_clean_side(train_pairs + test_pairs, args.clean_side, args.check_samples)
    splits = pc.pair_splits(train_pairs, test_pairs, args.arch_fraction, args.seed, args.out, args.force)
    counts = {s: len(pc.write_pair_split(pairs, args.out, s)) for s, pairs in splits.items()}
    pc.write_info(args.out, 'prepare_rain800.py', args, counts)
    return counts


if __name__ == '__main__':
    pc.run_cli(main)
