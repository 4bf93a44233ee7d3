"""Runs the plugin's entry points as stages of a tool: one at a time in a fresh interpreter, its
lines shown as they come (:func:`run_stage`: the demo, the sweep), or many, several at a time,
each in a forked child process (:func:`run_stages`: the evaluation). A failed stage stops the
tool the same way in both (:func:`stage_failure`).

A child is forked from the tool's process (torch and BasicSR already imported: no seconds of
start-up per stage) and runs the plugin's entry point as ``clearer-train -opt FILE`` /
``clearer-test -opt FILE`` would, in the current directory, its output in a log file. Children
start with one intra-op thread each: the stages are small, and several share the cores. A
training stage runs with ``--auto_resume``: one that was stopped continues from its last
training state (``logger: save_checkpoint_freq``) instead of starting again.

A stage may wait for another (a test for its retrain), and may name folders whose records (the
small text files a report reads: metrics, curves, genotypes) are kept once it is done. Kept
records mirror their paths under a folder the tool is given (``--keep``): a fresh clone holding
that folder continues where the last machine stopped, without checkpoints.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence

import yaml

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.files import atomic_write

ENTRIES = {  # a stage's entry -> the module whose main(argv) runs it
    'train': 'clearer_basicsr.train',
    'test': 'clearer_basicsr.test',
    'bm3d': 'clearer_basicsr.tools.bm3d_reference',
}


@dataclasses.dataclass(eq=False)  # a stage is itself: ``after`` and the queues compare identity
class Stage:
    """One run of an entry point (a key of :data:`ENTRIES`) on an option file the tool writes."""

    name: str
    entry: str
    options: dict
    option_file: str
    log_file: str
    done: Callable[[], bool]  # True when the stage's outputs exist (a rerun skips it)
    after: Stage | None = None  # a stage that must be done first
    records: tuple[str, ...] = ()  # folders whose records are kept once this stage is done
    seconds: float | None = None  # wall time, once run


def _run_child(entry: str, option_file: str, log_file: str) -> None:
    """In the forked child: the entry point with its output in ``log_file``. Exits 0 done,
    2 bad input, 1 any other failure (the traceback is in the log)."""
    import torch

    torch.set_num_threads(1)
    status = 1
    with open(log_file, 'w') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        try:
            resume = ['--auto_resume'] if entry == 'train' else []
            importlib.import_module(ENTRIES[entry]).main(['-opt', option_file, *resume])
            status = 0
        except UserInputError:
            traceback.print_exc(file=log)
            status = 2
        except BaseException:
            traceback.print_exc(file=log)
        log.flush()
    os._exit(status)  # no atexit handlers or buffers of the parent run twice


def stage_failure(name: str, command: str, exit_code: int, log_file: str | None) -> Exception:
    """What stops a tool when one of its stages failed: a UserInputError (exit status 2) when the
    stage refused its input, else a SystemExit (status 1, the message and no traceback of the
    tool: the stage's own is in its log). Both name the command and the log."""
    where = f'; its output is in {log_file}' if log_file else ''
    message = f'stage {name} ({command}) failed (exit code {exit_code}){where}'
    return UserInputError(message) if exit_code == 2 else SystemExit(message)


def run_stage(
    title: str,
    entry: str,
    option_file: str,
    extra_args: Sequence[str] = (),
    log_path: str | None = None,
    show: re.Pattern | None = None,
    threads: int | None = None,
) -> None:
    """One stage in a fresh interpreter, as a user would type it (the demo, the sweep):
    ``python -m clearer_basicsr.<entry> -opt <option_file> <extra_args>``.

    Its output goes to ``log_path`` when given; lines matching ``show`` are printed as they come.
    A failed stage prints its last lines and raises :func:`stage_failure`. ``threads`` sets
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
        raise stage_failure(title, f'python {" ".join(cmd[1:])}', proc.returncode, log_path)
    print(f'=== {title} done in {time.time() - start:.0f} s', flush=True)


def write_stage_options(stage: Stage) -> None:
    os.makedirs(os.path.dirname(stage.option_file), exist_ok=True)
    os.makedirs(os.path.dirname(stage.log_file), exist_ok=True)
    with atomic_write(stage.option_file) as f:
        yaml.safe_dump(stage.options, f, sort_keys=False)


clock = time.monotonic  # the stages' timer (a test replaces it)


TIMES_FILE = 'stage_times.json'  # a tool's wall seconds of its finished stages, by stage name


def read_times(path: str) -> dict[str, float]:
    """Wall seconds of each stage (``path``: a JSON file the runs update): over all its tries in
    the times file of finished stages, until the last note in :func:`unfinished_times_file`."""
    if not os.path.isfile(path):
        return {}
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def record_times(path: str, seconds: Mapping[str, float], drop: str | None = None) -> None:
    times = {**read_times(path), **{name: round(s, 1) for name, s in seconds.items()}}
    times.pop(drop, None)
    with atomic_write(path) as f:
        json.dump(times, f, indent=1)


def unfinished_times_file(times_file: str) -> str:
    """Where the seconds of tries not finished yet are noted: apart from the finished stages', so
    that a finished stage run again (its outputs deleted) starts from nothing."""
    return os.path.splitext(times_file)[0] + '_unfinished.json'


RECORD_SUFFIXES = ('.json', '.jsonl', '.yml', '.csv')  # what a report reads; no weights, no images


def keep_records(paths: Sequence[str], keep: str) -> None:
    """Copies the records of ``paths`` (files, or the record files directly in folders; paths
    relative to the working directory) to the same relative paths under ``keep``."""
    for path in paths:
        if os.path.isfile(path):
            files = [path]
        else:
            names = sorted(os.listdir(path)) if os.path.isdir(path) else []
            files = [os.path.join(path, n) for n in names if n.endswith(RECORD_SUFFIXES)]
        for file in files:
            target = os.path.join(keep, os.path.relpath(file))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(file, 'rb') as src, atomic_write(target, binary=True) as dst:
                shutil.copyfileobj(src, dst)


def restore_records(keep: str) -> int:
    """Copies every record kept under ``keep`` that the working directory lacks back into it, and
    into a times file it holds (:data:`TIMES_FILE`) the finished stages' times it lacks: a file
    from an earlier try would otherwise hide those kept since by another working copy. Returns
    how many files it copied or completed."""
    copied = 0
    for folder, _, names in os.walk(keep):
        for name in names:
            kept = os.path.join(folder, name)
            target = os.path.relpath(kept, keep)
            if not os.path.exists(target):
                os.makedirs(os.path.dirname(target) or '.', exist_ok=True)
                shutil.copyfile(kept, target)
                copied += 1
            elif name == TIMES_FILE:
                times = read_times(target)
                missing = {stage: s for stage, s in read_times(kept).items() if stage not in times}
                if missing:
                    record_times(target, missing)
                    copied += 1
    return copied


def run_stages(stages: Sequence[Stage], jobs: int, times_file: str | None = None, keep: str | None = None) -> None:
    """Runs the stages not yet done, ``jobs`` at a time, in order of the list (a stage waits for
    its ``after``), recording their wall times in ``times_file`` and keeping their records under
    ``keep``; a stage that fails stops the tool, naming its log (stages already finished stay
    done for the next try). A running stage's time is noted every minute, so that one stopped
    and resumed later is timed over all its tries."""
    todo = [s for s in stages if not s.done()]
    unfinished = unfinished_times_file(times_file) if times_file else None
    spent = read_times(unfinished) if unfinished else {}  # by earlier tries that were stopped
    noted = clock()
    for stage in todo:
        write_stage_options(stage)
    context = multiprocessing.get_context('fork')  # the child inherits the imported torch and plugin
    running = {}  # process -> (stage, start time)

    def startable() -> Stage | None:
        pending = [*todo, *(s for s, _ in running.values())]
        return next((s for s in todo if not any(s.after is p for p in pending)), None)

    def note_running() -> None:
        if unfinished is not None:
            record_times(unfinished, {s.name: spent.get(s.name, 0) + clock() - t for s, t in running.values()})
            if keep is not None:
                keep_records([unfinished], keep)

    while todo or running:
        while len(running) < jobs and (stage := startable()) is not None:
            todo.remove(stage)
            process = context.Process(target=_run_child, args=(stage.entry, stage.option_file, stage.log_file))
            process.start()
            running[process] = (stage, clock())
        time.sleep(0.2)
        if clock() - noted > 60:  # a stop loses at most a minute
            noted = clock()
            note_running()
        for process in [p for p in running if not p.is_alive()]:
            stage, start = running.pop(process)
            process.join()
            if process.exitcode != 0:
                note_running()
                for other in running:
                    other.terminate()
                command = f'clearer-{stage.entry} -opt {stage.option_file}'
                raise stage_failure(stage.name, command, process.exitcode, stage.log_file)
            stage.seconds = spent.pop(stage.name, 0) + clock() - start
            print(f'  done {stage.name} ({stage.seconds:.0f} s)', flush=True)
            if times_file is not None:
                record_times(times_file, {stage.name: stage.seconds})
                record_times(unfinished, {}, drop=stage.name)
            if keep is not None:
                keep_records([*stage.records, *([times_file, unfinished] if times_file else [])], keep)
