"""Shared code of the dataset preparation scripts (prepare_bsd500 / rain800 / paired).

Every script works in the same order: find the images, check the whole layout (names,
pairs, sizes) before anything is written, claim the outputs (refusing to replace an
earlier run unless --force), then write each split as lossless PNG folders plus BasicSR
LMDBs holding the same images under the same keys.

The scripts run from a checkout; the package next door is used when it is not installed.
It is imported on first use only (it loads torch and basicsr), so ``--help`` answers at once.
"""

import argparse
import importlib.util
import json
import os
import random
import shutil
import sys
import warnings
from collections import namedtuple

import cv2
import numpy as np
from tqdm import tqdm

if importlib.util.find_spec('clearer_basicsr') is None:  # finding it does not import it
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _clearer_basicsr_cli import UserInputError, run  # noqa: E402  (a leaf: no torch)

# One image region: a file, optionally only the columns [x0, x1) (side-by-side pairs).
Source = namedtuple('Source', 'path cols', defaults=(None,))
# One training pair. Pairs sharing a group (crops of one photo, the 14 rainy versions of one
# clean image, frames of one video) always land in the same split.
Pair = namedtuple('Pair', 'key group lq gt')


class LayoutError(UserInputError):
    """The input does not have the layout a script expects."""


def layout_error(path, problem, expected):
    return LayoutError(f'{path}: {problem}.\nExpected layout:\n{expected}')


# ----------------------------------------------------------------------------- arguments


def make_parser(description, epilog, out_default=None):
    """Argument parser with the options every script shares; without ``out_default`` (a text the
    script turns into the folder after parsing) --out is required."""
    parser = argparse.ArgumentParser(
        description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--out',
        required=out_default is None,
        help='output folder' + (f' (default: {out_default})' if out_default else ''),
    )
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace the outputs of an earlier run in --out (only what this script '
        'writes there; anything else in the folder is left alone)',
    )
    return parser


def fraction(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f'{text} is not in [0, 1)')
    return value


def add_arch_args(parser):
    parser.add_argument(
        '--arch-fraction',
        type=fraction,
        default=0.1,
        help='fraction of the training groups held apart as the arch split, which '
        'the architecture search fits its logits on (default: 0.1; 0 = no arch split)',
    )
    parser.add_argument('--seed', type=int, default=0, help='seed of the arch split draw (default: 0)')


def run_cli(main):
    """Runs ``main(argv)`` as a command (``_clearer_basicsr_cli.run``): what the user can fix, a
    layout or a path named on the command line that is missing or already there, is one
    ``error:`` message and exit status 2, not a traceback."""
    warnings.formatwarning = lambda message, *args, **kwargs: f'warning: {message}\n'

    def main_with_paths(argv):
        try:
            return main(argv)
        except (FileExistsError, FileNotFoundError) as err:
            raise LayoutError(str(err)) from None

    run(main_with_paths)


# ----------------------------------------------------------------------------- files


def list_images(folder, recursive=False):
    """Sorted relative paths of the images in ``folder`` (the package's helper)."""
    # Importing the package also applies its basicsr compatibility fixes, which write_lmdb needs.
    from clearer_basicsr.data.data_util import list_images as list_package_images

    return list_package_images(folder, recursive)


def write_lmdb(folder, lmdb_path, names):
    from clearer_basicsr.data.lmdb_io import write_lmdb as write_package_lmdb

    return write_package_lmdb(folder, lmdb_path, rel_paths=names)


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def require_dir(path, expected, what='folder'):
    if not os.path.isdir(path):
        raise layout_error(path, f'{what} not found', expected)
    return path


def image_size(path):
    """(width, height) read from the file header only."""
    from clearer_basicsr.data.data_util import image_header_size

    try:
        h, w = image_header_size(path)
    except ValueError as err:
        raise LayoutError(f'{path}: {err}') from None
    return w, h


def read_image(path, gray=False):
    """uint8 image: BGR H x W x 3, or full-range luma H x W with ``gray``."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise LayoutError(f'{path}: not a readable image')
    return to_gray(img) if gray else img


def to_gray(bgr):
    """Full-range luma of a BGR image, the package's one definition (PIL's ``convert('L')``)."""
    from clearer_basicsr.data.data_util import bgr_to_luma

    return bgr_to_luma(bgr)


def load(source):
    img = read_image(source.path)
    if source.cols is not None:
        img = img[:, source.cols[0] : source.cols[1]]
    return np.ascontiguousarray(img)


def source_size(source):
    w, h = image_size(source.path)
    if source.cols is not None:
        w = source.cols[1] - source.cols[0]
    return w, h


def save_png(path, img):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, img):
        raise OSError(f'could not write {path}')


# ----------------------------------------------------------------------------- checks


def check_keys(keys, where):
    """Every key can be read back from a BasicSR LMDB (the package's rule, lmdb_key: no '.', white
    space or non-ASCII), and folders need unique names."""
    from clearer_basicsr.data.lmdb_io import lmdb_key
    from clearer_basicsr.errors import UserInputError

    seen = set()
    for key in keys:
        if '/' in key or not key:
            raise LayoutError(f"{where}: image name {key!r} cannot be an LMDB key (no '/' allowed); rename the file")
        try:
            lmdb_key(key + '.png')
        except UserInputError as err:
            raise LayoutError(f'{where}: {err}') from None
        if key in seen:
            raise LayoutError(f'{where}: two images give the key {key!r} (same name, different extension?)')
        seen.add(key)


def check_pairs(pairs, where):
    """Checks keys and that each lq has its gt's size, from the headers, before anything is written."""
    if not pairs:
        raise LayoutError(f'{where}: no image pairs found')
    check_keys([p.key for p in pairs], where)
    for p in tqdm(pairs, desc=f'checking {os.path.basename(where.rstrip(os.sep)) or where}', unit='pair', leave=False):
        lq_size, gt_size = source_size(p.lq), source_size(p.gt)
        if lq_size != gt_size:
            raise LayoutError(
                f'{p.lq.path} ({lq_size[0]}x{lq_size[1]}) and its ground truth {p.gt.path} '
                f'({gt_size[0]}x{gt_size[1]}) differ in size; restoration pairs must match'
            )


def claim_outputs(out_dir, names, force):
    """Refuses to replace an earlier run's outputs unless ``force``; with it, removes just those."""
    existing = [os.path.join(out_dir, n) for n in names if os.path.lexists(os.path.join(out_dir, n))]
    if existing and not force:
        raise FileExistsError('these outputs already exist (pass --force to replace them): ' + ', '.join(existing))
    for path in existing:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    os.makedirs(out_dir, exist_ok=True)


# ----------------------------------------------------------------------------- splits


def carve_arch(groups, fraction, seed):
    """Draws whole groups for the arch split (deterministic for a seed); returns their set."""
    groups = sorted(set(groups))
    if fraction == 0:
        return set()
    n_arch = max(1, round(fraction * len(groups)))
    if n_arch >= len(groups):
        raise LayoutError(
            f'only {len(groups)} training group(s): too few to hold {fraction:.0%} apart as the '
            'arch split and keep some for training'
        )
    return set(random.Random(seed).sample(groups, n_arch))


def pair_splits(train_pairs, test_pairs, fraction, seed, out_dir, force):
    """The train / arch / test pairs, the arch split drawn from the training pairs by whole groups
    (:func:`carve_arch`); claims all three outputs, so a forced rerun without an arch split leaves
    no stale one. Returns the non-empty splits."""
    arch_groups = carve_arch([p.group for p in train_pairs], fraction, seed)
    splits = {
        'train': [p for p in train_pairs if p.group not in arch_groups],
        'arch': [p for p in train_pairs if p.group in arch_groups],
        'test': test_pairs,
    }
    claim_outputs(out_dir, pair_outputs(splits) + ['prepare_info.json'], force)
    return {split: pairs for split, pairs in splits.items() if pairs}


def crop_boxes(h, w, size, step):
    """Top-left corners of size x size crops every ``step`` pixels, the last flush with the border
    (BasicSR's extract_subimages does the same); an image no larger than ``size`` stays whole."""

    def starts(length):
        if length <= size:
            return [0]
        s = list(range(0, length - size + 1, step))
        if s[-1] != length - size:
            s.append(length - size)
        return s

    return [(y, x) for y in starts(h) for x in starts(w)]


# ----------------------------------------------------------------------------- writing


def write_clean_split(items, out_dir, split, gray, lmdb=True):
    """Writes (key, path) images as OUT/split/KEY.png (+ OUT/split.lmdb); returns the keys."""
    folder = os.path.join(out_dir, split)
    names = []
    for key, path in tqdm(items, desc=split, unit='img'):
        save_png(os.path.join(folder, key + '.png'), read_image(path, gray))
        names.append(key + '.png')
    if lmdb:
        write_lmdb(folder, os.path.join(out_dir, split + '.lmdb'), names)
    return [stem(n) for n in names]


def write_pair_split(pairs, out_dir, split, crop_size=None, step=None, keep_folders=True):
    """Writes pairs as OUT/split/{lq,gt}/KEY.png and OUT/split_{lq,gt}.lmdb with identical keys.

    With ``crop_size`` each pair is tiled into aligned crops named KEY_s001, KEY_s002, ...
    Returns the keys written."""
    folders = {side: os.path.join(out_dir, split, side) for side in ('lq', 'gt')}
    names = []
    for p in tqdm(pairs, desc=split, unit='pair'):
        lq, gt = load(p.lq), load(p.gt)
        if lq.shape != gt.shape:
            raise LayoutError(f'{p.lq.path} and {p.gt.path}: decoded sizes differ ({lq.shape} vs {gt.shape})')
        if crop_size:
            boxes = crop_boxes(lq.shape[0], lq.shape[1], crop_size, step or crop_size)
            crops = [
                (f'{p.key}_s{i:03d}', (slice(y, y + crop_size), slice(x, x + crop_size)))
                for i, (y, x) in enumerate(boxes, 1)
            ]
        else:
            crops = [(p.key, (slice(None), slice(None)))]
        for key, box in crops:
            save_png(os.path.join(folders['lq'], key + '.png'), lq[box])
            save_png(os.path.join(folders['gt'], key + '.png'), gt[box])
            names.append(key + '.png')
    for side, folder in folders.items():
        write_lmdb(folder, os.path.join(out_dir, f'{split}_{side}.lmdb'), names)
    if not keep_folders:
        shutil.rmtree(os.path.join(out_dir, split))
    return [stem(n) for n in names]


def pair_outputs(splits):
    """Names (relative to --out) that write_pair_split creates for these splits."""
    return list(splits) + [f'{s}_{side}.lmdb' for s in splits for side in ('lq', 'gt')]


def write_info(out_dir, script, args, counts):
    """OUT/prepare_info.json: how the folder was made (arguments and image counts per split)."""
    info = {'script': script, 'args': vars(args), 'counts': counts}
    with open(os.path.join(out_dir, 'prepare_info.json'), 'w') as f:
        json.dump(info, f, indent=2, sort_keys=True)
    print('wrote ' + ', '.join(f'{split}: {n}' for split, n in counts.items()) + f' -> {out_dir}')
