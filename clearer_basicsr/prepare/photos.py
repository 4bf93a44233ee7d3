"""Prepares natural photographs from four Debian wallpaper packages for denoising experiments.

Bigger than the scikit-image demo data and free to fetch on any Debian or Ubuntu machine: 37
real photographs (1280 to 6000 px) from `mate-backgrounds` (its nature set),
`plasma-workspace-wallpapers`, `lomiri-wallpapers-16.04` and `lomiri-wallpapers-20.04` (only
the photographs; the drawn and rendered wallpapers are left out). Each photo is downscaled
(area filter) to --long-side pixels, which also averages away most of the JPEG noise, and
written as clean train / arch / test splits: PNG folders and BasicSR LMDBs. The noise is
added on the fly by GaussianNoiseDataset.

    apt-get download mate-backgrounds plasma-workspace-wallpapers \\
        lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
    clearer-prepare photos *.deb --gray

The .deb files are read directly (ar + tar.xz, no dpkg needed); folders where the packages were
extracted (`dpkg-deb -x X.deb DIR`) work too. The images are the packages' authors' (mostly
CC-BY-SA or GPL, see each package's copyright file): use them for experiments, do not
redistribute them with this project.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tarfile
from collections.abc import Callable

import cv2
import numpy as np

from .arguments import add_output_args
from .inputs import layout_error, require_input
from .outputs import INFO, claim_outputs, save_png, write_clean_split, write_info

# The splits, by photo. Test photos span texture (grass, forest, pebbles), smooth areas and
# strong edges; the arch split (architecture logits, validation curves) is held apart from both
# others. The lomiri photos only add to the train split, so arch and test stay as they were.
SPLITS = {
    'train': (
        'Aqua', 'Blinds', 'Dune', 'FreshFlower', 'Garden', 'TwoWings', 'YellowFlower',
        'ColdRipple', 'DarkestHour', 'FallenLeaf', 'Grey', 'OneStandsOut', 'summer_1am',
        'Bridge_by_Sander_Klootwijk', 'Dragonfly_by_Bolly', 'Picture_0B_by_freespace',
        'Picture_1A_by_freespace', 'Wine_by_Jakkub_Mede', 'aitzgorri_by_Aitzol_Berasategi',
        'free_by_Peter_Nerlich', 'friends_by_Aitzol_Berasategi', 'greentock_by_Peter_Nerlich',
        'life_by_Aitzol_Berasategi', 'picosdeeuropa_by_Aitzol_Berasategi',
        'seeding_by_Clements_Engelhardt', 'sunset_by_Aitzol_Berasategi', 'Kleiber_by_Lukas_Baubkus',
    ),
    'arch': ('Wood', 'Kite', 'BytheWater', 'RainDrops'),
    'test': ('Path', 'EveningGlow', 'LadyBird', 'ColorfulCups', 'GreenMeadow', 'Storm'),
}  # fmt: skip
MATE_DIR = 'usr/share/backgrounds/mate/nature/'  # <Name>.jpg
PLASMA_DIR = 'usr/share/wallpapers/'  # <Name>/contents/images/<W>x<H>.jpg|png
LOMIRI_DIR = 'usr/share/backgrounds/'  # <Name>.jpg, directly in the folder
LAYOUT = f"""  mate-backgrounds_*.deb              (or the folder it was extracted to): {MATE_DIR}<Name>.jpg
  plasma-workspace-wallpapers_*.deb   (or its folder): {PLASMA_DIR}<Name>/contents/images/<W>x<H>.jpg
  lomiri-wallpapers-16.04_*.deb, lomiri-wallpapers-20.04_*.deb (or their folders): {LOMIRI_DIR}<Name>.jpg"""
EPILOG = f"""inputs:
{LAYOUT}

output (in --out):
  train/, arch/, test/          PNG images ({sum(map(len, SPLITS.values()))} photos: {', '.join(f'{k} {len(v)}' for k, v in SPLITS.items())})
  train.lmdb, arch.lmdb, test.lmdb   BasicSR LMDBs of the same images
  {INFO}             the arguments and counts"""  # noqa: E501


def photo_name(member: str) -> str | None:
    """The photo a package member holds, or None when it is not one of the listed photos."""
    if member.startswith(MATE_DIR) and member.endswith('.jpg'):
        return os.path.splitext(member[len(MATE_DIR) :])[0]
    if member.startswith(PLASMA_DIR) and '/contents/images/' in member:
        return member[len(PLASMA_DIR) :].split('/')[0]
    rest = member[len(LOMIRI_DIR) :]
    if member.startswith(LOMIRI_DIR) and '/' not in rest and rest.endswith('.jpg'):
        return rest[: -len('.jpg')]
    return None


def plasma_size(member: str) -> int:
    """Pixel count from a plasma file name such as ``2560x1600.jpg`` (0 when it has none)."""
    w, _, h = os.path.splitext(os.path.basename(member))[0].partition('x')
    return int(w) * int(h) if w.isdigit() and h.isdigit() else 0


def deb_data(path: str) -> tarfile.TarFile:
    """The data archive of a .deb (an ar archive holding ``data.tar.xz``)."""
    with open(path, 'rb') as f:
        blob = f.read()
    if not blob.startswith(b'!<arch>\n'):
        raise layout_error(path, 'not a Debian package (no ar header)', LAYOUT)
    pos = 8
    while pos + 60 <= len(blob):
        name = blob[pos : pos + 16].decode().strip().rstrip('/')
        size = int(blob[pos + 48 : pos + 58].decode().strip())
        start = pos + 60
        if name.startswith('data.tar'):
            if name.endswith('.zst'):
                raise layout_error(path, 'its data is zstd-compressed', 'extract it first: dpkg-deb -x X.deb DIR')
            return tarfile.open(fileobj=io.BytesIO(blob[start : start + size]))
        pos = start + size + (size % 2)  # members are 2-byte aligned
    raise layout_error(path, 'no data.tar member', LAYOUT)


def find_photos(sources: list[str]) -> dict[str, tuple[str, bytes | str]]:
    """Listed photo name -> (where, the encoded file or a path), largest file per plasma photo."""
    wanted = {name for names in SPLITS.values() for name in names}
    found = {}  # name -> (pixels, where, data)

    def offer(member: str, where: str, load: Callable[[], bytes | str]) -> None:
        name = photo_name(member)
        if name in wanted:
            pixels = plasma_size(member) if member.startswith(PLASMA_DIR) else 1
            if name not in found or pixels > found[name][0]:
                found[name] = (pixels, where, load())

    for source in sources:  # all there before any package is read
        require_input(source, 'a .deb package or the folder it was extracted to', 'photos')
    for source in sources:
        if os.path.isdir(source):
            for root, _, files in os.walk(source):
                for file in files:
                    path = os.path.join(root, file)
                    member = os.path.relpath(path, source).replace(os.sep, '/')
                    offer(member, path, lambda path=path: path)
        else:
            with deb_data(source) as archive:
                for info in archive:
                    if info.isfile():
                        member = info.name.lstrip('./')
                        offer(member, f'{source}:{member}', lambda info=info: archive.extractfile(info).read())
    missing = sorted(wanted - set(found))
    if missing:
        raise layout_error(', '.join(sources), f'photos not found: {", ".join(missing)}', LAYOUT)
    return {name: (where, data) for name, (_, where, data) in found.items()}


def downscaled(data: bytes | str, long_side: int, where: str) -> np.ndarray:
    """The photo decoded (BGR) and shrunk with an area filter so its longer side is ``long_side``."""
    img = cv2.imread(data) if isinstance(data, str) else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise layout_error(where, 'cannot be decoded as an image', LAYOUT)
    scale = long_side / max(img.shape[:2])
    if scale < 1:
        size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``clearer-prepare photos``."""
    add_output_args(parser, out_default='datasets/photos/gray, or datasets/photos/color')
    parser.add_argument('sources', nargs='+', help='the four .deb files (or the folders they were extracted to)')
    parser.add_argument('--gray', action='store_true', help='store full-range luma as 1-channel PNGs')
    parser.add_argument(
        '--long-side', type=int, default=512, help='longer side of the stored photos in pixels (default 512)'
    )


def prepare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, int]:
    """Writes the train / arch / test photos; returns the count of each."""
    if args.long_side < 64:
        parser.error(f'--long-side {args.long_side}: expected at least 64 pixels')
    if args.out is None:
        args.out = os.path.join('datasets', 'photos', 'gray' if args.gray else 'color')

    photos = find_photos(args.sources)
    outputs = [n for s in SPLITS for n in (s, s + '.lmdb')] + [INFO]
    claim_outputs(args.out, outputs, args.force)
    staging = os.path.join(args.out, '.sources')  # full-size decoded photos, removed at the end
    counts = {}
    try:
        for split, names in SPLITS.items():
            items = []
            for name in names:
                where, data = photos[name]
                path = os.path.join(staging, f'{name}.png')
                save_png(path, downscaled(data, args.long_side, where))
                items.append((name, path))
            counts[split] = len(write_clean_split(items, args.out, split, args.gray))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_info(args.out, 'clearer-prepare photos', args, counts)
    return counts
