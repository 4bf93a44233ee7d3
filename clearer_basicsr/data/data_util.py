"""Image files as datasets see them: folder listings, BasicSR ``meta_info`` files, image headers,
and the one gray conversion the plugin uses (datasets and preparation scripts alike)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any

import numpy as np

from ..option_rules import MissingPathError, key_path
from .prepare_commands import prepare_command

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm', '.pgm')
# Datasets of single images under dataroot_gt, one per meta_info line: sizes and names are read
# for these only (video datasets list folders, with another meta_info format).
SINGLE_IMAGE_DATASETS = ('CLEARERGaussianNoiseDataset', 'GaussianNoiseDataset', 'PairedImageDataset')
_SHAPE = re.compile(r'\((\d+)\s*,\s*(\d+)(?:\s*,\s*(\d+))?\)')


def list_images(folder: str, recursive: bool = False) -> list[str]:
    """Sorted relative paths of the image files in ``folder``."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'image folder {folder!r} does not exist')
    paths = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMG_EXTENSIONS):
                paths.append(os.path.relpath(os.path.join(root, name), folder))
        if not recursive:
            break
    return paths


def read_meta_info(path: str) -> list[tuple[str, tuple[int, int] | None]]:
    """``(image name, (h, w) or None)`` per line of a BasicSR meta_info file. Lines are
    ``name.png (h,w,c) level`` (LMDBs) or just the name (folders); names keep their extension."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'meta_info file {path!r} does not exist')
    entries = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            if not line.strip():
                continue
            shape = _SHAPE.search(line)
            entries.append((line.split()[0], (int(shape.group(1)), int(shape.group(2))) if shape else None))
    return entries


def meta_info_path(dataset_opt: Mapping[str, Any]) -> str | None:
    """The meta_info file a dataset reads: ``meta_info_file``, else an LMDB's own ``meta_info.txt``."""
    backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
    if dataset_opt.get('meta_info_file') is not None or backend != 'lmdb':
        return dataset_opt.get('meta_info_file')
    return os.path.join(dataset_opt['dataroot_gt'], 'meta_info.txt')


def require_data_roots(dataset_opt: Mapping[str, Any], where: str) -> None:
    """The folders (``dataroot_gt``, ``dataroot_lq``) and meta_info file of a disk or LMDB dataset
    exist; MissingPathError naming the key otherwise."""
    backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
    if backend not in ('disk', 'lmdb'):
        return
    for root_key in ('dataroot_gt', 'dataroot_lq'):
        root = dataset_opt.get(root_key)
        if root is None:
            continue
        problem = None
        if not os.path.isdir(root):
            kind = 'an LMDB folder' if backend == 'lmdb' else 'an image folder'
            problem = f'no such folder; expected {kind} (relative paths are read from the current directory)'
        elif backend == 'lmdb' and dataset_opt.get('meta_info_file') is None:
            if not os.path.isfile(os.path.join(root, 'meta_info.txt')):
                problem = 'no meta_info.txt in it; expected a BasicSR LMDB (clearer_basicsr.data.lmdb_io.write_lmdb)'
        elif backend == 'disk' and not list_images(root, recursive=True):
            problem = f'no image files in it; expected an image folder ({", ".join(IMG_EXTENSIONS)})'
        if problem:
            command = prepare_command(root)
            made_by = f'; make it with: {command}' if command else ''
            raise MissingPathError(f'{key_path(where, root_key)} = {root!r}: {problem}{made_by}')
    meta = dataset_opt.get('meta_info_file')
    if meta is not None and not os.path.isfile(meta):
        raise MissingPathError(f'{key_path(where, "meta_info_file")} = {meta!r}: no such file')


def dataset_image_names(dataset_opt: Mapping[str, Any]) -> list[str]:
    """Names (relative paths, extension kept) of the images under ``dataroot_gt`` that a
    single-image dataset reads: its meta_info entries, or every image in the folder."""
    meta = meta_info_path(dataset_opt)
    if meta is not None:
        return [name for name, _ in read_meta_info(meta)]
    return list_images(dataset_opt['dataroot_gt'])


def reads_single_images(dataset_opt: Mapping[str, Any]) -> bool:
    """Whether the dataset reads one image per name under dataroot_gt (folder or LMDB)."""
    backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
    return (
        dataset_opt.get('type') in SINGLE_IMAGE_DATASETS
        and backend in ('disk', 'lmdb')
        and 'dataroot_gt' in dataset_opt
    )


def smallest_image(dataset_opt: Mapping[str, Any]) -> tuple[int, int, str] | None:
    """``(h, w, which image)`` with the smallest side of a single-image dataset, from LMDB meta_info
    shapes or image headers (nothing is decoded); None when the sizes cannot be known cheaply.
    ValueError naming an image that cannot be read."""
    if not reads_single_images(dataset_opt):
        return None
    root, sizes = dataset_opt['dataroot_gt'], []
    if (dataset_opt.get('io_backend') or {}).get('type') == 'lmdb':
        for name, shape in read_meta_info(meta_info_path(dataset_opt)):
            if shape is None:
                return None  # a meta_info without shapes: sizes unknown without decoding
            sizes.append((*shape, f'LMDB {root!r}, key {image_key(name)!r}'))
    else:
        for name in dataset_image_names(dataset_opt):
            path = os.path.join(root, name)
            try:
                sizes.append((*image_header_size(path), f'image {path!r}'))
            except ValueError as err:
                raise ValueError(f'image {path!r} cannot be read ({err})') from None
    return min(sizes, key=lambda size: min(size[:2]), default=None)


def image_key(rel_path: str) -> str:
    """Key of an image (an LMDB key, a name to compare splits by): its relative path without
    extension, with '/' as separator."""
    return os.path.splitext(rel_path)[0].replace(os.sep, '/')


def image_header_size(path: str | IO[bytes]) -> tuple[int, int]:
    """``(h, w)`` from the file header (nothing is decoded); ValueError saying why when unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            w, h = img.size
    except Exception as err:  # PIL raises many types for broken files
        raise ValueError(f'not a readable image ({err})') from None
    return h, w


def bgr_to_luma(img: np.ndarray) -> np.ndarray:
    """Full-range luma 0.299R + 0.587G + 0.114B of a uint8 BGR image as H x W uint8, with PIL's
    fixed-point rounding (``convert('L')``, which made the reference's gray data). A 2-D (gray)
    image comes back unchanged."""
    if img.ndim == 2:
        return img
    b, g, r = (img[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


_LMDB_ENVIRONMENTS: dict[str, Any] = {}


def _close_inherited_environments() -> None:
    """In a forked child (loader workers, the evaluation's stages): an LMDB handle must not be used
    across a fork, and py-lmdb (3.0) still counts the parent's as open in the child, so opening
    the same LMDB there would be refused. Close the child's copies; the parent keeps its own."""
    for env in _LMDB_ENVIRONMENTS.values():
        env.close()
    _LMDB_ENVIRONMENTS.clear()


os.register_at_fork(after_in_child=_close_inherited_environments)


def lmdb_environment(root: str) -> Any:
    """The read-only environment of the LMDB at ``root``, one per process: py-lmdb refuses to open
    an environment twice in a process (a validation set on the training LMDB and BatchNorm
    calibration batches read it beside the training set)."""
    import lmdb

    key = os.path.realpath(root)
    if key not in _LMDB_ENVIRONMENTS:
        _LMDB_ENVIRONMENTS[key] = lmdb.open(root, readonly=True, lock=False, readahead=False, meminit=False)
    return _LMDB_ENVIRONMENTS[key]


@contextlib.contextmanager
def lmdb_transaction(root: str) -> Iterator[Any]:
    """A read transaction for a one-off reader (the data pre-check): on the process's environment
    when a dataset holds one, else on an environment closed afterwards, so that readers which
    open the LMDB themselves (BasicSR's FileClient in its paired datasets) still can."""
    import lmdb

    held = _LMDB_ENVIRONMENTS.get(os.path.realpath(root))
    env = held or lmdb.open(root, readonly=True, lock=False, readahead=False, meminit=False)
    try:
        with env.begin() as txn:
            yield txn
    finally:
        if held is None:
            env.close()


def image_sources(dataset_opt: Mapping[str, Any]) -> list[tuple[str, str, str, list[str]]]:
    """``(key, root, backend, names)`` of the images a single-image dataset reads:
    ``dataroot_gt`` (its meta_info names, or the folder) and ``dataroot_lq`` (its LMDB's
    meta_info, or the folder)."""
    if not reads_single_images(dataset_opt):
        return []
    backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
    sources = [('dataroot_gt', dataset_opt['dataroot_gt'], backend, dataset_image_names(dataset_opt))]
    lq = dataset_opt.get('dataroot_lq')
    if lq is not None:
        lq_names = [n for n, _ in read_meta_info(os.path.join(lq, 'meta_info.txt'))] if backend == 'lmdb' else None
        sources.append(('dataroot_lq', lq, backend, lq_names if lq_names is not None else list_images(lq)))
    return sources


def unreadable_image(dataset_opt: Mapping[str, Any], decode: bool) -> tuple[str, str] | None:
    """``(key, 'image X: why')`` for the first image of the dataset that cannot be read; None when
    every one can. ``decode``: decode each image fully (validation and test sets are small),
    else read its header (and, from an LMDB, check its record is there)."""
    import cv2
    import lmdb

    for key, root, backend, names in image_sources(dataset_opt):
        if backend == 'lmdb':
            try:
                with lmdb_transaction(root) as txn:
                    for name in names:
                        data = txn.get(image_key(name).encode('ascii', 'replace'))
                        where = f'LMDB {root!r}, key {image_key(name)!r}'
                        if data is None:
                            return key, f'{where}: no such record (listed in its meta_info)'
                        problem = _decode_problem(data, decode, cv2)
                        if problem:
                            return key, f'{where}: {problem}'
            except lmdb.Error as e:  # a damaged data.mdb: py-lmdb raises while opening or reading it
                return key, f'LMDB {root!r}: cannot be read ({type(e).__name__}: {e}); make it again'
        else:
            for name in names:
                path = os.path.join(root, name)
                try:
                    with open(path, 'rb') as f:
                        problem = _decode_problem(f.read() if decode else f.read(1 << 16), decode, cv2)
                except OSError as e:  # a broken link, a file without read permission
                    return key, f'image {path!r}: cannot be opened ({e.strerror or e})'
                if problem:
                    return key, f'image {path!r}: {problem}'
    return None


def _decode_problem(data: bytes, decode: bool, cv2: Any) -> str | None:
    """Why ``data`` (a whole image file, or its first bytes) is no readable image; None when it is."""
    if not data:
        return 'an empty file'
    if decode:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        return None if image is not None and image.size else 'cannot be decoded (truncated, or not an image)'
    import io

    try:
        image_header_size(io.BytesIO(data))
    except ValueError as err:
        return str(err)
    return None


def same_stems(dataset_opt: Mapping[str, Any]) -> list[str]:
    """Images of a disk dataset whose names differ only by extension (``a.png``, ``a.jpg``):
    their outputs and metrics (named by the stem) would overwrite each other."""
    by_stem: dict[str, list[str]] = {}
    for name in dataset_image_names(dataset_opt) if reads_single_images(dataset_opt) else []:
        by_stem.setdefault(image_key(name), []).append(name)
    return [name for names in by_stem.values() if len(names) > 1 for name in names]
