"""python -m clearer_basicsr.zoo list | copy NAME DIR (console script clearer-zoo): the model zoo
that ships inside the package, searched networks with their retrained weights.

'list' prints each entry with its PSNR/SSIM on its test set against BM3D on the same noisy images,
its MACs, parameters and training iterations (--markdown: the table of the README). 'copy' writes
the entry's genotype.yml, net_g.pth and a test option file (test.yml) into DIR/NAME/, with paths
that work from any folder, so that clearer-test reproduces the entry's figure: on the photos it
was tested on (made by clearer-prepare photos, from the folder that holds datasets/), or on your
own clean images with --data FOLDER (noise of the entry's sigma added, seeded per image).

clearer-infer --zoo NAME restores your own images with an entry, from any folder.

examples:
  clearer-zoo list
  clearer-zoo copy clearer_gray_s30 my_zoo/ --data my_clean_photos/
  clearer-test -opt my_zoo/clearer_gray_s30/test.yml
  clearer-infer --zoo clearer_gray_s30 --input noisy_photos/ --output restored/
"""

from __future__ import annotations

import copy
import filecmp
import os
import shutil
from collections.abc import Sequence
from typing import Any

import yaml

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.option_file import read_option_file
from clearer_basicsr.option_rules import suggest
from clearer_basicsr.tools.cli import PACKAGE_ZOO, doc_parser

CARD = 'card.yml'  # an entry's figures, read as data: what 'list' and the README show
# The files of an entry a test option file needs (test.yml names them as zoo/<entry>/<file>).
FILES = ('genotype.yml', 'net_g.pth', 'genotype.png')
CARD_KEYS = {  # every card holds these; a fixed-sigma entry holds sigma, a blind one sigma_range
    'genotype': str,
    'channels': int,
    'budget': (int, float),
    'params': int,
    'gmacs_256': (int, float),
    'iterations': int,
    'test_set': str,
    'psnr': (int, float),
    'ssim': (int, float),
    'bm3d_psnr': (int, float),
    'bm3d_ssim': (int, float),
}


def entries() -> dict[str, str]:
    """``{name: folder}`` of every zoo entry (a folder with a test.yml), by name."""
    names = sorted(os.listdir(PACKAGE_ZOO)) if os.path.isdir(PACKAGE_ZOO) else []
    return {n: os.path.join(PACKAGE_ZOO, n) for n in names if os.path.isfile(os.path.join(PACKAGE_ZOO, n, 'test.yml'))}


def entry_folder(name: str) -> str:
    """The folder of entry ``name``; UserInputError naming the known entries otherwise."""
    known = entries()
    if name not in known:
        raise UserInputError(f'no zoo entry is called {name!r}; {suggest(name, known)} (clearer-zoo list shows them)')
    return known[name]


def read_card(name: str) -> dict[str, Any]:
    """The figures of entry ``name`` (its card.yml), every key of :data:`CARD_KEYS` checked, and
    what it restores: ``sigma`` (a noise level) or ``sigma_range`` ([lo, hi], blind)."""
    path = os.path.join(entry_folder(name), CARD)
    card = read_option_file(path)
    for key, kind in CARD_KEYS.items():
        if not isinstance(card.get(key), kind) or isinstance(card.get(key), bool):
            raise UserInputError(f'{path}: {key} = {card.get(key)!r}; expected a {getattr(kind, "__name__", "number")}')
    sigma, sigma_range = card.get('sigma'), card.get('sigma_range')
    fixed = isinstance(sigma, (int, float)) and not isinstance(sigma, bool)
    blind = isinstance(sigma_range, list) and len(sigma_range) == 2
    if fixed == blind:
        raise UserInputError(
            f'{path}: sigma = {sigma!r}, sigma_range = {sigma_range!r}; expected a noise level (sigma) or a '
            'blind range (sigma_range: [lo, hi]), not both'
        )
    by_sigma = card.get('by_sigma', {})  # a blind entry's scores at each noise level it was tested at
    if not isinstance(by_sigma, dict) or not all(
        isinstance(s, int) and isinstance(v, dict) and isinstance(v.get('psnr'), float) for s, v in by_sigma.items()
    ):
        raise UserInputError(f'{path}: by_sigma = {by_sigma!r}; expected {{sigma: {{psnr: dB, bm3d_psnr: dB}}, ...}}')
    return card


def entry_options(name: str, folder: str | None = None) -> dict[str, Any]:
    """Entry ``name``'s test options, with its files (``zoo/<name>/...`` in test.yml, relative to
    the repository) read from ``folder`` (default: the installed entry), as absolute paths."""
    source = entry_folder(name)
    opt = read_option_file(os.path.join(source, 'test.yml'))
    where = os.path.abspath(folder or source)

    def local(path: str) -> str:
        return os.path.join(where, os.path.basename(path))

    opt['network_g']['genotype'] = local(opt['network_g']['genotype'])
    opt['path']['pretrain_network_g'] = local(opt['path']['pretrain_network_g'])
    return opt


def with_data(opt: dict[str, Any], data: str) -> dict[str, Any]:
    """``opt`` whose test sets read the clean images of ``data`` (a folder, or an LMDB made by
    clearer-prepare) instead of the entry's own test set."""
    if not os.path.isdir(data):
        raise UserInputError(f'--data {data!r}: no such folder; expected a folder of clean images or an LMDB')
    opt = copy.deepcopy(opt)
    lmdb = data.rstrip('/\\').endswith('.lmdb')
    for dataset in opt['datasets'].values():
        dataset.update(name=os.path.basename(os.path.normpath(data)), dataroot_gt=os.path.abspath(data))
        dataset['io_backend'] = {'type': 'lmdb' if lmdb else 'disk'}
    return opt


def copy_entry(name: str, folder: str, data: str | None = None, force: bool = False) -> list[str]:
    """Writes entry ``name``'s files and a test.yml that reads them into ``folder``/``name``/;
    returns the paths written. A different file already there is kept unless ``force`` (checked
    before anything is written)."""
    source, target = entry_folder(name), os.path.join(folder, name)
    opt = entry_options(name, target)
    if data is not None:
        opt = with_data(opt, data)
    plan = [(os.path.join(source, file), os.path.join(target, file)) for file in FILES]
    test_yml = os.path.join(target, 'test.yml')
    clashes = [dst for src, dst in plan if os.path.exists(dst) and not filecmp.cmp(src, dst, shallow=False)]
    clashes += [test_yml] if os.path.exists(test_yml) else []
    if clashes and not force:
        raise UserInputError(f'{", ".join(clashes)}: already there; kept (--force replaces it)')
    os.makedirs(target, exist_ok=True)
    for src, dst in plan:
        shutil.copyfile(src, dst)
    header = (
        f'# Zoo entry {name}, copied by clearer-zoo copy: its genotype and weights are the files beside this one.\n'
        f'#   clearer-test -opt {test_yml}\n'
    )
    with open(test_yml, 'w', encoding='utf-8') as f:
        f.write(header)
        yaml.safe_dump(opt, f, sort_keys=False, default_flow_style=None)
    return [dst for _, dst in plan] + [test_yml]


def table(markdown: bool = False) -> list[str]:
    """The lines of the zoo's table: one row per entry, from its card."""
    head = ['entry', 'genotype', 'budget', 'params', 'GMACs (256x256)', 'iterations', 'test set', 'PSNR / SSIM']
    head += ['BM3D, same images', 'vs BM3D']
    rows = []
    for name in entries():
        c = read_card(name)
        rows.append(
            [
                name,
                c['genotype'].replace('|', '\\|') if markdown else c['genotype'],
                f'{c["budget"]:g}',
                f'{c["params"]:,}',
                f'{c["gmacs_256"]:.3f}',
                f'{c["iterations"]:,}',
                c['test_set'],
                f'{c["psnr"]:.2f} dB / {c["ssim"]:.4f}',
                f'{c["bm3d_psnr"]:.2f} dB / {c["bm3d_ssim"]:.4f}',
                f'{c["psnr"] - c["bm3d_psnr"]:+.2f} dB',
            ]
        )
    if markdown:
        right = {'budget', 'params', 'GMACs (256x256)', 'iterations', 'PSNR / SSIM', 'BM3D, same images', 'vs BM3D'}
        rule = ['---:' if h in right else '---' for h in head]
        return ['| ' + ' | '.join(r) + ' |' for r in [head, rule, *rows]]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ['  '.join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [head, *rows]]


def main(argv: Sequence[str] | None = None) -> list[str]:
    """Runs the command; returns the lines printed ('list') or the paths written ('copy')."""
    parser = doc_parser(__doc__, prog='clearer-zoo')
    commands = parser.add_subparsers(dest='command', required=True)
    listing = commands.add_parser('list', help='the entries with their figures against BM3D')
    listing.add_argument('--markdown', action='store_true', help='as a Markdown table (the README shows it)')
    copying = commands.add_parser('copy', help="write an entry's files and a working test option file into DIR/NAME/")
    copying.add_argument('name', metavar='NAME', help="an entry from 'list'")
    copying.add_argument('folder', metavar='DIR', help='where to write NAME/ (genotype.yml, net_g.pth, test.yml)')
    copying.add_argument('--data', metavar='FOLDER', help='test on these clean images (a folder or an LMDB) instead')
    copying.add_argument('--force', action='store_true', help='replace files already in DIR/NAME/')
    args = parser.parse_args(argv)

    if args.command == 'list':
        lines = table(args.markdown)
        print('\n'.join(lines))
        return lines
    written = copy_entry(args.name, args.folder, args.data, args.force)
    for path in written:
        print(f'wrote {path}')
    return written
