"""Each baseline option pair under options/baselines/ (DnCNN, RIDNet, SwinIR; demo and paper
scale) trains 2 iterations and tests on tiny data through the plugin's entry points, in this
process: the shipped files with only their data paths and sizes made tiny."""

import glob
import math
import os

import cv2
import pytest
from conftest import REPO, TEST_SIZES, run_train_inprocess, write_yaml
from helpers import fresh_basicsr_log, rel, run_test_inprocess, tiny_test_options, tiny_train_options

TRAIN_FILES = sorted(glob.glob(os.path.join(REPO, 'options', 'baselines', '**', 'train_*.yml'), recursive=True))


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
