"""Start-up cost of the plugin's hook: what every Python program in the environment pays.

Builds a throwaway virtual environment, puts the hook module and ``clearer_basicsr.pth``
in its site-packages, and prints the hook's lines of ``python -X importtime -c pass`` and the
median wall time of ``python -c pass`` with and without the ``.pth``.

    python benchmarks/bench_startup.py [--runs 20] [--source DIR]

``--source`` takes the hook from another checkout (e.g. an older commit's worktree).
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


def main(argv=None):
    """Prints the hook's start-up cost; returns {case: median ms with and without the .pth}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=20, help='starts timed per case (default 20)')
    parser.add_argument('--source', default=REPO, help='checkout holding the hook (default: this one)')
    args = parser.parse_args(argv)
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
