"""Convergence is read off the validation curve: the gain over the last 20 % of the iterations,
kept in val_log.jsonl and metrics.json; identity_start makes a residual baseline start as the
identity."""

import json
import math

import pytest
import torch
from basicsr.archs.ridnet_arch import RIDNet
from basicsr.models import build_model
from conftest import model_options, noise_dataset, run_train_inprocess, train_options, write_yaml

from clearer_basicsr.convergence import convergence, gain_last_share, is_converged
from clearer_basicsr.run_files import val_curve


def test_the_gain_is_measured_from_the_last_point_before_the_final_fifth():
    rising_then_flat = [(100, 20.0), (200, 25.0), (300, 27.0), (400, 27.98), (500, 28.0)]
    assert gain_last_share(rising_then_flat, 500) == pytest.approx(0.02)  # 28.0 - 27.98 (iter 400)
    assert is_converged(gain_last_share(rising_then_flat, 500))
    still_rising = [(100, 20.0), (200, 25.0), (300, 27.0), (400, 27.5), (500, 28.0)]
    assert gain_last_share(still_rising, 500) == pytest.approx(0.5)
    assert not is_converged(gain_last_share(still_rising, 500))
    # a worse end is converged too: nothing more was gained
    assert is_converged(gain_last_share([(400, 28.1), (500, 28.0)], 500))
    # no point at or before 80 %, or none after it: the curve cannot say, and that is unconverged
    assert math.isnan(gain_last_share([(450, 27.0), (500, 28.0)], 500))
    assert math.isnan(gain_last_share([(100, 27.0), (400, 28.0)], 500))
    assert not convergence([(450, 27.0), (500, 28.0)], 500)['converged']


def tiny_run(demo_data, root, name, network_g=None, **train):
    opt = train_options(demo_data, name, network_g=network_g, total_iter=10, **train)
    opt['datasets']['val'] = noise_dataset(demo_data['arch_folder'], phase='val')
    opt['val']['val_freq'] = 2
    opt['logger']['save_checkpoint_freq'] = 10
    run_train_inprocess(write_yaml(root / f'{name}.yml', opt), root)
    folder = root / 'experiments' / name
    with open(folder / 'metrics.json') as f:
        return folder, json.load(f)['convergence']


def test_a_run_that_learns_nothing_is_converged_and_keeps_its_curve(demo_data, tmp_path):
    net = {'type': 'CLEARERDnCNN', 'in_channels': 1, 'out_channels': 1, 'num_feat': 8, 'num_layers': 3, 'bn': False}
    folder, report = tiny_run(demo_data, tmp_path, 'flat', net, optim_g={'type': 'Adam', 'lr': 1e-12})
    iters = [json.loads(line)['iter'] for line in (folder / 'val_log.jsonl').read_text().splitlines()]
    assert iters == [2, 4, 6, 8, 10]  # every val_freq, and no second line at the last iteration
    assert [p[0] for p in report['curve']] == iters
    assert report['gain_last20_db'] == pytest.approx(0.0, abs=1e-4) and report['converged']
    assert report['total_iter'] == 10


def test_a_run_still_improving_is_not_converged(demo_data, tmp_path):
    # a non-residual DnCNN starts far from the clean image and climbs steadily
    net = {'type': 'CLEARERDnCNN', 'in_channels': 1, 'out_channels': 1, 'num_feat': 8, 'num_layers': 3,
           'bn': False, 'residual': False}  # fmt: skip
    folder, report = tiny_run(demo_data, tmp_path, 'climb', net, optim_g={'type': 'Adam', 'lr': 1e-3})
    curve = val_curve(str(folder))
    assert report['gain_last20_db'] == pytest.approx(curve[-1][1] - curve[-2][1], abs=1e-3)  # 10 minus 8
    assert report['gain_last20_db'] >= 0.05 and not report['converged']


def identity_model(demo_data, tmp_path, layer):
    net = {'type': 'CLEARERRIDNet', 'in_channels': 1, 'out_channels': 1, 'mid_channels': 16, 'num_block': 1}
    train = {'identity_start': layer} if layer else {}
    opt = model_options(train_options(demo_data, 'ident', network_g=net, **train), tmp_path)
    return build_model(opt)


def test_identity_start_zeroes_the_last_layer_so_the_net_starts_as_the_identity(demo_data, tmp_path):
    model = identity_model(demo_data, tmp_path, 'tail')
    assert isinstance(model.net_g, RIDNet)  # BasicSR's own class, made to take gray input
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        assert torch.equal(model.net_g(x), x)
    with pytest.raises(ValueError, match=r"train: identity_start = 'last_conv': CLEARERRIDNet has no layer"):
        identity_model(demo_data, tmp_path, 'last_conv')


def test_without_identity_start_the_net_does_not_start_as_the_identity(demo_data, tmp_path):
    model = identity_model(demo_data, tmp_path, None)
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        assert not torch.allclose(model.net_g(x), x, atol=1e-3)
