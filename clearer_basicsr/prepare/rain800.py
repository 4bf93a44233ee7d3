"""Prepares Rain800 for deraining: side-by-side images -> paired lq (rainy) / gt (clean) PNG folders
and BasicSR LMDBs with identical keys.

Each Rain800 file holds the clean and the rainy photo side by side. Which half is clean is
set by --clean-side (left, as the CLEARER reference read it); a quick check on a sample
warns when the chosen clean half has more fine detail than the other one, as rain streaks
add exactly that. The arch split is carved from `training` (whole images, --arch-fraction,
--seed); `test_syn` is only ever the test split.
"""

from __future__ import annotations

import argparse
import os
import warnings

import cv2
import numpy as np
from tqdm import tqdm

from clearer_basicsr.data.data_util import bgr_to_luma, list_images

from .arguments import add_arch_args, add_output_args
from .inputs import Pair, Source, check_keys, image_size, layout_error, load, require_dir, require_input, stem
from .outputs import INFO, pair_splits, write_info, write_pair_split

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
  {INFO}

example:
  clearer-prepare rain800 ~/data/Rain800 --clean-side left --arch-fraction 0.1
"""


def side_by_side_pairs(folder: str, clean_side: str) -> list[Pair]:
    """Pairs of one Rain800 folder, after checking every file splits into two equal halves."""
    names = list_images(folder)
    if not names:
        raise layout_error(folder, 'no images in this folder', LAYOUT)
    pairs = []
    for name in tqdm(names, desc=f'checking {os.path.basename(folder)}', unit='img', leave=False):
        path = os.path.join(folder, name)
        w, _ = image_size(path)
        if w % 2:
            raise layout_error(path, f'width {w} is odd, so the file is not two equal halves side by side', LAYOUT)
        left, right = Source(path, (0, w // 2)), Source(path, (w // 2, w))
        gt, lq = (left, right) if clean_side == 'left' else (right, left)
        pairs.append(Pair(stem(name), stem(name), lq, gt))
    check_keys([p.key for p in pairs], folder)
    return pairs


def detail(img: np.ndarray) -> float:
    """Mean |Laplacian| of the gray image: fine detail, which rain streaks raise."""
    return float(np.abs(cv2.Laplacian(bgr_to_luma(img).astype(np.float32), cv2.CV_32F)).mean())


def check_clean_side(pairs: list[Pair], clean_side: str, samples: int) -> tuple[int, int]:
    """Warns when, in most of an evenly spread sample, the chosen clean half is the more detailed
    one; returns (images where it is, images sampled)."""
    picked = [pairs[i] for i in np.linspace(0, len(pairs) - 1, min(samples, len(pairs))).round().astype(int)]
    rainier = sum(
        detail(load(p.gt)) > detail(load(p.lq)) for p in tqdm(picked, desc='clean-side check', unit='img', leave=False)
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``clearer-prepare rain800``."""
    add_output_args(parser, out_default='datasets/Rain800')
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
    add_arch_args(parser)


def prepare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, int]:
    """Writes the train / arch / test pairs; returns the pair count of each."""
    args.out = args.out or os.path.join('datasets', 'Rain800')

    root = require_input(
        os.path.expanduser(args.root), 'the Rain800 folder (holding training/ and test_syn/)', 'rain800'
    )
    root = require_dir(root, LAYOUT, 'Rain800 folder')
    train_dir = require_dir(os.path.join(root, 'training'), LAYOUT)
    test_dir = require_dir(os.path.join(root, 'test_syn'), LAYOUT)
    train_pairs = side_by_side_pairs(train_dir, args.clean_side)
    test_pairs = side_by_side_pairs(test_dir, args.clean_side)
    check_clean_side(train_pairs + test_pairs, args.clean_side, args.check_samples)
    splits = pair_splits(train_pairs, test_pairs, args.arch_fraction, args.seed, args.out, args.force)
    counts = {s: len(write_pair_split(pairs, args.out, s)) for s, pairs in splits.items()}
    write_info(args.out, 'clearer-prepare rain800', args, counts)
    return counts
