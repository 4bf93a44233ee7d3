"""Prepares BSDS500 for denoising: clean train / arch / test sets as PNG folders and BasicSR LMDBs.

The noise is added on the fly by the denoising dataset, so only clean images are stored.
BSDS500's `val` becomes the arch split (the one the architecture logits are fitted on, and the
held-apart images of validation curves). --protocol picks where the weights learn:

  clearer   CLEARER's own setting: train <- train/, test <- test/ (the default)
  dncnn     DnCNN's gray protocol: train <- the 400 crops of --train400; no test split of
            BSDS500 (give the test set, BSD68, with --extra-test)
  cbsd432   the colour protocol: train <- train/ and test/ (with val/ they are the 432 images
            of BSDS500 outside CBSD68); no test split (give CBSD68 with --extra-test)

Beware: BSD68 / CBSD68 are 68 images of BSDS500 `val` (the BSD300 test set). Every image of the
splits that train or choose (train, arch) is checked against the --extra-test sets, as a whole
photo or as a crop in any of the 8 flips / rotations; what is found is dropped and named, so no
network is chosen or trained on an image it is then tested on. With dncnn and cbsd432 the arch
split is the 32 `val` images outside the 68.
"""

from __future__ import annotations

import argparse
import os
import re
import warnings

from clearer_basicsr.data.data_util import list_images

from .arguments import add_output_args
from .inputs import LayoutError, check_keys, layout_error, require_dir, require_input, stem
from .outputs import INFO, claim_outputs, write_clean_split, write_info
from .overlap import find_overlaps

SPLITS = {'train': 'train', 'arch': 'val', 'test': 'test'}  # our split <- BSDS500 folder (clearer)
# protocol -> {split: the BSDS500 folders it is made of}; 'train400' stands for --train400
PROTOCOLS = {
    'clearer': {'train': ['train'], 'arch': ['val'], 'test': ['test']},
    'dncnn': {'train': ['train400'], 'arch': ['val']},
    'cbsd432': {'train': ['train', 'test'], 'arch': ['val']},
}
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
  clearer-prepare bsd500 ~/data/BSR --protocol dncnn --train400 ~/data/Train400 --extra-test BSD68=~/data/BSD68
  clearer-prepare bsd500 ~/data/BSR --protocol cbsd432 --extra-test CBSD68=~/data/CBSD68
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
    add_output_args(
        parser,
        out_default='datasets/BSD500/gray or datasets/BSD500/color; datasets/dncnn_gray '
        'with --protocol dncnn, datasets/cbsd432 with --protocol cbsd432',
    )
    parser.add_argument('root', help='BSR folder (or its BSDS500/data/images folder)')
    parser.add_argument(
        '--protocol',
        choices=list(PROTOCOLS),
        default='clearer',
        help='which images train the weights (see above; default: clearer)',
    )
    parser.add_argument(
        '--train400',
        metavar='DIR',
        help="DnCNN's 400 gray 180x180 training crops (needed by --protocol dncnn)",
    )
    parser.add_argument(
        '--gray',
        action='store_true',
        help='store full-range luma 0.299R+0.587G+0.114B as 1-channel PNGs (default: colour; '
        '--protocol dncnn is always gray)',
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
    if (args.train400 is None) == (args.protocol == 'dncnn'):
        parser.error('--protocol dncnn needs --train400 DIR, and --train400 only goes with --protocol dncnn')
    args.gray = args.gray or args.protocol == 'dncnn'
    if args.out is None:
        default = {'dncnn': 'dncnn_gray', 'cbsd432': 'cbsd432'}.get(args.protocol)
        args.out = os.path.join('datasets', default or os.path.join('BSD500', 'gray' if args.gray else 'color'))

    root = require_input(os.path.expanduser(args.root), 'the BSR folder or its BSDS500/data/images folder', 'bsd500')
    images_dir = find_images_dir(root)
    folders = {name: os.path.join(images_dir, name) for name in SPLITS.values()}
    if args.train400:
        folders['train400'] = require_input(os.path.expanduser(args.train400), 'a folder of training images', 'bsd500')
        require_dir(folders['train400'], '  Train400/*.png  (a flat folder of training images)', '--train400 folder')
    split_items = {}
    for split, sources in PROTOCOLS[args.protocol].items():
        split_items[split] = []
        for source in sources:
            items = [(stem(p), os.path.join(folders[source], p)) for p in list_images(folders[source])]
            if not items:
                raise layout_error(folders[source], 'no images in this folder', LAYOUT)
            split_items[split] += items
        check_keys([k for k, _ in split_items[split]], ' + '.join(folders[s] for s in sources))
    extra = parse_extra(args.extra_test, parser)

    if not extra and args.protocol != 'clearer':
        parser.error(f'--protocol {args.protocol} has no test split: give the test set with --extra-test NAME=DIR')
    if extra:
        overlaps = find_overlaps(extra, {s: split_items[s] for s in ('train', 'arch')})
        if not overlaps:
            checked = ' and '.join(f'{len(split_items[s])} {s}' for s in ('train', 'arch'))
            print(f'overlap check: none of the {checked} images is in {", ".join(extra)}, whole or cropped')
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
                    f'({len(split_items[split])} left; --keep-overlap keeps them): {", ".join(sorted(keys))}'
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
