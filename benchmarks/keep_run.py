"""Keeps a long training run across machines: its records (logs, curves, option file,
genotype.yml) and its latest training state with the weights saved beside it, under
benchmarks/records/, so that a fresh clone continues it with --auto_resume.

    python benchmarks/keep_run.py save benchmark_search_gray_s25 benchmark_train_gray_s25
    python benchmarks/keep_run.py restore        # then: clearer-train -opt ... --auto_resume

Run from the folder that holds experiments/. 'restore' copies back only what is missing. Only the
newest state is kept (an older one kept earlier is removed), so the records stay small.
"""

import argparse
import glob
import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from clearer_basicsr.tools.stages import keep_records, restore_records  # noqa: E402

KEEP = os.path.join(REPO, 'benchmarks', 'records')


def latest_state(run):
    """(iteration, state path) of the newest training state of experiments/<run>, or None."""
    states = glob.glob(os.path.join('experiments', run, 'training_states', '*.state'))
    found = [(int(os.path.basename(p).split('.')[0]), p) for p in states if os.path.basename(p)[:-6].isdigit()]
    return max(found) if found else None


def save(run):
    keep_records([os.path.join('experiments', run)], KEEP)
    for old in glob.glob(os.path.join(KEEP, 'experiments', run, '*', '*.state')) + glob.glob(
        os.path.join(KEEP, 'experiments', run, 'models', 'net_*_[0-9]*.pth')
    ):
        os.remove(old)
    final = os.path.join('experiments', run, 'models', 'net_g_latest.pth')
    if os.path.exists(final):  # finished: its final weights are what it made
        os.makedirs(os.path.join(KEEP, os.path.dirname(final)), exist_ok=True)
        shutil.copyfile(final, os.path.join(KEEP, final))
        return f'{run}: records and final weights (finished)'
    newest = latest_state(run)
    if newest is None:
        return f'{run}: records only (no training state yet)'
    iteration, state = newest
    weights = glob.glob(os.path.join('experiments', run, 'models', f'net_*_{iteration}.pth'))
    for path in [state, *weights]:
        target = os.path.join(KEEP, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
    return f'{run}: records, state and weights of iteration {iteration}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=['save', 'restore'])
    parser.add_argument('runs', nargs='*', help='experiment names (save)')
    args = parser.parse_args(argv)
    if args.action == 'save':
        for run in args.runs:
            print(f'kept {save(run)} in {KEEP}')
    else:
        print(f'restored {restore_records(KEEP)} files from {KEEP}')


if __name__ == '__main__':
    main()
