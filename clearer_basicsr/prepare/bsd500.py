"""Prepares BSDS500 for denoising: clean train / arch / test sets as PNG folders and BasicSR LMDBs.

The noise is added on the fly by the denoising dataset, so only clean images are stored.
BSDS500's `val` becomes the arch split (the one the architecture logits are fitted on); the
`test` images are never used for it.

Beware: BSD68 is a subset of BSDS500 `val` (both come from the BSD300 test set). When a test
set given with --extra-test shares images with train or val, those images are dropped from
train / arch, so the search never picks its architecture on images it is then tested on.
"""

from __future__ import annotations

import argparse
import os
import re
import warnings

import cv2
import numpy as np
from tqdm import tqdm

from clearer_basicsr.data.data_util import bgr_to_luma, list_images

from .arguments import add_output_args
from .inputs import LayoutError, check_keys, layout_error, read_image, require_dir, require_input, stem
from .outputs import INFO, claim_outputs, write_clean_split, write_info

SUMMARY = 'BSDS500 for denoising: clean train / arch (val) / test sets'  # its line in clearer-prepare --help
SPLITS = {'train': 'train', 'arch': 'val', 'test': 'test'}  # our split <- BSDS500 folder
LAYOUT = """  BSR/BSDS500/data/images/
    train/*.jpg   (200 images) -> train split (network weights)
    val/*.jpg     (100 images) -> arch split  (architecture logits)
    test/*.jpg    (200 images) -> test split
  Pass the BSR folder or the images folder itself."""
EPILOG = f"""dataset: BSDS500 (Berkeley Segmentation Data Set), from its official page (BSR_bsds500.tgz):
  https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html

input layout:
{LAYOUT}

output (in --out):
  train/*.png, train.lmdb   arch/*.png, arch.lmdb   test/*.png, test.lmdb
  NAME/*.png for each --extra-test NAME=DIR; {INFO}

example:
  clearer-prepare bsd500 ~/data/BSR --gray --extra-test BSD68=~/data/BSD68 --extra-test Set12=~/data/Set12
"""


def find_images_dir(root: str) -> str:
    """The folder holding train/ val/ test/, looked for at the usual depths below ``root``."""
    tried = []
    for sub in ('', 'images', 'data/images', 'BSDS500/data/images', 'BSR/BSDS500/data/images'):
        cand = os.path.normpath(os.path.join(root, sub))
        if not os.path.isdir(cand):
            continue
        missing = [s for s in SPLITS.values() if not os.path.isdir(os.path.join(cand, s))]
        if not missing:
            return cand
        if len(missing) < len(SPLITS):
            tried.append(f'{cand} lacks {", ".join(m + "/" for m in missing)}')
    problem = '; '.join(tried) if tried else 'no train/ val/ test/ image folders found'
    raise layout_error(root, problem, LAYOUT)


def thumbnail(img: np.ndarray) -> np.ndarray:
    """Small gray signature that survives JPEG-vs-PNG and colour-vs-gray differences."""
    return cv2.resize(bgr_to_luma(img), (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def find_overlaps(
    extra_sets: dict[str, list[tuple[str, str]]], split_items: dict[str, list[tuple[str, str]]]
) -> dict[str, dict[str, str]]:
    """Images of the extra test sets that are also in a split: {split: {key: test set}}."""
    sigs = {}  # (h, w) -> list of (split, key, thumbnail)
    for split, items in split_items.items():
        for key, path in tqdm(items, desc=f'overlap check ({split})', unit='img', leave=False):
            img = read_image(path)
            sigs.setdefault(img.shape[:2], []).append((split, key, thumbnail(img)))
    found = {}
    for name, items in extra_sets.items():
        for _, path in items:
            img = read_image(path)
            test_sig = thumbnail(img)
            for split, key, sig in sigs.get(img.shape[:2], []):
                if np.abs(test_sig - sig).mean() < 3:  # different photos differ by tens of levels
                    found.setdefault(split, {})[key] = name
    return found


def parse_extra(specs: list[str], parser: argparse.ArgumentParser) -> dict[str, list[tuple[str, str]]]:
    """{NAME: [(key, path)]} of the --extra-test NAME=DIR sets, each folder checked."""
    extra = {}
    for spec in specs:
        name, sep, folder = spec.partition('=')
        if not sep or not re.fullmatch(r'[A-Za-z0-9_-]+', name) or name in SPLITS:
            parser.error(
                f'--extra-test {spec!r}: expected NAME=DIR with NAME made of letters, digits, _ '
                f'or - and not one of {", ".join(SPLITS)}'
            )
        folder = require_input(
            os.path.expanduser(folder), f'a folder of test images (--extra-test {name}=DIR)', 'bsd500'
        )
        require_dir(folder, '  DIR/*.png|jpg|bmp|tif  (a flat folder of test images)', 'test set folder')
        items = [(stem(p), os.path.join(folder, p)) for p in list_images(folder)]
        if not items:
            raise LayoutError(f'{folder}: no images in this --extra-test folder')
        check_keys([k for k, _ in items], folder)
        extra[name] = items
    return extra


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``clearer-prepare bsd500``."""
    add_output_args(parser, out_default='datasets/BSD500/gray, or datasets/BSD500/color')
    parser.add_argument('root', help='BSR folder (or its BSDS500/data/images folder)')
    parser.add_argument(
        '--gray',
        action='store_true',
        help='store full-range luma 0.299R+0.587G+0.114B as 1-channel PNGs (default: colour)',
    )
    parser.add_argument(
        '--extra-test',
        action='append',
        default=[],
        metavar='NAME=DIR',
        help='also convert this test set into OUT/NAME/ (repeatable), e.g. BSD68=DIR, Set12=DIR, Kodak24=DIR',
    )
    parser.add_argument(
        '--keep-overlap',
        action='store_true',
        help='keep train/val images that also appear in an --extra-test set (with a warning)',
    )


def prepare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, int]:
    """Writes the splits and extra test sets; returns the image count of each."""
    if args.out is None:
        args.out = os.path.join('datasets', 'BSD500', 'gray' if args.gray else 'color')

    root = require_input(os.path.expanduser(args.root), 'the BSR folder or its BSDS500/data/images folder', 'bsd500')
    images_dir = find_images_dir(root)
    split_items = {}
    for split, folder in SPLITS.items():
        folder = os.path.join(images_dir, folder)
        items = [(stem(p), os.path.join(folder, p)) for p in list_images(folder)]
        if not items:
            raise layout_error(folder, 'no images in this folder', LAYOUT)
        check_keys([k for k, _ in items], folder)
        split_items[split] = items
    extra = parse_extra(args.extra_test, parser)

    if extra:
        overlaps = find_overlaps(extra, {s: split_items[s] for s in ('train', 'arch')})
        for split, keys in overlaps.items():
            sets = ', '.join(sorted(set(keys.values())))
            if args.keep_overlap:
                warnings.warn(
                    f'{len(keys)} {split} images also appear in {sets}: kept (--keep-overlap), so '
                    'results on those test images are not on unseen data',
                    stacklevel=2,
                )
            else:
                split_items[split] = [it for it in split_items[split] if it[0] not in keys]
                print(
                    f'{len(keys)} {split} images also appear in {sets}: dropped from {split} '
                    f'({len(split_items[split])} left; --keep-overlap keeps them)'
                )
                if not split_items[split]:
                    raise LayoutError(f'every {split} image also appears in {sets}: nothing left for {split}')

    outputs = [n for s in SPLITS for n in (s, s + '.lmdb')] + list(extra) + [INFO]
    claim_outputs(args.out, outputs, args.force)
    counts = {}
    for split, items in split_items.items():
        counts[split] = len(write_clean_split(items, args.out, split, args.gray))
    for name, items in extra.items():
        counts[name] = len(write_clean_split(items, args.out, name, args.gray, lmdb=False))
    write_info(args.out, 'clearer-prepare bsd500', args, counts)
    return counts
