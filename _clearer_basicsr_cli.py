"""The plugin's command line before the package loads: exit statuses, the train/test parsers and
the console scripts. A leaf: it imports nothing of the package (importing ``clearer_basicsr``
loads torch and BasicSR, seconds), so ``clearer-train --help`` and a mistyped flag answer at once;
every other command's ``--help`` and the ``list`` of the zoo and the option files import the
package without its plugin (:data:`LIGHT`), in a tenth of a second.

Every entry point follows one convention (docs/architecture.md):

* its module has ``main(argv=None)`` that does the job and returns its results to Python
  callers, raising :class:`UserInputError` for bad input;
* ``python -m`` runs it as ``run(main)`` and its console script is a :class:`Command` here;
  :func:`run` turns the outcome into the exit status and prints no return value.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2  # 2 as argparse: the user can fix it


class UserInputError(ValueError):
    """Bad input from the user: an option file, a key, a value, a data file or a command-line
    argument. The message names the file, key or value and what was expected.
    (Also ``clearer_basicsr.errors.UserInputError``; defined here so that the command line can
    catch it without importing the package.)"""


class DiskFullError(OSError):
    """A write that failed because its file system is full; its partial file is already removed.
    ``hint`` (set by whoever knows the run: the last complete checkpoint and the command that
    continues) ends the one line :func:`run` prints; the exit status is 1."""

    def __init__(self, path: str, hint: str = 'free some space, then run the command again') -> None:
        super().__init__(28, 'No space left on device', path)
        self.hint = hint

    def __str__(self) -> str:
        return f'{self.filename}: not written, the disk is full (no space left on device); {self.hint}'


def run(main: Callable[[list[str]], Any], argv: Sequence[str] | None = None) -> NoReturn:
    """Runs ``main(argv)`` (default: the command line) as a command and exits: 0 when it returns
    (its return value is for Python callers and is not printed); 2 on bad input, shown as one
    ``error: ...`` line (a file or folder it may not write or read too), with the traceback too
    when ``--debug`` is among the arguments; 1 on a full disk (one line too) and, with the
    traceback, on any other exception.
    ``sys.exit`` inside ``main`` (argparse's --help and usage errors) passes through."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        main(argv)
    except (UserInputError, PermissionError) as err:  # a folder or file the user may not write or read
        sys.stdout.flush()
        if '--debug' in argv:
            traceback.print_exc()
        if isinstance(err, PermissionError):
            err = f'{err.filename or "a file"}: permission denied ({err.strerror}); expected one this user may write'
        print(f'error: {err}', file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as err:
        if err.errno not in (28, 122):  # ENOSPC, EDQUOT: a full disk (or quota) met by any write
            raise
        sys.stdout.flush()
        if '--debug' in argv:
            traceback.print_exc()
        full = err if isinstance(err, DiskFullError) else DiskFullError(err.filename or 'a file')
        print(f'error: {full}', file=sys.stderr, flush=True)
        sys.exit(EXIT_FAILURE)
    sys.exit(EXIT_OK)


LIGHT = False  # a console script answering without torch: importing clearer_basicsr loads no plugin
LISTS = ('clearer_basicsr.tools.zoo', 'clearer_basicsr.tools.option_files')  # their `list` needs no torch


def answers_without_torch(module: str, argv: Sequence[str]) -> bool:
    """--help of any command, and ``list`` of the zoo and of the shipped option files."""
    return '-h' in argv or '--help' in argv or (module in LISTS and argv[:1] == ['list'])


class Command:
    """A console script: ``module.main`` run through :func:`run`. The module is imported only
    after ``parser`` (when given) has read the command line, so that --help and usage errors
    need no torch; modules are named, not imported, for the same reason (as pip names its own).
    Where the command answers without torch (:func:`answers_without_torch`), the package is
    imported without its plugin (:data:`LIGHT`); else the plugin loads before the work."""

    def __init__(self, module: str, parser: Callable[[], argparse.ArgumentParser] | None = None) -> None:
        self.module, self.parser = module, parser

    def __call__(self) -> NoReturn:
        global LIGHT
        if self.parser is not None:
            self.parser().parse_args(sys.argv[1:])
        LIGHT = answers_without_torch(self.module, sys.argv[1:])
        try:
            run(importlib.import_module(self.module).main)
        finally:  # a caller in the same process (a test, a notebook) imports the whole plugin again
            LIGHT = False


# ----------------------------------------------------------------------------- train and test

LAUNCHERS = ('none', 'pytorch', 'slurm')
OUTPUTS_TRAIN = """\
outputs (under the current directory):
  experiments/<name>/  models/ (net_g_<iter>.pth), training_states/ (for --auto_resume), the log,
                       a copy of the option file; a search also writes genotype.yml there
  tb_logger/<name>/    TensorBoard logs (logger: use_tb_logger: true)"""
OUTPUTS_TEST = """\
outputs (under the current directory):
  results/<name>/      metrics.json (per test set and image, read by clearer-compare), the log,
                       visualization/<test set>/ (val: save_img), a copy of the option file"""
EXIT_STATUS = "exit status: 0 done; 2 bad input (one 'error:' line; --debug adds the traceback); 1 other failures"


def _prog(script: str, module: str) -> str:
    """The name the user typed: the console script, or ``python -m <module>``."""
    return script if os.path.basename(sys.argv[0]) == script else f'python -m {module}'


def option_file(path: str) -> str:
    """argparse type of ``-opt``: a readable file (a typo costs no torch import)."""
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f'no such file: {path!r}')
    return path


def _run_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """BasicSR's flags (-opt, --launcher, --debug, --local_rank, --force_yml), explained."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=textwrap.fill(description, 100),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        '-opt',
        required=True,
        type=option_file,
        metavar='FILE',
        help='BasicSR option file (YAML). Read as plain data (tags that build Python objects are refused) and '
        'checked whole before any folder is made',
    )
    parser.add_argument(
        '--launcher',
        choices=LAUNCHERS,
        default='none',
        help='how the processes were started: none (one process, the default), pytorch (torchrun or '
        'torch.distributed.launch, one process per GPU; gloo on machines without CUDA), slurm (srun)',
    )
    parser.add_argument(
        '--debug',
        action='store_true',
        help="BasicSR's debug mode: the run is named debug_<name> (and a training run logs every iteration, "
        'validates and saves every 8); errors show their traceback',
    )
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        metavar='N',
        help='set by torch.distributed.launch (either spelling); the rank itself is read from the environment',
    )
    parser.add_argument(
        '--force_yml',
        nargs='+',
        metavar='KEY=VALUE',
        help='change options of the file: nested keys joined by colons, e.g. train:total_iter=2000 '
        'manual_seed=1 train:optim_g:lr=1e-3. Values are YAML (numbers such as 1e-3 included); '
        'applied before the random seed is set',
    )
    return parser


def train_parser() -> argparse.ArgumentParser:
    """The command line of ``clearer-train`` / ``python -m clearer_basicsr.train``."""
    prog = _prog('clearer-train', 'clearer_basicsr.train')
    parser = _run_parser(
        prog,
        'Train with a BasicSR option file: a CLEARER architecture search (model_type: CLEARERSearchModel), '
        "the retraining of the derived network, or a baseline. BasicSR's training loop and option files, "
        'with CPU resume, bit-exact resume and CPU-only distributed runs.',
        f"""{OUTPUTS_TRAIN}

examples:
  {prog} -opt options/search_clearer_denoise.yml       # search: experiments/<name>/genotype.yml
  {prog} -opt options/train_clearer_denoise.yml        # retrain the derived network
  {prog} -opt options/train_clearer_denoise.yml --auto_resume
  {prog} -opt options/search_clearer_denoise.yml --force_yml manual_seed=1 name=search_seed1
  torchrun --nproc_per_node 4 -m clearer_basicsr.train -opt options/search_clearer_denoise.yml --launcher pytorch

{EXIT_STATUS}""",
    )
    parser.add_argument(
        '--auto_resume',
        action='store_true',
        help='continue from the newest state in experiments/<name>/training_states/ (weights, optimisers, '
        'schedulers, random states, position in the epoch); starts afresh when there is none',
    )
    return parser


def test_parser() -> argparse.ArgumentParser:
    """The command line of ``clearer-test`` / ``python -m clearer_basicsr.test``."""
    prog = _prog('clearer-test', 'clearer_basicsr.test')
    return _run_parser(
        prog,
        'Test a trained network with a BasicSR test option file: every datasets: test* entry, whole images '
        '(padded, never cropped), the metrics of val: metrics, and the outputs saved (val: save_img).',
        f"""{OUTPUTS_TEST}

examples:
  {prog} -opt options/test_clearer_denoise.yml
  {prog} -opt options/test_clearer_denoise.yml --force_yml path:pretrain_network_g=experiments/X/models/net_g_latest.pth

{EXIT_STATUS}""",
    )


# ----------------------------------------------------------------------------- console scripts
# The targets of setup.py's console_scripts (clearer-<name> = _clearer_basicsr_cli:<name>).

train = Command('clearer_basicsr.train', train_parser)
test = Command('clearer_basicsr.test', test_parser)
demo = Command('clearer_basicsr.tools.demo')
compare = Command('clearer_basicsr.tools.compare')
complexity = Command('clearer_basicsr.tools.complexity')
options = Command('clearer_basicsr.tools.option_files')
zoo = Command('clearer_basicsr.tools.zoo')
evaluate = Command('clearer_basicsr.tools.evaluate')
infer = Command('clearer_basicsr.tools.infer')
export = Command('clearer_basicsr.tools.export')
prepare = Command('clearer_basicsr.prepare')
