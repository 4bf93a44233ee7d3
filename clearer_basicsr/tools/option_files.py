"""python -m clearer_basicsr.options list | copy NAME... DIR (console script clearer-options):
the option files that ship inside the package.

Every task's search, retrain and test files, the BasicSR baselines (baselines/) and the demo's
files live in clearer_basicsr/options/, so a pip install has them. 'list' prints their names and
what each is for; 'copy' writes the named files (names, shell-style patterns such as 'baselines/*',
or all) into a folder, keeping their sub-folders. The files name their data and experiments
relative to the current directory: run them from the folder that holds options/ and datasets/,
for example a BasicSR source tree.

A file already in the folder with other content is kept unless --force is given; nothing is
written unless every file can be.

examples:
  python -m clearer_basicsr.options list
  python -m clearer_basicsr.options copy search_clearer_denoise train_clearer_denoise test_clearer_denoise options/
  python -m clearer_basicsr.options copy 'baselines/*' options/
  python -m clearer_basicsr.options copy all options/
  python basicsr/train.py -opt options/search_clearer_denoise.yml     # from a BasicSR source tree
"""

from __future__ import annotations

import filecmp
import fnmatch
import os
import shutil
from collections.abc import Sequence

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.option_rules import suggest
from clearer_basicsr.tools.cli import PACKAGE_OPTIONS, doc_parser


def shipped_options() -> dict[str, str]:
    """``{name: path}`` of every shipped option file; the name is its path under the options
    folder, with '/' and without '.yml' (``'baselines/train_dncnn_gray_s30'``)."""
    found = {}
    for folder, dirs, files in os.walk(PACKAGE_OPTIONS):
        dirs.sort()
        for file in sorted(files):
            if file.endswith('.yml'):
                relative = os.path.relpath(os.path.join(folder, file), PACKAGE_OPTIONS)
                found[relative[: -len('.yml')].replace(os.sep, '/')] = os.path.join(folder, file)
    return found


def select(patterns: Sequence[str]) -> list[str]:
    """The shipped names that ``patterns`` pick: a name (with or without '.yml'), a shell-style
    pattern, or ``all``; UserInputError naming a pattern that picks nothing."""
    names = list(shipped_options())
    picked = []
    for pattern in patterns:
        pattern = pattern.removesuffix('.yml')
        matches = names if pattern == 'all' else fnmatch.filter(names, pattern)
        if not matches:
            raise UserInputError(
                f'no shipped option file is called {pattern!r}; {suggest(pattern, names)} '
                '(python -m clearer_basicsr.options list shows them all)'
            )
        picked += [name for name in matches if name not in picked]
    return picked


def summary(path: str, width: int = 100) -> str:
    """The first sentence of an option file's header comment, cut to ``width`` characters."""
    words = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            text = line.lstrip('#').strip()
            if not line.startswith('#') or not text:
                break
            words += text.split()
    sentence = ' '.join(words).split('. ')[0]
    return sentence if len(sentence) <= width else sentence[: width - 3] + '...'


def copy_options(patterns: Sequence[str], folder: str, force: bool = False) -> list[str]:
    """Copies the shipped files ``patterns`` pick into ``folder`` (sub-folders kept); returns the
    paths written. A different file already there is an error unless ``force``; it is raised
    before anything is written."""
    shipped = shipped_options()
    plan = [(shipped[name], os.path.join(folder, *f'{name}.yml'.split('/'))) for name in select(patterns)]
    plan = [(src, dst) for src, dst in plan if not (os.path.exists(dst) and os.path.samefile(src, dst))]
    clashes = [dst for src, dst in plan if os.path.exists(dst) and not filecmp.cmp(src, dst, shallow=False)]
    if clashes and not force:
        shown = ', '.join(clashes[:3]) + (f' and {len(clashes) - 3} more' if len(clashes) > 3 else '')
        raise UserInputError(f'{shown}: already there with other content; kept (--force replaces it)')
    for src, dst in plan:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
    return [dst for _, dst in plan]


def main(argv: Sequence[str] | None = None) -> list[str]:
    """Runs the command; returns the names listed or the paths written."""
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.options')
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('list', help='the shipped option files and what each is for')
    copy = commands.add_parser('copy', help='copy option files into a folder (sub-folders kept)')
    copy.add_argument('names', nargs='+', metavar='NAME', help="a name from 'list', a pattern ('baselines/*') or all")
    copy.add_argument('folder', metavar='DIR', help='where to copy them, e.g. options/')
    copy.add_argument('--force', action='store_true', help='replace files already in DIR that differ')
    args = parser.parse_args(argv)

    if args.command == 'list':
        shipped = shipped_options()
        width = max(map(len, shipped))
        for name, path in shipped.items():
            print(f'{name:<{width}}  {summary(path)}')
        return list(shipped)
    written = copy_options(args.names, args.folder, args.force)
    for path in written:
        print(f'wrote {path}')
    return written
