"""Small demo denoising data from the images bundled with scikit-image (no download).

    python -m clearer_basicsr.data.demo_data --out datasets/demo [--force]

Writes disjoint train / arch / test splits as 3-channel BGR PNG folders (``train/``, ``arch/``,
``test/``) and BasicSR LMDBs (``train.lmdb``, ``arch.lmdb``, ``test.lmdb``, each with its
``meta_info.txt``), plus ``README.txt`` naming the images of each split. Grayscale sources are
replicated to 3 channels, so one set serves both tracks: ``GaussianNoiseDataset`` with
``in_ch: 1`` turns them back into the same gray levels.
"""

from __future__ import annotations

import argparse
import os
import shutil

import cv2
import numpy as np

from _clearer_basicsr_cli import run

from .data_util import list_images
from .lmdb_io import read_lmdb_keys, write_lmdb

# Weights learn on 'train', the architecture on the held-apart 'arch', scores come from 'test'.
SPLITS = {
    'train': (
        'brick',
        'cell',
        'chelsea',
        'coffee',
        'grass',
        'immunohistochemistry',
        'motorcycle_left',
        'motorcycle_right',
        'page',
        'rocket',
        'text',
    ),
    'arch': ('gravel', 'hubble_deep_field', 'moon', 'retina'),
    'test': ('astronaut', 'camera', 'coins'),
}
# Images are downscaled (never enlarged) to this long side, so the CPU demo stays quick.
LONG_SIDE = {'train': 256, 'arch': 256, 'test': 160}
MIN_SHORT_SIDE = 64  # room for the 64 x 64 training patches
# Same or nearly the same photo: such images must never sit in two splits. skimage's cat()
# returns the very array of chelsea(), so only chelsea is used.
DUPLICATE_GROUPS = (('cat', 'chelsea'), ('motorcycle_left', 'motorcycle_right'))
# Left out: horse (boolean silhouette), logo (RGBA drawing), clock (motion-blurred),
# microaneurysms (102 px), and the synthetic checkerboard, colorwheel, phantom and blobs.


def load_skimage(name: str) -> np.ndarray:
    """A bundled scikit-image picture as a uint8 H x W x 3 BGR array."""
    from skimage import data

    if name in ('motorcycle_left', 'motorcycle_right'):
        img = data.stereo_motorcycle()[0 if name == 'motorcycle_left' else 1]
    else:
        img = getattr(data, name)()
    if img.dtype != np.uint8:
        raise TypeError(f'skimage.data.{name}() is {img.dtype}, expected uint8')
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., 2::-1])  # RGB -> BGR for OpenCV


def shrink(img: np.ndarray, long_side: int) -> np.ndarray:
    """Downscales (area interpolation) so the long side is at most ``long_side``."""
    h, w = img.shape[:2]
    scale = long_side / max(h, w)
    if scale < 1:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return img


def demo_paths(out_dir: str) -> dict[str, str]:
    paths = {'root': out_dir, 'readme': os.path.join(out_dir, 'README.txt')}
    for split in SPLITS:
        paths[f'{split}_folder'] = os.path.join(out_dir, split)
        paths[f'{split}_lmdb'] = os.path.join(out_dir, f'{split}.lmdb')
    return paths


def is_complete(out_dir: str) -> bool:
    """True when every split's folder and LMDB hold exactly the expected images (README last)."""
    paths = demo_paths(out_dir)
    if not os.path.isfile(paths['readme']):
        return False
    for split, names in SPLITS.items():
        try:
            if list_images(paths[f'{split}_folder']) != sorted(f'{n}.png' for n in names) or sorted(
                read_lmdb_keys(paths[f'{split}_lmdb'])
            ) != sorted(names):
                return False
        except FileNotFoundError:
            return False
    return True


def make_demo_data(out_dir: str, force: bool = False) -> dict[str, str]:
    """Builds the demo data under ``out_dir`` (skipped when already complete); returns its paths:
    ``root``, ``readme`` and ``{train,arch,test}_folder`` / ``{train,arch,test}_lmdb``."""
    paths = demo_paths(out_dir)
    if not force and is_complete(out_dir):
        return paths
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(paths['readme']):
        os.remove(paths['readme'])  # the README marks a finished build: written last
    sizes = {}
    for split, names in SPLITS.items():
        folder = paths[f'{split}_folder']
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name in names:
            img = shrink(load_skimage(name), LONG_SIDE[split])
            if min(img.shape[:2]) < MIN_SHORT_SIDE:
                raise ValueError(
                    f'demo image {name!r} is {img.shape[0]}x{img.shape[1]} after shrinking, '
                    f'its short side must be >= {MIN_SHORT_SIDE}'
                )
            cv2.imwrite(os.path.join(folder, f'{name}.png'), img)
            sizes[name] = img.shape[:2]
        write_lmdb(folder, paths[f'{split}_lmdb'], overwrite=True)
    with open(paths['readme'], 'w') as f:
        f.write(readme_text(sizes))
    return paths


def readme_text(sizes: dict[str, tuple[int, int]]) -> str:
    lines = [
        'Demo denoising data made by `python -m clearer_basicsr.data.demo_data` from the images',
        'bundled with scikit-image (skimage.data; sources and licences in its README).',
        'All images are 3-channel PNG (grayscale sources replicated); train/arch images are',
        f'shrunk to a long side of at most {LONG_SIDE["train"]} px, test images to {LONG_SIDE["test"]} px.',
        'Splits are disjoint; near-duplicates (cat = chelsea, motorcycle_left/right) share one split.',
        '',
    ]
    for split, names in SPLITS.items():
        lines.append(f'{split} ({len(names)} images, {split}/ and {split}.lmdb):')
        lines += [f'  {name}  {sizes[name][0]}x{sizes[name][1]} (HxW)' for name in names]
    return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=os.path.join('datasets', 'demo'), help='output folder')
    parser.add_argument('--force', action='store_true', help='rebuild even if the data is complete')
    args = parser.parse_args(argv)
    was_complete = not args.force and is_complete(args.out)
    paths = make_demo_data(args.out, force=args.force)
    print(f'demo data {"already complete" if was_complete else "written"} in {paths["root"]}')
    with open(paths['readme']) as f:
        print(f.read(), end='')


if __name__ == '__main__':
    run(main)
