"""RestorationModel: any torch optimiser, gradient clipping, self-ensemble, test-time padding."""

import pytest
import torch
import torch.nn.functional as F
from basicsr.models import build_model
from conftest import model_options, train_options

from clearer_basicsr.archs.arch_util import pad_to_multiple
from clearer_basicsr.inference import self_ensemble


def build(demo_data, tmp_path, **train):
    opt = model_options(train_options(demo_data, 'rm', **train), tmp_path)
    return build_model(opt)


def batch(seed=0, size=16):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(2, 1, size, size, generator=g)
    return {'lq': gt + 0.1 * torch.randn(2, 1, size, size, generator=g), 'gt': gt}


def test_sgd_by_name_trains(demo_data, tmp_path):
    model = build(demo_data, tmp_path, optim_g={'type': 'SGD', 'lr': 0.1, 'momentum': 0.9})
    assert type(model.optimizer_g) is torch.optim.SGD
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.feed_data(batch())
    model.optimize_parameters(1)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.net_g.parameters()))


def test_the_logged_loss_is_the_mean_since_the_previous_log(demo_data, tmp_path):
    model = build(demo_data, tmp_path)
    losses = []
    for it, seed in enumerate((0, 1, 2), start=1):
        model.feed_data(batch(seed))
        model.optimize_parameters(it)
        losses.append(model.log_dict['l_pix'])
    assert len(set(losses)) == 3
    assert model.get_current_log()['l_pix'] == pytest.approx(sum(losses) / 3)
    model.feed_data(batch(3))
    model.optimize_parameters(4)  # the next log covers this iteration only
    assert model.get_current_log()['l_pix'] == pytest.approx(model.log_dict['l_pix'])


def test_unknown_optimizer_is_a_clear_error(demo_data, tmp_path):
    with pytest.raises(ValueError, match=r"'Adamm' is not a torch.optim optimizer.*'Adam'"):
        build(demo_data, tmp_path, optim_g={'type': 'Adamm', 'lr': 0.1})


def grad_norm(model):
    return torch.sqrt(sum((p.grad**2).sum() for p in model.net_g.parameters() if p.grad is not None))


def test_grad_clip_bounds_the_gradient_norm(demo_data, tmp_path):
    free = build(demo_data, tmp_path, optim_g={'type': 'SGD', 'lr': 1e-12})
    free.feed_data(batch())
    free.optimize_parameters(1)
    clipped = build(demo_data, tmp_path, optim_g={'type': 'SGD', 'lr': 1e-12}, grad_clip=1e-3)
    clipped.feed_data(batch())
    clipped.optimize_parameters(1)
    assert grad_norm(free) > 1e-2  # the bound below is a real constraint
    assert grad_norm(clipped) <= 1e-3 * (1 + 1e-4)


def test_self_ensemble_is_exact_for_equivariant_maps_only():
    x = torch.rand(1, 1, 9, 12)
    assert torch.allclose(self_ensemble(lambda t: t, x), x)
    assert torch.allclose(self_ensemble(lambda t: 2 * t + 1, x), 2 * x + 1)
    kernel = torch.tensor([[[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]]])  # shift: not rotation-invariant
    shift = lambda t: F.conv2d(t, kernel, padding=1)  # noqa: E731
    assert not torch.allclose(self_ensemble(shift, x), shift(x))


def test_test_time_padding_and_self_ensemble_keep_the_input_size(demo_data, tmp_path):
    model = build(demo_data, tmp_path)

    class Stride4(torch.nn.Module):  # only works on multiples of 4
        def forward(self, t):
            assert t.shape[-1] % 4 == 0 and t.shape[-2] % 4 == 0, t.shape
            return F.interpolate(F.avg_pool2d(t, 4), scale_factor=4.0)

    model.net_g = Stride4()
    model.opt['val'].update(pad_multiple=4, self_ensemble=True)
    for h, w in ((13, 17), (3, 2), (16, 8)):
        model.feed_data({'lq': torch.rand(1, 1, h, w)})
        model.test()
        assert model.output.shape == (1, 1, h, w)


def test_pad_to_multiple_small_images_replicate():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    y = pad_to_multiple(x, 8)
    assert y.shape == (1, 1, 8, 8) and torch.equal(y[..., :2, :3], x)
