"""Files a run writes besides BasicSR's: its own log file, ``train_log.jsonl``, ``val_log.jsonl``
and ``metrics.json``.

``train_log.jsonl`` (``experiments/<name>/``): one JSON object per ``logger: print_freq``
iterations, the values BasicSR's log line shows (iteration, learning rates, losses, column
weights), so that loss curves can be read without parsing the text log. A resumed run appends;
readers keep the last entry of an iteration.

``val_log.jsonl`` (``experiments/<name>/``): one JSON object per validation of a training run,
``{"iter": N, "datasets": {<val set>: {psnr: ..., ssim: ...}}}``: the validation curve, from which
:mod:`clearer_basicsr.convergence` says whether the run has converged.

``metrics.json`` is what a test (``results/<name>/``) or a training run's final validation
(``experiments/<name>/``) measured, and what is needed to rebuild the measured network without
reading logs: ``clearer_basicsr.compare`` reads it. Layout::

    name: the run's name            root: the directory the run was started in
    network_g: the network options (a CLEARERNet's genotype written out in full)
    checkpoint: the weights, relative to this folder     param_key: params | params_ema
    self_ensemble, pad_multiple: how the test ran         metrics: the val: metrics options
    convergence: (training runs with a val_freq) gain_last20_db, converged, total_iter and the
                 curve [[iter, psnr], ...] of the first validation set
    datasets:
      <test set name>:
        options: the dataset options      average: {psnr: ..., ssim: ...}
        images: {<image>: {psnr: ..., ssim: ..., output: saved image, relative to this folder}}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

from .files import atomic_write

METRICS_FILE = 'metrics.json'
TRAIN_LOG_FILE = 'train_log.jsonl'
VAL_LOG_FILE = 'val_log.jsonl'


class _Held(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def held_log() -> Iterator[list[logging.LogRecord]]:
    """The 'basicsr' logger (console) for the part of a run that comes before its folder exists
    (building datasets and the model: a failure there must leave no folder); its records are
    kept for :func:`run_log` to write first."""
    from basicsr.utils import get_root_logger

    logger, held = get_root_logger(logger_name='basicsr', log_level=logging.INFO), _Held()
    if logger.level == logging.NOTSET:  # BasicSR sets the level only when given a log file (rank 0)
        logger.setLevel(logging.INFO)
    logger.addHandler(held)
    try:
        yield held.records
    finally:
        logger.removeHandler(held)


@contextlib.contextmanager
def run_log(opt: Mapping[str, Any], log_file: str, earlier: list[logging.LogRecord] = ()) -> Iterator[logging.Logger]:
    """The 'basicsr' logger, writing to this run's log file, which starts with the ``earlier``
    records (:func:`held_log`).

    BasicSR adds a file handler only when the logger is first made in a process; a run started
    in-process after another (tests, notebooks, sweeps) gets its own file this way."""
    from basicsr.utils import get_root_logger

    logger = get_root_logger(logger_name='basicsr', log_level=logging.INFO, log_file=log_file)
    handler = next((h for h in logger.handlers if getattr(h, 'baseFilename', None) == os.path.abspath(log_file)), None)
    made = None
    if opt['rank'] == 0 and handler is None:
        handler = made = logging.FileHandler(log_file, 'w')
        handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s: %(message)s'))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    for record in earlier if handler is not None else ():
        handler.handle(record)
    try:
        yield logger
    finally:
        if made is not None:
            logger.removeHandler(made)
            made.close()


def copy_option_file(opt: Mapping[str, Any], opt_file: str, folder: str) -> None:
    """BasicSR's ``copy_opt_file`` (the option file with the command line on top, in the run's
    folder; rank 0 only), written all at once."""
    if opt.get('rank', 0) != 0:
        return
    with open(opt_file, encoding='utf-8') as f:
        text = f.read()
    with atomic_write(os.path.join(folder, os.path.basename(opt_file))) as f:
        f.write(f'# GENERATE TIME: {time.asctime()}\n# CMD:\n# {" ".join(sys.argv)}\n\n{text}')


def write_metrics(model: Any, opt: Mapping[str, Any], folder: str, checkpoint: str | None) -> str:
    """Writes ``folder/metrics.json`` from the model's last validation; returns its path."""
    net = model.get_bare_model(model.net_g)
    network_g = dict(opt['network_g'])
    if 'genotype' in network_g and hasattr(net, 'genotype'):  # a file path would not survive a move
        network_g['genotype'] = net.genotype().to_dict()
    val = opt.get('val') or {}
    datasets = {d['name']: d for d in (opt.get('datasets') or {}).values()}
    report = {
        'name': opt['name'],
        'root': os.path.abspath(opt.get('root_path') or os.getcwd()),
        'network_g': network_g,
        'checkpoint': os.path.relpath(os.path.abspath(checkpoint), folder) if checkpoint else None,
        'param_key': (opt.get('path') or {}).get('param_key_g', 'params') if not opt['is_train'] else 'params',
        'self_ensemble': bool(val.get('self_ensemble')),
        'pad_multiple': int(val.get('pad_multiple') or 1),
        'metrics': val.get('metrics') or {},
        'datasets': {},
    }
    for name, results in model.validation_results.items():
        images = {
            img: {k: os.path.relpath(v, folder) if k == 'output' else v for k, v in values.items()}
            for img, values in results['images'].items()
        }
        report['datasets'][name] = {'options': datasets.get(name, {}), 'average': results['average'], 'images': images}
    if opt['is_train'] and os.path.isfile(os.path.join(folder, VAL_LOG_FILE)):
        from .convergence import convergence

        report['convergence'] = convergence(val_curve(folder), int(opt['train']['total_iter']))
    path = os.path.join(folder, METRICS_FILE)
    with atomic_write(path) as f:
        json.dump(report, f, indent=1)  # OrderedDicts and tuples of the parsed options become objects and lists
    return path


def read_metrics(folder: str) -> dict[str, Any]:
    with open(os.path.join(folder, METRICS_FILE), encoding='utf-8') as f:
        return json.load(f)


def append_train_log(opt: Mapping[str, Any], log_vars: Mapping[str, Any]) -> None:
    """Appends one line of ``log_vars`` (numbers and lists of numbers) to ``train_log.jsonl``."""
    if opt.get('rank', 0) != 0:
        return
    entry = {k: v for k, v in log_vars.items() if isinstance(v, (int, float, list, tuple))}
    with open(os.path.join(opt['path']['experiments_root'], TRAIN_LOG_FILE), 'a', encoding='utf-8') as f:
        f.write(json.dumps(entry) + '\n')


def read_train_log(folder: str) -> list[dict[str, Any]]:
    """The entries of ``folder/train_log.jsonl`` by iteration (the last one of each, after a resume)."""
    return _read_by_iter(os.path.join(folder, TRAIN_LOG_FILE))


def append_val_log(opt: Mapping[str, Any], current_iter: int, results: Mapping[str, Mapping[str, Any]]) -> None:
    """Appends one validation (``{val set: {'average': {metric: value}}}``) to ``val_log.jsonl``."""
    if opt.get('rank', 0) != 0 or not results:
        return
    entry = {'iter': int(current_iter), 'datasets': {name: dict(r['average']) for name, r in results.items()}}
    with open(os.path.join(opt['path']['experiments_root'], VAL_LOG_FILE), 'a', encoding='utf-8') as f:
        f.write(json.dumps(entry) + '\n')


def val_curve(folder: str, metric: str = 'psnr', dataset: str | None = None) -> list[tuple[int, float]]:
    """``[(iteration, value)]`` of ``metric`` on ``dataset`` (default: the first validation set)."""
    path = os.path.join(folder, VAL_LOG_FILE)
    if not os.path.isfile(path):
        return []
    curve = []
    for entry in _read_by_iter(path):
        sets = entry.get('datasets') or {}
        values = sets.get(dataset) if dataset else next(iter(sets.values()), None)
        if values and metric in values:
            curve.append((entry['iter'], float(values[metric])))
    return curve


def _read_by_iter(path: str) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` by their ``iter`` (the last one of each: a resumed run appends)."""
    by_iter = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:  # the last line of a killed run may be cut
                continue
            by_iter[entry['iter']] = entry
    return [by_iter[i] for i in sorted(by_iter)]
