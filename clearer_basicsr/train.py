"""``python -m clearer_basicsr.train -opt X.yml`` (console script ``clearer-train``).

BasicSR's training loop, driven by BasicSR's own option parser and helpers, with what its
``basicsr/train.py`` cannot do:

* experiments, tb_logger and results go under the current directory (not site-packages);
* ``--auto_resume`` works on the CPU (and ``num_gpu: auto`` on a CPU machine);
* ``--launcher pytorch`` uses gloo where there is no CUDA;
* a resume is bit-exact when data loads in the main process (``num_worker_per_gpu: 0``): the
  random states and the position inside the epoch are saved with each training state.

Every BasicSR flag keeps working (``--auto_resume``, ``--debug``, ``--force_yml``, ``--launcher``,
``--local_rank`` or ``--local-rank``; ``clearer-train --help`` explains them); the option file is
read as data, and ``--force_yml manual_seed=N`` takes effect (:mod:`clearer_basicsr.option_file`).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import os
import time
from typing import Any, NamedTuple

import torch
from basicsr.data.prefetch_dataloader import CPUPrefetcher, CUDAPrefetcher
from basicsr.models import build_model
from basicsr.train import init_tb_loggers
from basicsr.utils import (
    AvgTimer,
    MessageLogger,
    get_env_info,
    get_root_logger,
    get_time_str,
    make_exp_dirs,
    mkdir_and_rename,
)
from basicsr.utils.options import dict2str

import clearer_basicsr  # noqa: F401  (registers the plugin, applies the compatibility fixes)
from _clearer_basicsr_cli import run, train_parser

from .checkpoint import rng_kept, set_rng_state
from .compat import load_resume_state
from .data.samplers import build_eval_loader, build_train_loader
from .errors import DiskFullError
from .files import folder_lock, is_disk_full, remove_partial_writes
from .option_file import parse_and_check, seed_line
from .options_check import mark_checked
from .run_files import append_train_log, append_val_log, copy_option_file, held_log, run_log, write_metrics


def build_phase_loaders(opt: dict, logger: logging.Logger) -> tuple:
    """Train loader (with its sampler) and val loaders, as BasicSR's ``create_train_val_dataloader``."""
    train_loader, sampler, val_loaders = None, None, []
    total_iters = int(opt['train']['total_iter'])
    for phase, dataset_opt in opt['datasets'].items():
        if phase == 'train':
            train_loader, sampler = build_train_loader(dataset_opt, opt)
            enlarge = dataset_opt.get('dataset_enlarge_ratio', 1)
            iters_per_epoch = len(train_loader)
            total_epochs = math.ceil(total_iters / iters_per_epoch)
            logger.info(
                f'Training statistics: {len(train_loader.dataset)} images, enlarge ratio {enlarge}, '
                f'batch size per gpu {dataset_opt["batch_size_per_gpu"]}, world size {opt["world_size"]}, '
                f'{iters_per_epoch} iterations per epoch; total epochs {total_epochs}, iters {total_iters}.'
            )
        else:  # val*: options_check.check_training_loop allows nothing else
            val_loaders.append(build_eval_loader(dataset_opt, opt))
            logger.info(f'Number of val images/folders in {dataset_opt["name"]}: {len(val_loaders[-1].dataset)}')
    return train_loader, sampler, val_loaders, total_epochs, total_iters


def train_pipeline(root_path: str | None = None, argv: list[str] | None = None) -> Any:
    """Trains as ``clearer-train <argv>`` (default: the command line) would, with experiments
    under ``root_path`` (default: the current directory); returns the trained model. Once built,
    the run holds its experiment folder for its whole life: a second run of the same name is
    refused before it renames or writes anything."""
    root_path = os.path.abspath(root_path or os.getcwd())
    args = train_parser().parse_args(argv)
    opt = parse_and_check(args, root_path, is_train=True)  # before any folder is made or renamed
    torch.backends.cudnn.benchmark = True
    resume_state = load_resume_state(opt)
    with held_log() as earlier:  # a failure while building leaves no folder behind
        logger = get_root_logger()
        logger.info(get_env_info())
        logger.info(dict2str(opt))
        logger.info(seed_line(opt))
        built = build_run(opt, resume_state, logger)
    command = f'clearer-train -opt {args.opt} --auto_resume'
    with folder_lock(opt['path']['experiments_root'], command) if opt['rank'] == 0 else contextlib.nullcontext():
        return start_run(opt, args.opt, root_path, resume_state, earlier, built)


def start_run(
    opt: dict, opt_file: str, root_path: str, resume_state: dict | None, earlier: list, built: BuiltRun
) -> Any:
    """Makes (or continues in) the run's folder and trains: :func:`train_pipeline` once built."""
    if resume_state is None:
        if opt['rank'] == 0 and os.path.isdir(opt['path']['experiments_root']):
            remove_partial_writes(opt['path']['experiments_root'])  # not into the archive make_exp_dirs makes
        make_exp_dirs(opt)
        if opt['logger'].get('use_tb_logger') and 'debug' not in opt['name'] and opt['rank'] == 0:
            mkdir_and_rename(os.path.join(root_path, 'tb_logger', opt['name']))
    copy_option_file(opt, opt_file, opt['path']['experiments_root'])

    log_file = os.path.join(opt['path']['log'], f'train_{opt["name"]}_{get_time_str()}.log')
    with run_log(opt, log_file, earlier) as logger:
        if resume_state is not None and opt['rank'] == 0:
            for path in remove_partial_writes(opt['path']['experiments_root']):
                logger.info(f'Removed {path}: a write that was killed left it.')
        try:
            return train_loop(opt, resume_state, logger, built)
        except OSError as err:  # a full disk, met by a checkpoint (DiskFullError) or by a log line
            if not is_disk_full(err, opt['path']['experiments_root']):
                raise
            hint = continue_hint(opt, opt_file)
            if isinstance(err, DiskFullError):
                err.hint = hint
                raise
            raise DiskFullError(err.filename or opt['path']['log'], hint) from err


def continue_hint(opt: dict, opt_file: str) -> str:
    """What a run stopped by a full disk says after the file it could not write: its last
    complete training state and the command that continues from it."""
    states = opt['path']['training_states']
    done = sorted(
        int(name.removesuffix('.state'))
        for name in (os.listdir(states) if os.path.isdir(states) else [])
        if name.removesuffix('.state').isdigit()
    )
    last = (
        f'the last complete checkpoint is {os.path.join(states, f"{done[-1]}.state")} (iteration {done[-1]})'
        if done
        else 'no checkpoint was complete yet'
    )
    return f'{last}; free some space, then continue with: clearer-train -opt {opt_file} --auto_resume'


class BuiltRun(NamedTuple):
    """What a training run works with, all built before its folder is made."""

    model: Any
    train_loader: Any
    sampler: Any
    val_loaders: list
    total_epochs: int
    total_iters: int


def build_run(opt: dict, resume_state: dict | None, logger: logging.Logger) -> BuiltRun:
    """The loaders and the model (resumed when ``resume_state``); writes nothing."""
    loaders = build_phase_loaders(opt, logger)
    mark_checked(opt)  # checked by train_pipeline: the model skips the repeat
    model = build_model(opt)
    if resume_state:
        model.resume_training(resume_state)
    return BuiltRun(model, *loaders)


def train_loop(opt: dict, resume_state: dict | None, logger: logging.Logger, built: BuiltRun) -> Any:
    """BasicSR's training loop, resumable bit-exactly; returns the trained model."""
    model, train_loader, sampler, val_loaders, total_epochs, total_iters = built
    tb_logger = init_tb_loggers(opt)
    start_epoch, current_iter, skip = 0, 0, 0
    if resume_state:
        start_epoch, current_iter = resume_state['epoch'], resume_state['iter']
        skip = resume_state.get('batch_in_epoch') or 0
        logger.info(f'Resuming training from epoch: {start_epoch}, iter: {current_iter} (batch {skip} of the epoch).')
    msg_logger = MessageLogger(opt, current_iter, tb_logger)

    if opt['datasets']['train'].get('prefetch_mode') == 'cuda':
        prefetcher = CUDAPrefetcher(train_loader, opt)
    else:
        prefetcher = CPUPrefetcher(train_loader)

    logger.info(f'Start training from epoch: {start_epoch}, iter: {current_iter}')
    data_timer, iter_timer = AvgTimer(), AvgTimer()
    start_time = time.time()
    val_freq = (opt.get('val') or {}).get('val_freq')
    epoch = start_epoch
    for epoch in range(start_epoch, total_epochs + 1):
        model.epoch = epoch
        sampler.set_epoch(epoch)
        sampler.skip = skip * opt['datasets']['train']['batch_size_per_gpu']
        batch_in_epoch = skip
        prefetcher.reset()
        if resume_state and resume_state.get('rng') and epoch == start_epoch:
            set_rng_state(resume_state['rng'])  # after the loader drew its base seed, as the first run had
        skip = 0
        train_data = prefetcher.next()
        while train_data is not None:
            data_timer.record()
            current_iter += 1
            if current_iter > total_iters:
                break
            batch_in_epoch += 1
            model.batch_in_epoch = batch_in_epoch
            model.update_learning_rate(current_iter, warmup_iter=opt['train'].get('warmup_iter', -1))
            model.feed_data(train_data)
            model.optimize_parameters(current_iter)
            if hasattr(model, 'keep_finite_state'):  # what a non-finite stop saves (the plugin's models)
                model.keep_finite_state(current_iter)
            iter_timer.record()
            if current_iter == 1:
                msg_logger.reset_start_time()
            if current_iter % opt['logger']['print_freq'] == 0:
                log_vars = {
                    'epoch': epoch,
                    'iter': current_iter,
                    'lrs': model.get_current_learning_rate(),
                    'time': iter_timer.get_avg_time(),
                    'data_time': data_timer.get_avg_time(),
                }
                log_vars.update(model.get_current_log())
                append_train_log(opt, log_vars)  # before: BasicSR's logger pops iter, epoch and lrs
                msg_logger(log_vars)
            if current_iter % opt['logger']['save_checkpoint_freq'] == 0:
                logger.info('Saving models and training states.')
                model.save(epoch, current_iter)
            if val_freq and current_iter % val_freq == 0:
                with rng_kept():  # as if it had not run: a state saved at this iteration resumes bit-exactly
                    for val_loader in val_loaders:
                        model.validation(val_loader, current_iter, tb_logger, opt['val'].get('save_img', False))
                append_val_log(opt, current_iter, model.validation_results)  # the curve convergence is read from
            data_timer.start()
            iter_timer.start()
            train_data = prefetcher.next()
        if current_iter > total_iters:
            break

    logger.info(f'End of training. Time consumed: {datetime.timedelta(seconds=int(time.time() - start_time))}')
    logger.info('Save the latest model.')
    model.save(epoch=-1, current_iter=-1)
    if opt.get('val') is not None:
        last = min(current_iter, total_iters)
        if not (val_freq and last % val_freq == 0 and model.validation_results):  # else just validated
            for val_loader in val_loaders:
                model.validation(val_loader, last, tb_logger, opt['val'].get('save_img', False))
            if val_loaders and val_freq:
                append_val_log(opt, last, model.validation_results)
        if val_loaders and opt['rank'] == 0:
            latest = os.path.join(opt['path']['models'], 'net_g_latest.pth')
            write_metrics(model, opt, opt['path']['experiments_root'], latest)
    if tb_logger:
        tb_logger.close()
    return model


def main(argv: list[str] | None = None) -> Any:
    """``clearer-train`` / ``python -m clearer_basicsr.train``; returns the trained model."""
    return train_pipeline(os.getcwd(), argv)


if __name__ == '__main__':
    run(main)
