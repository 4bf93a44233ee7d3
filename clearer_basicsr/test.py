"""``python -m clearer_basicsr.test -opt X.yml`` (console script ``clearer-test``).

BasicSR's test pipeline (same datasets, model, metrics, log and saved images), with:

* results under the current directory (``results/<name>``), not site-packages;
* the options checked before any folder is made;
* the option file copied into ``results/<name>/``, and ``results/<name>/metrics.json`` written
  (per test set, per image, the averages, and the network and checkpoint that were tested; see
  :mod:`clearer_basicsr.run_files`), which ``clearer_basicsr.compare`` reads;
* the option file read as data, ``--force_yml`` applied before the seed, ``--local-rank``
  accepted (``clearer-test --help``; :mod:`clearer_basicsr.option_file`).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch
from basicsr.models import build_model
from basicsr.utils import get_env_info, get_root_logger, get_time_str, make_exp_dirs
from basicsr.utils.options import dict2str

import clearer_basicsr  # noqa: F401  (registers the plugin, applies the compatibility fixes)
from _clearer_basicsr_cli import run, test_parser

from .data.samplers import build_eval_loader
from .files import folder_lock
from .option_file import parse_and_check, seed_line
from .options_check import mark_checked
from .run_files import copy_option_file, held_log, run_log, write_metrics


def test_pipeline(root_path: str | None = None, argv: list[str] | None = None) -> Any:
    """Tests as ``clearer-test <argv>`` (default: the command line) would: the network of ``-opt``
    on every ``datasets: test*`` entry, results under ``root_path``; returns the model."""
    root_path = os.path.abspath(root_path or os.getcwd())
    args = test_parser().parse_args(argv)
    opt = parse_and_check(args, root_path, is_train=False)  # before any folder is made
    torch.backends.cudnn.benchmark = True
    with held_log() as earlier:  # a failure while building leaves no results folder behind
        logger = get_root_logger()
        logger.info(get_env_info())
        logger.info(dict2str(opt))
        logger.info(seed_line(opt))
        loaders = [build_eval_loader(dataset_opt, opt) for dataset_opt in opt['datasets'].values()]
        for loader in loaders:
            logger.info(f'Number of test images in {loader.dataset.opt["name"]}: {len(loader.dataset)}')
        mark_checked(opt)  # checked above: the model skips the repeat
        model = build_model(opt)
    with folder_lock(opt['path']['results_root'], 'clearer-test') if opt['rank'] == 0 else contextlib.nullcontext():
        return run_test(opt, args.opt, model, loaders, earlier)


def run_test(opt: dict, opt_file: str, model: Any, loaders: list, earlier: list) -> Any:
    """The test of :func:`test_pipeline` once its model is built and its folder is held."""
    make_exp_dirs(opt)
    results = opt['path']['results_root']
    copy_option_file(opt, opt_file, results)
    log_file = os.path.join(opt['path']['log'], f'test_{opt["name"]}_{get_time_str()}.log')
    with run_log(opt, log_file, earlier) as logger:
        for loader in loaders:
            logger.info(f'Testing {loader.dataset.opt["name"]}...')
            model.validation(
                loader, current_iter=opt['name'], tb_logger=None, save_img=opt['val'].get('save_img', False)
            )
        if opt['rank'] == 0:
            write_metrics(model, opt, results, opt['path']['pretrain_network_g'])
    return model


def main(argv: list[str] | None = None) -> Any:
    """``clearer-test`` / ``python -m clearer_basicsr.test``; returns the tested model."""
    return test_pipeline(os.getcwd(), argv)


if __name__ == '__main__':
    run(main)
