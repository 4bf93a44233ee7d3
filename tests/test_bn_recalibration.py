"""BatchNorm recalibration: the statistics become the average over fixed train batches, the batches
are the same each time and leave the random streams alone, and ``val: recalibrate_bn`` changes the
saved statistics of a training run but not one of its weights; ``ema_decay`` neither changes the
trained weights nor leaves the averaged net's statistics at their initial values."""

import json
import os
import random
import shutil

import numpy as np
import pytest
import torch
from basicsr.data import build_dataset
from conftest import noise_dataset, run_train_inprocess, train_options, write_yaml
from torch import nn

from clearer_basicsr.bn_recalibration import calibration_batches, recalibrate_batchnorm
from clearer_basicsr.models.restoration_model import RestorationModel
from clearer_basicsr.option_rules import OptionError
from clearer_basicsr.run_files import val_curve
from clearer_basicsr.tools.recalibrate_run import main as recalibrate_run


def test_recalibrated_statistics_are_the_average_over_the_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
    net.eval()
    batches = [torch.rand(2, 1, 8, 8) * (i + 1) for i in range(3)]  # statistics that differ per batch
    with torch.no_grad():
        features = [net[0](x) for x in batches]
    assert recalibrate_batchnorm(net, batches) == 1
    bn = net[1]
    expected_mean = torch.stack([f.mean((0, 2, 3)) for f in features]).mean(0)
    expected_var = torch.stack([f.transpose(0, 1).flatten(1).var(1) for f in features]).mean(0)  # unbiased, as BN
    assert torch.allclose(bn.running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(bn.running_var, expected_var, atol=1e-6)
    assert not net.training and not bn.training and bn.momentum == 0.1  # put back as they were
    assert recalibrate_batchnorm(nn.Sequential(nn.Conv2d(1, 1, 3)), batches) == 0


def test_calibration_batches_repeat_and_leave_the_random_streams_alone(demo_data):
    dataset = build_dataset(dict(noise_dataset(demo_data['train_lmdb']), phase='train'))
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    first = calibration_batches(dataset, 3, 2, seed=1)
    after = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    assert after == (random.random(), np.random.rand(), torch.rand(1).item())
    again = calibration_batches(dataset, 3, 2, seed=1)
    assert len(first) == 3 and first[0].shape == (2, 1, 16, 16)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], calibration_batches(dataset, 1, 2, seed=2)[0])


def test_recalibrate_bn_changes_the_saved_statistics_and_no_weight(demo_data, tmp_path):
    """And the same run, trained without the option and recalibrated afterwards by
    tools.recalibrate_run, gets the same curve and statistics."""
    nets, runs = {}, tmp_path / 'experiments'
    for name, count in (('plain', None), ('recalibrated', 3)):
        opt = train_options(demo_data, name, total_iter=4)
        opt['val'].update(val_freq=2, recalibrate_bn=count)
        run_train_inprocess(write_yaml(tmp_path / f'{name}.yml', opt), tmp_path)
        nets[name] = torch.load(runs / name / 'models' / 'net_g_latest.pth')['params']
    buffers = {
        k for k in nets['plain'] if k.rsplit('.', 1)[-1] in ('running_mean', 'running_var', 'num_batches_tracked')
    }
    assert len(buffers) == 3
    for key in nets['plain']:
        if key not in buffers:
            assert torch.equal(nets['plain'][key], nets['recalibrated'][key]), key
        elif 'running_' in key:
            assert not torch.equal(nets['plain'][key], nets['recalibrated'][key]), key
    old_cwd = os.getcwd()
    os.chdir(tmp_path)  # the run's option file names its data as the training saw it
    try:
        out = recalibrate_run([str(runs / 'plain'), '--batches', '3'])
    finally:
        os.chdir(old_cwd)
    after = torch.load(os.path.join(out, 'models', 'net_g_latest.pth'))['params']
    for key in buffers:
        assert torch.allclose(after[key].double(), nets['recalibrated'][key].double(), atol=1e-6), key
    trained, redone = val_curve(str(runs / 'recalibrated')), val_curve(out)
    assert [it for it, _ in trained] == [it for it, _ in redone] == [2, 4]
    assert all(abs(a - b) < 1e-3 for (_, a), (_, b) in zip(trained, redone))
    assert trained != val_curve(str(runs / 'plain'))
    assert 'gain_last20_db' in json.load(open(os.path.join(out, 'metrics.json')))['convergence']


def test_recalibrate_bn_in_a_test_file_is_refused():
    val = {'recalibrate_bn': 10, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}}
    with pytest.raises(OptionError, match=r'^val: recalibrate_bn: applies while training'):
        RestorationModel.check_options({'is_train': False, 'val': val})
    RestorationModel.check_options({'is_train': False, 'val': dict(val, recalibrate_bn=0)})


def test_ema_trains_the_same_weights_and_saves_the_trained_statistics(demo_data, tmp_path):
    saved, runs = {}, tmp_path / 'experiments'
    for name, decay in (('plain', 0), ('ema', 0.5)):
        opt = train_options(demo_data, name, total_iter=4)
        opt['train']['ema_decay'] = decay
        run_train_inprocess(write_yaml(tmp_path / f'{name}.yml', opt), tmp_path)
        saved[name] = torch.load(runs / name / 'models' / 'net_g_latest.pth')
    plain, trained, averaged = saved['plain']['params'], saved['ema']['params'], saved['ema']['params_ema']
    assert all(torch.equal(plain[k], trained[k]) for k in plain)  # building the EMA net drew no random number
    weights = [k for k in trained if k.endswith('.weight') and trained[k].dim() == 4]
    assert any(not torch.equal(trained[k], averaged[k]) for k in weights)  # averaged, not copied
    stats = [k for k in trained if k.endswith(('running_mean', 'running_var'))]
    assert stats and all(torch.equal(trained[k], averaged[k]) for k in stats)
    assert not all(torch.equal(averaged[k], torch.ones_like(averaged[k])) for k in stats if k.endswith('var'))
    # stopped after iteration 2 and resumed, the run ends with the same averaged net
    resumed = tmp_path / 'resumed' / 'experiments' / 'ema'
    shutil.copytree(runs / 'ema', resumed)
    for f in list((resumed / 'models').iterdir()) + list((resumed / 'training_states').iterdir()):
        if not f.name.startswith(('net_g_2.', '2.')):
            f.unlink()
    run_train_inprocess(str(tmp_path / 'ema.yml'), tmp_path / 'resumed', '--auto_resume')
    again = torch.load(resumed / 'models' / 'net_g_latest.pth')['params_ema']
    assert 'Resuming training from epoch: 0, iter: 2' in open(sorted(resumed.glob('train_*.log'))[-1]).read()
    assert all(torch.equal(averaged[k], again[k]) for k in averaged)
