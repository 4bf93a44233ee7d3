"""What a preparation command writes: its outputs claimed (an earlier run's replaced only with
--force), the arch split drawn by whole groups, and each split written as lossless PNG folders
plus BasicSR LMDBs holding the same images under the same keys."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
from collections.abc import Iterable

import cv2
import numpy as np
from tqdm import tqdm

from clearer_basicsr.data.lmdb_io import write_lmdb
from clearer_basicsr.files import folder_lock

from .inputs import LayoutError, Pair, load, read_image, stem

INFO = 'prepare_info.json'  # how the folder was made
CLAIMED: list[str] = []  # the outputs of the command running in this process (removed if it fails on a full disk)
HELD = contextlib.ExitStack()  # the lock on the output folder, until the command ends (release())


def claim_outputs(out_dir: str, names: Iterable[str], force: bool) -> None:
    """Holds ``out_dir`` for this command (a second command writing it is refused), then refuses to
    replace an earlier run's outputs unless ``force``; with it, removes just those."""
    HELD.enter_context(folder_lock(out_dir, 'clearer-prepare'))
    names = list(names)
    existing = [os.path.join(out_dir, n) for n in names if os.path.lexists(os.path.join(out_dir, n))]
    if existing and not force:
        raise LayoutError('these outputs already exist (pass --force to replace them): ' + ', '.join(existing))
    for path in existing:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    os.makedirs(out_dir, exist_ok=True)
    CLAIMED[:] = [os.path.join(out_dir, n) for n in names]


def remove_claimed() -> list[str]:
    """Removes what the running command has written of its outputs; returns the paths removed."""
    removed = [p for p in CLAIMED if os.path.lexists(p)]
    for path in removed:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    CLAIMED.clear()
    return removed


def carve_arch(groups: Iterable[str], fraction: float, seed: int) -> set[str]:
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


def pair_outputs(splits: Iterable[str]) -> list[str]:
    """Names (relative to --out) that :func:`write_pair_split` creates for these splits."""
    splits = list(splits)
    return splits + [f'{s}_{side}.lmdb' for s in splits for side in ('lq', 'gt')]


def pair_splits(
    train_pairs: list[Pair], test_pairs: list[Pair], fraction: float, seed: int, out_dir: str, force: bool
) -> dict[str, list[Pair]]:
    """The train / arch / test pairs, the arch split drawn from the training pairs by whole groups
    (:func:`carve_arch`); claims all three outputs, so a forced rerun without an arch split leaves
    no stale one. Returns the non-empty splits."""
    arch_groups = carve_arch([p.group for p in train_pairs], fraction, seed)
    splits = {
        'train': [p for p in train_pairs if p.group not in arch_groups],
        'arch': [p for p in train_pairs if p.group in arch_groups],
        'test': test_pairs,
    }
    claim_outputs(out_dir, pair_outputs(splits) + [INFO], force)
    return {split: pairs for split, pairs in splits.items() if pairs}


def crop_boxes(h: int, w: int, size: int, step: int) -> list[tuple[int, int]]:
    """Top-left corners of size x size crops every ``step`` pixels, the last flush with the border
    (BasicSR's extract_subimages does the same); an image no larger than ``size`` stays whole."""

    def starts(length: int) -> list[int]:
        if length <= size:
            return [0]
        s = list(range(0, length - size + 1, step))
        if s[-1] != length - size:
            s.append(length - size)
        return s

    return [(y, x) for y in starts(h) for x in starts(w)]


def save_png(path: str, img: np.ndarray) -> None:
    """Writes ``img`` as a PNG, making its folder (through Python's file, so that a failed write
    says why: OpenCV's would only say it failed)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ok, data = cv2.imencode('.png', img)
    if not ok:
        raise ValueError(f'{path}: could not encode this image as PNG')
    with open(path, 'wb') as f:
        f.write(data.tobytes())


def write_clean_split(
    items: list[tuple[str, str]], out_dir: str, split: str, gray: bool, lmdb: bool = True
) -> list[str]:
    """Writes (key, path) images as OUT/split/KEY.png (+ OUT/split.lmdb); returns the keys."""
    folder = os.path.join(out_dir, split)
    names = []
    for key, path in tqdm(items, desc=split, unit='img'):
        save_png(os.path.join(folder, key + '.png'), read_image(path, gray))
        names.append(key + '.png')
    if lmdb:
        write_lmdb(folder, os.path.join(out_dir, split + '.lmdb'), rel_paths=names)
    return [stem(n) for n in names]


def write_pair_split(
    pairs: list[Pair],
    out_dir: str,
    split: str,
    crop_size: int | None = None,
    step: int | None = None,
    keep_folders: bool = True,
) -> list[str]:
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
        write_lmdb(folder, os.path.join(out_dir, f'{split}_{side}.lmdb'), rel_paths=names)
    if not keep_folders:
        shutil.rmtree(os.path.join(out_dir, split))
    return [stem(n) for n in names]


def write_info(out_dir: str, command: str, args: argparse.Namespace, counts: dict[str, int]) -> None:
    """OUT/prepare_info.json: how the folder was made (the command, its arguments and the image
    counts per split)."""
    info = {'script': command, 'args': vars(args), 'counts': counts}
    with open(os.path.join(out_dir, INFO), 'w') as f:
        json.dump(info, f, indent=2, sort_keys=True)
    print('wrote ' + ', '.join(f'{split}: {n}' for split, n in counts.items()) + f' -> {out_dir}')
