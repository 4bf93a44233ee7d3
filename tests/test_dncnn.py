"""DnCNN baseline: layout of the paper, shapes, residual learning, registration."""

import pytest
import torch
from basicsr.archs import build_network
from torch import nn

import clearer_basicsr  # noqa: F401
from clearer_basicsr.archs.dncnn_arch import DnCNN


def _zero_last_conv(net):
    last = net.body[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)


def test_paper_layout():
    net = DnCNN()  # DnCNN-S: 17 conv layers, 15 of them with BN, 64 features
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 17 and all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 15
    assert convs[0].in_channels == 1 and convs[-1].out_channels == 1 and convs[1].out_channels == 64
    assert not any(isinstance(m, nn.BatchNorm2d) for m in DnCNN(bn=False).modules())
    # He et al. initialisation: std sqrt(2 / fan_in)
    w = convs[5].weight
    assert abs(w.std().item() - (2 / (64 * 9)) ** 0.5) < 0.05 * (2 / (64 * 9)) ** 0.5


@pytest.mark.parametrize('channels', [1, 3])
def test_output_shape(channels):
    net = DnCNN(channels, channels, num_feat=8, num_layers=4)
    x = torch.rand(2, channels, 17, 23)
    assert net(x).shape == x.shape


def test_residual_learning_subtracts_the_predicted_noise():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 12, 12)
    net = DnCNN(num_feat=8, num_layers=4).eval()
    assert torch.allclose(net(x), x - net.body(x))
    _zero_last_conv(net)
    assert torch.equal(net(x), x)  # no noise predicted: the input comes back

    plain = DnCNN(num_feat=8, num_layers=4, residual=False).eval()
    _zero_last_conv(plain)
    assert torch.equal(plain(x), torch.zeros_like(x))


def test_registered_and_checked():
    net = build_network({'type': 'CLEARERDnCNN', 'in_channels': 3, 'out_channels': 3, 'num_feat': 8, 'num_layers': 3})
    assert isinstance(net, DnCNN)
    with pytest.raises(ValueError, match='in_channels'):
        DnCNN(in_channels=3, out_channels=1)
    DnCNN(in_channels=3, out_channels=1, residual=False)
    with pytest.raises(ValueError, match='num_layers'):
        DnCNN(num_layers=1)
