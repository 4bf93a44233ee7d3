"""Command-line plumbing of the tools: parsers made from a module's docstring, and stages
(demo, sweep) that run the plugin's entry points in fresh interpreters, exactly as a user would
type them, in the current directory. (Exit statuses: ``_clearer_basicsr_cli.run``.)"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence

from clearer_basicsr.errors import UserInputError

# The option files shipped inside the package (the demo's).
PACKAGE_OPTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'options')


# reST markup of docstrings, shown as plain text by --help: ``code`` and :role:`target`.
REST_MARKUP = re.compile(r'``(.+?)``|:[a-z]+:`~?(.+?)`')


def doc_parser(doc: str, prog: str | None = None, epilog_from: int | None = 1) -> argparse.ArgumentParser:
    """A parser whose description is the first paragraph of ``doc`` and whose epilog is the rest,
    from paragraph ``epilog_from`` on (None: no epilog), kept as written but for reST markup."""
    paragraphs = REST_MARKUP.sub(lambda m: m.group(1) or m.group(2), doc).split('\n\n')
    epilog = '\n\n'.join(paragraphs[epilog_from:]) if epilog_from is not None else None
    return argparse.ArgumentParser(
        prog=prog, description=paragraphs[0], epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def run_stage(
    title: str,
    entry: str,
    option_file: str,
    extra_args: Sequence[str] = (),
    log_path: str | None = None,
    show: re.Pattern | None = None,
    threads: int | None = None,
) -> None:
    """``python -m clearer_basicsr.<entry> -opt <option_file> <extra_args>``.

    Its output goes to ``log_path`` when given; lines matching ``show`` are printed as they come.
    A failed stage prints its last lines and exits naming the command (UserInputError when the
    stage refused its input, exit status 2). ``threads`` sets
    OMP_NUM_THREADS (default: this process's, else 1: tiny nets gain little from intra-op
    threads and, on a small or busy machine, oversubscribe the cores)."""
    cmd = [sys.executable, '-m', f'clearer_basicsr.{entry}', '-opt', option_file, *extra_args]
    print(f'\n=== {title}: python {" ".join(cmd[1:])}', flush=True)
    threads = str(threads or os.environ.get('OMP_NUM_THREADS', '1'))
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    start, tail = time.time(), collections.deque(maxlen=60)
    with (
        open(log_path or os.devnull, 'w') as log,
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc,
    ):
        for line in proc.stdout:
            log.write(line)
            tail.append(line)
            if show is not None and show.search(line):
                print('   ', line.rstrip()[:160], flush=True)
    if proc.returncode:
        sys.stdout.write(''.join(tail))
        where = f'; its output is in {log_path}' if log_path else ''
        message = f'stage {title!r} failed (exit code {proc.returncode}){where}: {" ".join(cmd)}'
        raise UserInputError(message) if proc.returncode == 2 else SystemExit(message)
    print(f'=== {title} done in {time.time() - start:.0f} s', flush=True)
