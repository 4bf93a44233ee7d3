"""Prepares paired restoration data (lq = degraded, gt = clean) as PNG folders and BasicSR LMDBs
with identical keys: Rain100L/H, Rain1400, SIDD, GoPro, or any two folders of matching names.

The arch split is carved from the training pairs by whole groups (one clean image with all
its rainy versions, one SIDD scene, one GoPro video), so near-duplicates never straddle
train and arch; the test split comes only from --test. Large images (SIDD, GoPro) can be
tiled into aligned crops for train / arch with --crop-size; test images stay whole.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable

from clearer_basicsr.data.data_util import list_images

from .arguments import add_arch_args, add_output_args
from .inputs import LayoutError, Pair, Source, check_pairs, layout_error, require_dir, require_input, stem
from .outputs import INFO, pair_splits, write_info, write_pair_split

LAYOUTS = {
    'generic': '  --lq DIR and --gt DIR holding the same file names (extensions may differ, subfolders allowed);\n'
    '  --test-lq / --test-gt likewise for a test split',
    'rain100': '  DIR/rain-ID.png with DIR/norain-ID.png (Rain100L/H, RainTrainL/H; subfolders allowed;\n'
    "  JORDER's rain/X2/norain-IDx2.png with norain/norain-ID.png also works)",
    'rain1400': '  DIR/rainy_image/N_K.jpg (K = 1..14) with DIR/ground_truth/N.jpg\n'
    "  (Rain1400's training/ as --train, testing/ as --test)",
    'sidd': '  DIR/Data/<scene>/NOISY_SRGB_XXX.PNG with DIR/Data/<scene>/GT_SRGB_XXX.PNG\n'
    '  (DIR = SIDD_Small_sRGB_Only, or its Data folder)',
    'gopro': '  DIR/<sequence>/blur/*.png with DIR/<sequence>/sharp/*.png\n'
    '  (GOPRO_Large/train as --train, GOPRO_Large/test as --test)',
}
OFFICIAL_PAGES = {  # where each dataset is downloaded
    'rain100': 'Rain100L/H (Yang et al., JORDER): https://www.icst.pku.edu.cn/struct/Projects/joint_rain_removal.html',
    'rain1400': 'Rain1400 (Fu et al., DDN): https://xueyangfu.github.io/projects/cvpr2017.html',
    'sidd': 'SIDD (Abdelhamed et al.): https://abdokamel.github.io/sidd/',
    'gopro': 'GoPro (Nah et al.): https://seungjunnah.github.io/Datasets/gopro',
}
EPILOG = (
    'layouts (--layout):\n'
    + '\n'.join(
        f'{name}:\n{text}' + (f'\n  official page: {OFFICIAL_PAGES[name]}' if name in OFFICIAL_PAGES else '')
        for name, text in LAYOUTS.items()
    )
    + f"""

output (in --out):
  train/{{lq,gt}}/*.png, train_lq.lmdb, train_gt.lmdb   (the same for arch and test)
  {INFO}

examples:
  clearer-prepare paired --layout rain100 --train RainTrainL --test Rain100L --out datasets/Rain100L
  clearer-prepare paired --layout sidd --train SIDD_Small_sRGB_Only --crop-size 512 --out datasets/SIDD
  clearer-prepare paired --layout generic --lq input --gt target --out datasets/mine
"""
)
# A degraded image before pairing: (key, group, id of its ground truth, path).
Degraded = tuple[str, str, str, str]


def pair_up(lqs: list[Degraded], gts: dict[str, str], where: str, expected: str) -> list[Pair]:
    """lqs: (key, group, gt id, path) tuples; gts: {gt id: path}. Every lq needs its gt."""
    missing = [(path, gt_id) for _, _, gt_id, path in lqs if gt_id not in gts]
    if missing:
        examples = '; '.join(f'{path} (no ground truth {gt_id!r})' for path, gt_id in missing[:3])
        raise layout_error(where, f'{len(missing)} degraded image(s) without a ground truth, e.g. {examples}', expected)
    unused = len(set(gts) - {gt_id for _, _, gt_id, _ in lqs})
    if unused:
        print(f'note: {where}: {unused} ground-truth image(s) have no degraded partner and are skipped')
    return [Pair(key, group, Source(path), Source(gts[gt_id])) for key, group, gt_id, path in lqs]


def by_stem(folder: str, recursive: bool = True) -> dict[str, str]:
    """{relative path without extension: path}; two files differing only in extension are an error."""
    found = {}
    for rel in list_images(folder, recursive=recursive):
        ident = os.path.splitext(rel)[0]
        if ident in found:
            raise LayoutError(f'{folder}: both {found[ident]} and {rel} exist; which one is meant?')
        found[ident] = os.path.join(folder, rel)
    return found


def find_generic(lq_dir: str, gt_dir: str) -> list[Pair]:
    """Pairs of two folders holding the same names."""
    expected = LAYOUTS['generic']
    require_dir(lq_dir, expected, 'lq folder')
    require_dir(gt_dir, expected, 'gt folder')
    lqs = [(ident.replace(os.sep, '_'), ident, ident, path) for ident, path in by_stem(lq_dir).items()]
    if not lqs:
        raise layout_error(lq_dir, 'no images in this folder', expected)
    return pair_up(lqs, by_stem(gt_dir), lq_dir, expected)


def find_rain100(folder: str) -> list[Pair]:
    """Pairs rain-ID with norain-ID (and JORDER's norain-IDx2 with norain-ID)."""
    expected = LAYOUTS['rain100']
    require_dir(folder, expected)
    lqs, gts = [], {}
    for rel in list_images(folder, recursive=True):
        name, path = stem(rel), os.path.join(folder, rel)
        rainy = re.fullmatch(r'norain-(.+)x2', name) or re.fullmatch(r'rain-(.+)', name)
        clean = re.fullmatch(r'norain-(.+)', name)
        if rainy:
            lqs.append((rainy.group(1), rainy.group(1), rainy.group(1), path))
        elif clean:
            if clean.group(1) in gts:
                raise LayoutError(
                    f'{folder}: two clean images for ID {clean.group(1)!r}: {gts[clean.group(1)]} and {path}'
                )
            gts[clean.group(1)] = path
    if not lqs:
        raise layout_error(folder, 'no rain-ID images found', expected)
    return pair_up(lqs, gts, folder, expected)


def find_rain1400(folder: str) -> list[Pair]:
    """Pairs rainy_image/N_K with ground_truth/N, grouped by N."""
    expected = LAYOUTS['rain1400']
    rainy_dir = require_dir(os.path.join(folder, 'rainy_image'), expected)
    clean_dir = require_dir(os.path.join(folder, 'ground_truth'), expected)
    lqs = []
    for rel in list_images(rainy_dir):
        match = re.fullmatch(r'(.+)_(\d+)', stem(rel))
        if not match:
            raise layout_error(os.path.join(rainy_dir, rel), 'name is not N_K', expected)
        lqs.append((stem(rel), match.group(1), match.group(1), os.path.join(rainy_dir, rel)))
    if not lqs:
        raise layout_error(rainy_dir, 'no images in this folder', expected)
    return pair_up(lqs, by_stem(clean_dir, recursive=False), rainy_dir, expected)


def subfolders(folder: str, what: str, expected: str) -> list[str]:
    """The sorted sub-folders of ``folder`` (one per scene or sequence); a layout error when none."""
    require_dir(folder, expected)
    found = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not found:
        raise layout_error(folder, f'no {what} folders found', expected)
    return found


def find_sidd(folder: str) -> list[Pair]:
    """Pairs NOISY_SRGB_X with GT_SRGB_X in each scene folder, grouped by scene number."""
    expected = LAYOUTS['sidd']
    data = os.path.join(folder, 'Data') if os.path.isdir(os.path.join(folder, 'Data')) else folder
    scenes = subfolders(data, 'scene', expected)
    lqs, gts = [], {}
    for scene in scenes:
        # Folder names are <instance>_<scene>_<phone>_...: instances of one scene (other phones,
        # other ISO) show the same objects, so the scene number is the group.
        number = re.match(r'\d+_(\d+)_', scene)
        group = number.group(1) if number else scene
        for rel in list_images(os.path.join(data, scene)):
            name, path = stem(rel), os.path.join(data, scene, rel)
            noisy, clean = re.fullmatch(r'NOISY_SRGB_(\w+)', name), re.fullmatch(r'GT_SRGB_(\w+)', name)
            if noisy:
                lqs.append((f'{scene}_{noisy.group(1)}', group, f'{scene}/{noisy.group(1)}', path))
            elif clean:
                gts[f'{scene}/{clean.group(1)}'] = path
    if not lqs:
        raise layout_error(data, 'no NOISY_SRGB_* images in the scene folders', expected)
    return pair_up(lqs, gts, data, expected)


def find_gopro(folder: str) -> list[Pair]:
    """Pairs blur/X with sharp/X in each sequence folder, grouped by sequence."""
    expected = LAYOUTS['gopro']
    seqs = subfolders(folder, 'sequence', expected)
    lqs, gts = [], {}
    for seq in seqs:
        blur = require_dir(os.path.join(folder, seq, 'blur'), expected)
        sharp = require_dir(os.path.join(folder, seq, 'sharp'), expected)
        gts.update({f'{seq}/{ident}': path for ident, path in by_stem(sharp, recursive=False).items()})
        lqs += [
            (f'{seq}_{ident}', seq, f'{seq}/{ident}', path) for ident, path in by_stem(blur, recursive=False).items()
        ]
    return pair_up(lqs, gts, folder, expected)


FINDERS: dict[str, Callable[[str], list[Pair]]] = {
    'rain100': find_rain100,
    'rain1400': find_rain1400,
    'sidd': find_sidd,
    'gopro': find_gopro,
}
FOLDER_FLAGS = ('train', 'test', 'lq', 'gt', 'test_lq', 'test_gt')  # the flags that name an input folder


def find_splits(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[list[Pair], list[Pair]]:
    """(train pairs, test pairs or []) from the folders the arguments name."""
    generic = args.layout == 'generic'
    if generic and (args.train or args.test):
        parser.error('--layout generic takes --lq/--gt (and --test-lq/--test-gt), not --train/--test')
    if not generic and (args.lq or args.gt or args.test_lq or args.test_gt):
        parser.error(f'--layout {args.layout} takes --train (and --test), not --lq/--gt')
    if generic:
        if not (args.lq and args.gt):
            parser.error('--layout generic needs --lq DIR and --gt DIR')
        if bool(args.test_lq) != bool(args.test_gt):
            parser.error('--test-lq and --test-gt go together')
    elif not args.train:
        parser.error(f'--layout {args.layout} needs --train DIR')
    for flag in FOLDER_FLAGS:
        if getattr(args, flag):
            option = '--' + flag.replace('_', '-')
            require_input(getattr(args, flag), f'a folder in the {args.layout} layout ({option})', 'paired')
    if generic:
        train = find_generic(args.lq, args.gt)
        test = find_generic(args.test_lq, args.test_gt) if args.test_lq else []
        folders = [args.lq, args.test_lq]
    else:
        train = FINDERS[args.layout](args.train)
        test = FINDERS[args.layout](args.test) if args.test else []
        folders = [args.train, args.test]
    if folders[1] and os.path.realpath(folders[0]) == os.path.realpath(folders[1]):
        raise LayoutError(f'{folders[0]}: given as both the training and the test folder')
    check_pairs(train, folders[0])
    if test:
        check_pairs(test, folders[1])
    return train, test


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``clearer-prepare paired``."""
    add_output_args(parser)
    parser.add_argument('--layout', choices=['generic', *FINDERS], required=True, help='input layout (see below)')
    parser.add_argument('--train', help='training folder (preset layouts)')
    parser.add_argument('--test', help='test folder in the same layout (optional)')
    parser.add_argument('--lq', help='degraded training images (generic layout)')
    parser.add_argument('--gt', help='clean training images (generic layout)')
    parser.add_argument('--test-lq', help='degraded test images (generic layout, optional)')
    parser.add_argument('--test-gt', help='clean test images (generic layout, optional)')
    add_arch_args(parser)
    parser.add_argument('--crop-size', type=int, help='tile train/arch pairs into aligned crops of this size')
    parser.add_argument('--step', type=int, help='distance between crops (default: --crop-size, no overlap)')
    parser.add_argument(
        '--lmdb-only',
        action='store_true',
        help='delete the train/arch PNG folders once their LMDBs are written (test stays)',
    )


def prepare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, int]:
    """Writes the train / arch / test pairs (train and arch tiled with --crop-size); returns the
    pair count of each."""
    for name in ('crop_size', 'step'):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f'--{name.replace("_", "-")} must be positive')
    if args.step and not args.crop_size:
        parser.error('--step needs --crop-size')

    train, test = find_splits(args, parser)
    splits = pair_splits(train, test, args.arch_fraction, args.seed, args.out, args.force)
    counts = {}
    for split, pairs in splits.items():
        whole = split == 'test'  # metrics are computed on whole test images
        crop = None if whole else args.crop_size
        keys = write_pair_split(pairs, args.out, split, crop, args.step, keep_folders=whole or not args.lmdb_only)
        counts[split] = len(keys)
    write_info(args.out, 'clearer-prepare paired', args, counts)
    return counts
