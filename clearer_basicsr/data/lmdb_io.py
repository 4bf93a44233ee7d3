"""Writing BasicSR LMDBs from image folders, in BasicSR's format, without basicsr 1.4.2's traps.

``basicsr.utils.lmdb_util.make_lmdb_from_imgs`` calls ``sys.exit`` when the LMDB exists, sizes
the map from the first image only, prints a line for every image, and BasicSR's readers cut keys
at the first '.'. The writer here checks every key first, raises errors that name the path or
key, and writes the same layout (PNG bytes at compression 1 under each key, ``meta_info.txt``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from ..errors import UserInputError
from .data_util import image_key, list_images, read_meta_info


def lmdb_key(rel_path: str) -> str:
    """LMDB key of an image (:func:`.data_util.image_key`), refused when BasicSR could not read
    it back: a '.' left (its readers cut keys at the first dot), white space (``meta_info.txt``
    lines are split at spaces) or a character outside ASCII (its readers encode keys as ASCII)."""
    key = image_key(rel_path)
    problem = (
        "a '.' besides the extension (BasicSR's LMDB readers cut keys at the first dot)"
        if '.' in key
        else 'white space (meta_info.txt lines are split at spaces)'
        if any(c.isspace() for c in key)
        else "characters outside ASCII (BasicSR's LMDB readers encode keys as ASCII)"
        if not key.isascii()
        else None
    )
    if problem:
        raise UserInputError(
            f'image {rel_path!r}: its name has {problem}, so its LMDB key could not be read back; '
            'expected ASCII names without spaces or dots: rename the file'
        )
    return key


def write_lmdb(
    folder: str,
    lmdb_path: str,
    rel_paths: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Writes the images of ``folder`` (or the given relative paths) into ``lmdb_path``.

    Returns the list of keys written (also listed in ``lmdb_path/meta_info.txt``)."""
    import cv2
    import lmdb

    if not lmdb_path.endswith('.lmdb'):
        raise ValueError(f"LMDB path {lmdb_path!r} must end with '.lmdb' (BasicSR's convention)")
    if os.path.exists(lmdb_path) and not overwrite:
        raise FileExistsError(f'LMDB {lmdb_path!r} already exists; remove it or pass overwrite=True')
    rel_paths = list_images(folder) if rel_paths is None else list(rel_paths)
    if not rel_paths:
        raise ValueError(f'no images to write into {lmdb_path!r} (folder {folder!r})')
    keys = [lmdb_key(p) for p in rel_paths] if keys is None else [lmdb_key(k) for k in keys]
    if len(set(keys)) != len(keys):
        raise ValueError(f'duplicate LMDB keys for {lmdb_path!r}: images differing only by extension?')
    if os.path.exists(lmdb_path):  # only now that every key is known to work
        shutil.rmtree(lmdb_path)
    # PNG at level 1 can be ~6x a JPEG source; the map is only reserved address space
    total = sum(os.path.getsize(os.path.join(folder, p)) for p in rel_paths)
    env = lmdb.open(lmdb_path, map_size=max(30 * total, 1 << 26))
    meta = []
    with env.begin(write=True) as txn:
        for rel_path, key in zip(rel_paths, keys):
            img = cv2.imread(os.path.join(folder, rel_path), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise ValueError(f'{os.path.join(folder, rel_path)!r}: not a readable image')
            txn.put(key.encode('ascii'), cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes())
            h, w = img.shape[:2]
            meta.append(f'{key}.png ({h},{w},{1 if img.ndim == 2 else img.shape[2]}) 1\n')
    env.close()
    with open(os.path.join(lmdb_path, 'meta_info.txt'), 'w') as f:
        f.writelines(meta)
    return keys


def read_lmdb_keys(lmdb_path: str) -> list[str]:
    """Keys listed in an LMDB's ``meta_info.txt`` (BasicSR format: ``key.png (h,w,c) level``)."""
    meta = os.path.join(lmdb_path, 'meta_info.txt')
    if not os.path.isfile(meta):
        raise FileNotFoundError(f'{meta!r} not found: is {lmdb_path!r} a BasicSR LMDB?')
    return [image_key(name) for name, _ in read_meta_info(meta)]
