"""Each baseline option pair under options/baselines/ (DnCNN, RIDNet, SwinIR; demo and paper
scale) trains 2 iterations and tests on tiny data through the plugin's entry points, in this
process: the shipped files with only their data paths and sizes made tiny."""

import glob
import logging
import math
import os
import sys

import cv2
import pytest
from conftest import run_train_inprocess, write_yaml
from test_option_files import REPO, TEST_SIZES, load_options, point_at_tiny_data, rel, to_plain

TRAIN_FILES = sorted(glob.glob(os.path.join(REPO, 'options', 'baselines', '**', 'train_*.yml'), recursive=True))


def fresh_basicsr_log():
    """Forgets BasicSR's 'basicsr' logger so that the next run in this process gets its own log
    file (BasicSR adds the file handler only when the logger is first made)."""
    from basicsr.utils import logger as basicsr_logger

    logger = logging.getLogger('basicsr')
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    basicsr_logger.initialized_logger.pop('basicsr', None)


def run_test_inprocess(opt_file, cwd):
    """``python -m clearer_basicsr.test -opt opt_file`` in this process."""
    from clearer_basicsr import test as test_entry

    argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ['clearer-test', '-opt', str(opt_file)]
    os.chdir(cwd)
    try:
        fresh_basicsr_log()
        test_entry.main()
    finally:
        sys.argv = argv
        os.chdir(old_cwd)


def tiny_train_options(path, data, total_iter=2):
    """A shipped training option file on the tiny data: 2 iterations, batch 2, patches of at
    most 16 px, no TensorBoard; networks and optimisers unchanged."""
    opt = to_plain(load_options(path))
    for key, dataset_opt in opt['datasets'].items():
        point_at_tiny_data(dataset_opt, data, key.split('_')[0])
    train_set = opt['datasets']['train']
    train_set.update(batch_size_per_gpu=2, gt_size=min(train_set['gt_size'], 16), dataset_enlarge_ratio=4)
    opt['train']['total_iter'] = total_iter
    opt['logger'].update(print_freq=1, save_checkpoint_freq=10**6, use_tb_logger=False)
    return opt


def tiny_test_options(path, data):
    opt = to_plain(load_options(path))
    for key, dataset_opt in opt['datasets'].items():
        point_at_tiny_data(dataset_opt, data, key.split('_')[0])
    return opt


def test_every_training_file_has_its_test_file():
    assert len(TRAIN_FILES) == 10
    for path in TRAIN_FILES:
        assert os.path.isfile(path.replace(os.sep + 'train_', os.sep + 'test_')), rel(path)


@pytest.mark.parametrize('train_file', TRAIN_FILES, ids=rel)
def test_baseline_trains_and_tests(train_file, tiny_data, tmp_path):
    from clearer_basicsr.run_files import read_metrics

    train = tiny_train_options(train_file, tiny_data)
    fresh_basicsr_log()
    run_train_inprocess(write_yaml(tmp_path / 'train.yml', train), tmp_path)
    assert os.path.isfile(tmp_path / 'experiments' / train['name'] / 'models' / 'net_g_latest.pth')

    # the shipped test file, unchanged but for its data, loads that checkpoint by its own path
    test = tiny_test_options(train_file.replace(os.sep + 'train_', os.sep + 'test_'), tiny_data)
    assert test['model_type'] == 'CLEARERRestorationModel'
    run_test_inprocess(write_yaml(tmp_path / 'test.yml', test), tmp_path)
    results = tmp_path / 'results' / test['name']
    assert (results / 'test.yml').is_file()  # the test copies its option file next to its results
    report = read_metrics(str(results))
    assert report['network_g'] == test['network_g'] and report['self_ensemble'] == test['val']['self_ensemble']
    assert os.path.samefile(results / report['checkpoint'], tmp_path / test['path']['pretrain_network_g'])
    metrics = report['datasets']
    channels = test['datasets']['test_1'].get('in_ch', 3)
    for dataset_opt in test['datasets'].values():
        result = metrics[dataset_opt['name']]
        assert math.isfinite(result['average']['psnr']) and len(result['images']) == len(TEST_SIZES)
        psnrs = [image['psnr'] for image in result['images'].values()]
        assert abs(result['average']['psnr'] - sum(psnrs) / len(psnrs)) < 1e-9  # per image, and their mean
        saved = results / 'visualization' / dataset_opt['name']
        for i, size in enumerate(TEST_SIZES):  # not multiples of 8: SwinIR pads to its window and crops back
            out = cv2.imread(str(saved / f'test{i}_{test["val"]["suffix"]}.png'), cv2.IMREAD_UNCHANGED)
            assert out is not None and out.shape[:2] == size
            assert (out.ndim == 2) == (channels == 1)
