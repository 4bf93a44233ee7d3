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
import os
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType

from _clearer_basicsr_cli import _prog
from clearer_basicsr.errors import DiskFullError
from clearer_basicsr.files import is_disk_full

from . import bsd500, paired, photos, rain800
from .inputs import LayoutError
from .outputs import CLAIMED, HELD, remove_claimed

COMMANDS: dict[str, ModuleType] = {'bsd500': bsd500, 'rain800': rain800, 'paired': paired, 'photos': photos}


@contextlib.contextmanager
def plain_warnings() -> Iterator[None]:
    """Warnings shown as ``warning: MESSAGE`` lines (not file, line and category) meanwhile."""
    shown = warnings.formatwarning
    warnings.formatwarning = lambda message, *args, **kwargs: f'warning: {message}\n'
    try:
        yield
    finally:
        warnings.formatwarning = shown


def parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser of the command line and each command's own (for its usage errors)."""
    description, _, epilog = __doc__.partition('\n\n')
    parser = argparse.ArgumentParser(
        prog=_prog('clearer-prepare', 'clearer_basicsr.prepare'),
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND', title='commands')
    subparsers = {}
    for name, module in COMMANDS.items():
        subparsers[name] = commands.add_parser(
            name,
            help=module.SUMMARY,
            description=module.__doc__,
            epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(subparsers[name])
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    """Runs one command; returns the image (or pair) count of each split it wrote. A layout or a
    path it is given that is missing or already there is a :class:`LayoutError` (bad input)."""
    parser, subparsers = parsers()
    args = parser.parse_args(argv)
    command = args.command
    del args.command  # prepare_info.json records the command's own arguments
    CLAIMED.clear()
    with plain_warnings(), HELD:  # the output folder's lock, taken when the command claims it
        try:
            return COMMANDS[command].prepare(args, subparsers[command])
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
