"""Reading and checking what a preparation command is given: the images of a layout, pairs of
degraded and clean regions, their keys and sizes, each refused with the layout it expected."""

from __future__ import annotations

import os
from typing import NamedTuple

import cv2
import numpy as np
from tqdm import tqdm

from clearer_basicsr.data.data_util import bgr_to_luma, image_header_size
from clearer_basicsr.data.lmdb_io import lmdb_key
from clearer_basicsr.errors import UserInputError


class Source(NamedTuple):
    """One image region: a file, or only its columns ``[x0, x1)`` (side-by-side pairs)."""

    path: str
    cols: tuple[int, int] | None = None


class Pair(NamedTuple):
    """One training pair. Pairs sharing a group (crops of one photo, the 14 rainy versions of one
    clean image, frames of one video) always land in the same split."""

    key: str
    group: str
    lq: Source
    gt: Source


class LayoutError(UserInputError):
    """The input does not have the layout a command expects."""


def layout_error(path: str, problem: str, expected: str) -> LayoutError:
    """The error for ``path``: what is wrong with it, then the layout that was expected."""
    return LayoutError(f'{path}: {problem}.\nExpected layout:\n{expected}')


def require_input(path: str, expected: str, command: str) -> str:
    """``path``, named on the command line, when it exists; else a one-line :class:`LayoutError`
    naming it and what was expected there."""
    if not os.path.exists(path):
        raise LayoutError(
            f'{path}: no such file or folder; expected {expected} (clearer-prepare {command} --help shows the layout)'
        )
    return path


def require_dir(path: str, expected: str, what: str = 'folder') -> str:
    """``path`` when it is a folder; else a :class:`LayoutError` naming it and the layout."""
    if not os.path.isdir(path):
        raise layout_error(path, f'{what} not found', expected)
    return path


def stem(path: str) -> str:
    """The file name without folder and extension."""
    return os.path.splitext(os.path.basename(path))[0]


def image_size(path: str) -> tuple[int, int]:
    """(width, height) read from the file header only."""
    try:
        h, w = image_header_size(path)
    except ValueError as err:
        raise LayoutError(f'{path}: {err}') from None
    return w, h


def read_image(path: str, gray: bool = False) -> np.ndarray:
    """uint8 image: BGR H x W x 3, or full-range luma H x W with ``gray``."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise LayoutError(f'{path}: not a readable image')
    return bgr_to_luma(img) if gray else img  # the package's one luma: PIL's convert('L')


def load(source: Source) -> np.ndarray:
    """The region ``source`` names, decoded as BGR."""
    img = read_image(source.path)
    if source.cols is not None:
        img = img[:, source.cols[0] : source.cols[1]]
    return np.ascontiguousarray(img)


def source_size(source: Source) -> tuple[int, int]:
    """(width, height) of the region, from the file header."""
    w, h = image_size(source.path)
    if source.cols is not None:
        w = source.cols[1] - source.cols[0]
    return w, h


def check_keys(keys: list[str], where: str) -> None:
    """Every key can be read back from a BasicSR LMDB (the package's rule, ``lmdb_key``: no '.',
    white space or non-ASCII), and folders need unique names."""
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


def check_pairs(pairs: list[Pair], where: str) -> None:
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
