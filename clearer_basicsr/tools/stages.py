"""Runs many training and test stages, several at a time, each in a forked child process.

A child is forked from the tool's process (torch and BasicSR already imported: no seconds of
start-up per stage) and runs the plugin's entry point as ``clearer-train -opt FILE`` /
``clearer-test -opt FILE`` would, in the current directory, its output in a log file. Children
start with one intra-op thread each: the stages are small, and several share the cores. A
training stage runs with ``--auto_resume``: one that was stopped continues from its last
training state (``logger: save_checkpoint_freq``) instead of starting again.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence

import yaml

from clearer_basicsr.errors import UserInputError

ENTRIES = {  # a stage's entry -> the module whose main(argv) runs it
    'train': 'clearer_basicsr.train',
    'test': 'clearer_basicsr.test',
    'bm3d': 'clearer_basicsr.tools.bm3d_reference',
}


@dataclasses.dataclass
class Stage:
    """One run of an entry point (a key of :data:`ENTRIES`) on an option file the tool writes."""

    name: str
    entry: str
    options: dict
    option_file: str
    log_file: str
    done: Callable[[], bool]  # True when the stage's outputs exist (a rerun skips it)
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


def write_stage_options(stage: Stage) -> None:
    os.makedirs(os.path.dirname(stage.option_file), exist_ok=True)
    os.makedirs(os.path.dirname(stage.log_file), exist_ok=True)
    tmp = f'{stage.option_file}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        yaml.safe_dump(stage.options, f, sort_keys=False)
    os.replace(tmp, stage.option_file)


def read_times(path: str) -> dict[str, float]:
    """Wall seconds of the stages run so far (``path``: a JSON file the runs append to)."""
    if not os.path.isfile(path):
        return {}
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def record_time(path: str, stage: Stage) -> None:
    times = {**read_times(path), stage.name: round(stage.seconds, 1)}
    with open(f'{path}.tmp', 'w', encoding='utf-8') as f:
        json.dump(times, f, indent=1)
    os.replace(f'{path}.tmp', path)


def run_stages(stages: Sequence[Stage], jobs: int, times_file: str | None = None) -> None:
    """Runs the stages not yet done, ``jobs`` at a time, in order of the list, recording their
    wall times in ``times_file``; a stage that fails stops the tool, naming its log (stages
    already finished stay done for the next try)."""
    todo = [s for s in stages if not s.done()]
    for stage in todo:
        write_stage_options(stage)
    context = multiprocessing.get_context('fork')  # the child inherits the imported torch and plugin
    running = {}  # process -> (stage, start time)
    while todo or running:
        while todo and len(running) < jobs:
            stage = todo.pop(0)
            process = context.Process(target=_run_child, args=(stage.entry, stage.option_file, stage.log_file))
            process.start()
            running[process] = (stage, time.time())
        time.sleep(0.2)
        for process in [p for p in running if not p.is_alive()]:
            stage, start = running.pop(process)
            process.join()
            if process.exitcode != 0:
                for other in running:
                    other.terminate()
                message = (
                    f'stage {stage.name} (clearer-{stage.entry} -opt {stage.option_file}) failed '
                    f'(exit code {process.exitcode}); its output is in {stage.log_file}'
                )
                raise (UserInputError if process.exitcode == 2 else RuntimeError)(message)
            stage.seconds = time.time() - start
            print(f'  done {stage.name} ({stage.seconds:.0f} s)', flush=True)
            if times_file is not None:
                record_time(times_file, stage)
