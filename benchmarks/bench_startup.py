"""Start-up cost of the plugin's hook: what every Python program in the environment pays; and,
with --commands, what each console script costs before it answers --help (and clearer-zoo list,
clearer-options list).

Builds a throwaway virtual environment, puts the hook module and ``clearer_basicsr.pth``
in its site-packages, and prints the hook's lines of ``python -X importtime -c pass`` and the
median wall time of ``python -c pass`` with and without the ``.pth``.

    python benchmarks/bench_startup.py [--runs 20] [--source DIR]
    python benchmarks/bench_startup.py --commands [--runs 5] [--source DIR]

``--source`` takes the hook (with --commands: the whole package) from another checkout (e.g. an
older commit's worktree). --commands runs each command as its console script does, in a fresh
interpreter with that checkout first on the path, and prints the median CPU seconds (user + sys,
which another job on the machine moves less than the wall time) and wall seconds per command.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # the checkout's command-line helper (the standard library only)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402

FILES = ('_clearer_basicsr_hook.py', 'clearer_basicsr.pth')


def site_packages(venv):
    lib = os.path.join(venv, 'lib')
    return os.path.join(lib, os.listdir(lib)[0], 'site-packages')


def start_times(python, env, pth, runs):
    """Median wall times (ms) of ``python -c pass`` with and without the ``.pth``, runs interleaved
    so that a busy machine slows both alike."""
    times = {True: [], False: []}
    for _ in range(runs):
        for with_hook in (True, False):
            if not with_hook:
                os.rename(pth, pth + '.off')
            start = time.perf_counter()
            subprocess.run([python, '-c', 'pass'], check=True, env=env)
            times[with_hook].append(time.perf_counter() - start)
            if not with_hook:
                os.rename(pth + '.off', pth)
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


def hook_line(python, env):
    """The line of ``python -X importtime -c pass`` that names the hook."""
    err = subprocess.run([python, '-X', 'importtime', '-c', 'pass'], env=env, capture_output=True, text=True).stderr
    return next((line for line in err.splitlines() if '_clearer_basicsr_hook' in line), '(not imported)')


COMMAND = """
import sys
sys.path.insert(0, {source!r})
import _clearer_basicsr_cli as cli
sys.argv = ['clearer-{name}', *{argv!r}]
try:
    cli.{name}()
except SystemExit as exit:
    assert exit.code == 0, exit.code
"""
ANSWERS = [(name, ['--help']) for name in ('train', 'test', 'demo', 'compare', 'complexity', 'options', 'zoo')]
ANSWERS += [(name, ['--help']) for name in ('evaluate', 'infer', 'export', 'prepare')]
ANSWERS += [('zoo', ['list']), ('options', ['list'])]


def command_times(source, runs):
    """{'clearer-NAME ARGS': (median CPU s, median wall s)} over ``runs`` fresh interpreters each."""
    results = {}
    for name, argv in ANSWERS:
        cpu, wall = [], []
        for _ in range(runs):
            before, start = os.times(), time.perf_counter()
            subprocess.run(
                [sys.executable, '-c', COMMAND.format(source=source, name=name, argv=argv)],
                check=True,
                capture_output=True,
                cwd=tempfile.gettempdir(),  # not a checkout: only --source is on the path
            )
            after = os.times()
            wall.append(time.perf_counter() - start)
            cpu.append(after.children_user - before.children_user + after.children_system - before.children_system)
        label = f'clearer-{name} {" ".join(argv)}'
        results[label] = (statistics.median(cpu), statistics.median(wall))
        print(f'{label:<28} CPU {results[label][0]:6.2f} s   wall {results[label][1]:6.2f} s', flush=True)
    return results


def main(argv=None):
    """Prints the hook's start-up cost; returns {case: median ms with and without the .pth}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=20, help='starts timed per case (default 20)')
    parser.add_argument('--source', default=REPO, help='checkout holding the hook (default: this one)')
    parser.add_argument('--commands', action='store_true', help="time the console scripts' --help and lists")
    args = parser.parse_args(argv)
    if args.commands:
        return command_times(os.path.abspath(args.source), args.runs)
    missing = [name for name in FILES if not os.path.isfile(os.path.join(args.source, name))]
    if missing or args.runs < 1:
        raise UserInputError(f'--source {args.source} --runs {args.runs}: expected a checkout with {FILES}, runs >= 1')
    results = {}
    base = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
    with tempfile.TemporaryDirectory() as tmp:
        venv = os.path.join(tmp, 'venv')
        python_exe = getattr(sys, '_base_executable', sys.executable)
        subprocess.run([python_exe, '-m', 'venv', venv], check=True)  # with pip: its .pth files as every venv
        python, site = os.path.join(venv, 'bin', 'python'), site_packages(venv)
        for name in FILES:
            shutil.copy(os.path.join(args.source, name), site)
        pth = os.path.join(site, FILES[1])
        # As installed (pip compiles the hook once), then as here and in editable installs run
        # with PYTHONDONTWRITEBYTECODE=1: no .pyc, so every start compiles the hook.
        for case in ('bytecode cached', 'no bytecode (PYTHONDONTWRITEBYTECODE=1)'):
            env = base if case == 'bytecode cached' else dict(base, PYTHONDONTWRITEBYTECODE='1')
            if env is base:
                subprocess.run([python, '-c', 'pass'], check=True, env=env)  # writes the .pyc
            else:
                os.remove(
                    os.path.join(
                        site,
                        '__pycache__',
                        [n for n in os.listdir(os.path.join(site, '__pycache__')) if n.startswith('_clearer')][0],
                    )
                )
            times = results[case] = start_times(python, env, pth, args.runs)
            print(f'{case}:')
            print(f'  python -X importtime -c pass: {hook_line(python, env).strip()}')
            print(
                f'  median of {args.runs} `python -c pass`: {times[True]:.1f} ms with the .pth, {times[False]:.1f} ms '
                f'without ({times[True] - times[False]:+.1f} ms)'
            )
    return results


if __name__ == '__main__':
    run(main)
