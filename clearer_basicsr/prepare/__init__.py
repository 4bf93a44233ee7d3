"""clearer-prepare COMMAND (python -m clearer_basicsr.prepare COMMAND): makes the datasets the
shipped option files read, as lossless PNG folders and BasicSR LMDBs.

Every command works in the same order: find the images, check the whole layout (names, pairs,
sizes) before anything is written, claim the outputs (refusing to replace an earlier run unless
--force), then write each split as PNG folders plus BasicSR LMDBs holding the same images under
the same keys. Each command's --help shows its input layout, its outputs and where the dataset
is downloaded.

examples:
  clearer-prepare bsd500 BSR --gray
  clearer-prepare rain800 Rain800 --clean-side left
  clearer-prepare paired --layout sidd --train SIDD_Small_sRGB_Only --crop-size 512 --out datasets/SIDD
  clearer-prepare photos *.deb --gray
  clearer-prepare photos --help
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType

from _clearer_basicsr_cli import _prog
from clearer_basicsr.errors import DiskFullError
from clearer_basicsr.files import is_disk_full

COMMANDS = {  # each command's module (clearer_basicsr.prepare.<name>) and its line in --help
    'bsd500': 'BSDS500 for denoising: clean train / arch (val) / test sets',
    'rain800': 'Rain800 for deraining: side-by-side files -> lq / gt pairs',
    'paired': 'lq / gt pairs: SIDD, Rain100L/H, Rain1400, GoPro, generic',
    'photos': '37 photos from Debian wallpaper packages, for denoising',
}


def command_module(name: str) -> ModuleType:
    """A command's module, imported when it runs or shows its help (it reads images: cv2, numpy)."""
    return importlib.import_module(f'{__name__}.{name}')


@contextlib.contextmanager
def plain_warnings() -> Iterator[None]:
    """Warnings shown as ``warning: MESSAGE`` lines (not file, line and category) meanwhile."""
    shown = warnings.formatwarning
    warnings.formatwarning = lambda message, *args, **kwargs: f'warning: {message}\n'
    try:
        yield
    finally:
        warnings.formatwarning = shown


def parsers(argv: Sequence[str] | None = None) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser of the command line and each command's own (for its usage errors). Only the
    command ``argv`` names (all of them without ``argv``) has its module imported for its
    arguments, so ``clearer-prepare --help`` answers without reading any image library."""
    chosen = [a for a in argv if a in COMMANDS][:1] if argv is not None else list(COMMANDS)
    description, _, epilog = __doc__.partition('\n\n')
    parser = argparse.ArgumentParser(
        prog=_prog('clearer-prepare', 'clearer_basicsr.prepare'),
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND', title='commands')
    subparsers = {}
    for name, summary in COMMANDS.items():
        module = command_module(name) if name in chosen else None
        subparsers[name] = commands.add_parser(
            name,
            help=summary,
            description=module and module.__doc__,
            epilog=module and module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if module:
            module.add_arguments(subparsers[name])
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    """Runs one command; returns the image (or pair) count of each split it wrote. A layout or a
    path it is given that is missing or already there is a :class:`LayoutError` (bad input)."""
    argv = list(argv) if argv is not None else sys.argv[1:]
    parser, subparsers = parsers(argv)
    args = parser.parse_args(argv)
    command = args.command
    from .inputs import LayoutError
    from .outputs import CLAIMED, HELD, remove_claimed

    del args.command  # prepare_info.json records the command's own arguments
    CLAIMED.clear()
    with plain_warnings(), HELD:  # the output folder's lock, taken when the command claims it
        try:
            return command_module(command).prepare(args, subparsers[command])
        except (FileExistsError, FileNotFoundError) as err:
            raise LayoutError(str(err)) from None
        except Exception as err:
            if not CLAIMED or not is_disk_full(err, CLAIMED[0]):
                raise
            out = os.path.dirname(CLAIMED[0])
            removed = remove_claimed()
            raise DiskFullError(
                out,
                f'what this run had written there ({len(removed)} outputs) is removed and earlier files are '
                'kept; free some space, then run the command again',
            ) from err
