"""CLEARERSearchNet (supernet) and CLEARERNet (derived net): shapes, sizes, gradients, equivalence."""

import random

import pytest
import torch
from basicsr.utils.registry import ARCH_REGISTRY

import clearer_basicsr  # noqa: F401  (registers the archs)
from clearer_basicsr.archs.arch_util import count_parameters, pad_to_multiple
from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet
from clearer_basicsr.archs.genotype import CANDIDATES, Genotype
from clearer_basicsr.search_result import SearchResult, resolve_genotype_files

TINY = dict(branch_channels=(4, 8, 16), columns_per_cell=2, stem_width=4)  # 2 cells, 4 columns


def random_genotype(rng, branch_channels=(32, 64, 128, 256), columns_per_cell=4):
    cells = [[rng.choice(CANDIDATES) for _ in range(columns_per_cell)] for _ in branch_channels[1:]]
    return Genotype(cells, branch_channels, columns_per_cell)


@pytest.fixture(scope='module')
def supernet1():
    return CLEARERSearchNet().eval()


@pytest.fixture(scope='module')
def supernet3():
    return CLEARERSearchNet(in_channels=3, out_channels=3).eval()


def test_registered():
    assert ARCH_REGISTRY.get('CLEARERSearchNet') is CLEARERSearchNet
    assert ARCH_REGISTRY.get('CLEARERNet') is CLEARERNet


def test_paper_preset_parameter_counts(supernet1, supernet3):
    assert count_parameters(supernet1) == 12_558_144
    assert count_parameters(supernet3) == 12_558_528
    # the 24 logits are parameters, but not counted as weights
    assert sum(p.numel() for p in supernet1.parameters()) == 12_558_144 + 24


def test_arch_and_weight_parameters_partition(supernet1):
    (logits,) = supernet1.arch_parameters()
    assert logits.shape == (supernet1.num_columns, 2) == (12, 2)
    assert logits.abs().max() < 0.01  # N(0, 1e-3^2) init
    weights = supernet1.weight_parameters()
    assert all(p is not logits for p in weights)
    assert len(weights) + 1 == len(list(supernet1.parameters()))
    column_weights = supernet1.column_weights()
    assert column_weights.shape == (12, 2)
    torch.testing.assert_close(column_weights.sum(-1), torch.ones(12))


def test_init(supernet1):
    conv = supernet1.cells[1][2]['fusion'].paths[2][0][0][0].weight
    assert 0.0005 < conv.std().item() < 0.002  # N(0, 0.001)
    bn = supernet1.stem[0].body[0][1]
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.bias, torch.zeros_like(bn.bias))


@pytest.mark.parametrize('size', [(16, 16), (9, 13), (3, 5)])
def test_supernet_output_shape_gray(supernet1, size):
    with torch.no_grad():
        assert supernet1(torch.randn(1, 1, *size)).shape == (1, 1, *size)


@pytest.mark.parametrize('size', [(8, 8), (11, 7)])
def test_supernet_output_shape_color(supernet3, size):
    with torch.no_grad():
        assert supernet3(torch.randn(1, 3, *size)).shape == (1, 3, *size)


@pytest.mark.parametrize('channels', [1, 3])
def test_derived_output_shape(channels):
    net = CLEARERNet('P F F P | F F P P | P P P P', in_channels=channels, out_channels=channels).eval()
    with torch.no_grad():
        for size in [(16, 8), (13, 9), (5, 17)]:
            assert net(torch.randn(2, channels, *size)).shape == (2, channels, *size)


def test_pad_to_multiple_reflects_or_replicates():
    x = torch.arange(15.0).view(1, 1, 5, 3)
    y = pad_to_multiple(x, 4)  # pads 3 rows (< 5: reflect) and 1 column (< 3: reflect)
    assert y.shape == (1, 1, 8, 4)
    assert torch.equal(y[..., :5, :3], x)
    assert torch.equal(y[..., :5, 3], x[..., :, 1])
    assert torch.equal(y[..., 5:, :3], x[..., [3, 2, 1], :])
    # pad 6 on a side of 2: reflect the 1 pixel reflection reaches, replicate that edge for the rest
    small = pad_to_multiple(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), 8)
    assert small.shape == (1, 1, 8, 8)
    assert torch.equal(small[0, 0, 1], torch.tensor([3.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]))
    assert torch.equal(small[0, 0, 2:, 0], torch.ones(6))  # row 2 reflects row 0, rows 3-7 replicate it


def test_derived_parameter_count_is_supernet_minus_unchosen(supernet1):
    rng = random.Random(0)
    total = count_parameters(supernet1)
    genotypes = [random_genotype(rng) for _ in range(4)] + [Genotype.parse('P P P P | P P P P | P P P P')]
    for genotype in genotypes:
        unchosen = sum(
            count_parameters(column[name])
            for column, chosen in zip(supernet1.columns, genotype.choices)
            for name in CANDIDATES
            if name != chosen
        )
        assert count_parameters(CLEARERNet(genotype)) == total - unchosen, str(genotype)


def test_derived_keys_are_a_subset_with_equal_shapes():
    supernet = CLEARERSearchNet(**TINY)
    super_sd = supernet.state_dict()
    derived = CLEARERNet('F P | P F', **TINY)
    derived_sd = derived.state_dict()
    assert set(derived_sd) < set(super_sd)
    assert all(super_sd[k].shape == v.shape for k, v in derived_sd.items())
    assert any(k.startswith('cells.0.0.fusion.') for k in derived_sd)
    assert not any(k.startswith(('cells.0.0.parallel.', 'cells.0.1.fusion.')) for k in derived_sd)


def test_gradients_reach_every_logit_and_weight():
    torch.manual_seed(0)
    net = CLEARERSearchNet(**TINY).train()
    x, target = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16)
    torch.nn.functional.mse_loss(net(x), target).backward()
    logits = net.arch_logits
    assert logits.grad is not None and (logits.grad != 0).all()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def _randomise(net):
    """Weights large enough (and BN statistics non-trivial) that every module changes the output."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, 1 / (m.in_channels * m.kernel_size[0] * m.kernel_size[1]) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2)


def test_one_hot_supernet_equals_derived_net():
    torch.manual_seed(0)
    supernet = CLEARERSearchNet(**TINY).double().eval()
    _randomise(supernet)
    x = torch.randn(2, 1, 13, 10, dtype=torch.float64)
    outputs = {}
    for text in ('F P | P F', 'P F | F F'):
        genotype = Genotype.parse(text, TINY['branch_channels'])
        with torch.no_grad():
            supernet.arch_logits.copy_(torch.eye(2)[genotype.indices] * 2e4 - 1e4)  # softmax: exactly 1 and 0
            assert torch.equal(supernet.column_weights(), torch.eye(2, dtype=torch.float64)[genotype.indices])
            assert supernet.genotype() == genotype
            derived = CLEARERNet(genotype, **TINY).double().eval()
            super_sd = supernet.state_dict()
            derived.load_state_dict({k: super_sd[k] for k in derived.state_dict()})
            outputs[text] = supernet(x)
            torch.testing.assert_close(derived(x), outputs[text], rtol=1e-12, atol=1e-12)
    # the check is sharp: another architecture gives a clearly different output
    assert (outputs['F P | P F'] - outputs['P F | F F']).abs().max() > 1e-3


def test_supernet_mixes_candidates_by_column_weights():
    torch.manual_seed(0)
    net = CLEARERSearchNet(**TINY).double().eval()
    _randomise(net)
    column = net.cells[1][0]
    branches = [torch.randn(1, c, 8 // 2**i, 8 // 2**i, dtype=torch.float64) for i, c in enumerate((4, 8, 16))]
    weights = torch.tensor([0.3, 0.7], dtype=torch.float64)
    with torch.no_grad():
        mixed = column(branches, weights)
        for out, p, f in zip(mixed, column['parallel'](branches), column['fusion'](branches)):
            torch.testing.assert_close(out, 0.3 * p + 0.7 * f)


def test_residual_adds_the_input():
    torch.manual_seed(0)
    plain = CLEARERNet('P F | F P', **TINY).eval()
    residual = CLEARERNet('P F | F P', residual=True, **TINY).eval()
    residual.load_state_dict(plain.state_dict())
    x = torch.randn(1, 1, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(residual(x), plain(x) + x)
    with pytest.raises(ValueError, match='in_channels'):
        CLEARERSearchNet(in_channels=3, out_channels=1, residual=True, **TINY)


def test_derived_net_from_genotype_file_and_preset_mismatch(tmp_path):
    genotype = Genotype.parse('F P | P F', TINY['branch_channels'], 2)
    path = tmp_path / 'genotype.yml'
    SearchResult(genotype, column_weights=[{'parallel': 0.4, 'fusion': 0.6}] * 4, macs=123).save(path)
    # the option layer reads the file; the network is built from the genotype it holds
    resolved = resolve_genotype_files({'network_g': {'type': 'CLEARERNet', 'genotype': str(path)}})['network_g']
    net = CLEARERNet(resolved['genotype'], stem_width=4)
    assert net.genotype() == genotype and net.branch_channels == (4, 8, 16)
    assert isinstance(net.cells[0][0]['fusion'], torch.nn.Module) and list(net.cells[0][0]) == ['fusion']
    with pytest.raises(ValueError, match='branch_channels'):
        CLEARERNet(resolved['genotype'], branch_channels=[32, 64, 128], stem_width=4)
    with pytest.raises(ValueError, match='columns_per_cell'):
        CLEARERNet(resolved['genotype'], columns_per_cell=4, stem_width=4)
    with pytest.raises(ValueError, match='a genotype file; a network is built from the genotype it holds'):
        CLEARERNet(str(path), stem_width=4)  # archs/ never read files
    with pytest.raises(FileNotFoundError, match=r'network_g: genotype = .*missing.yml.: no such file'):
        resolve_genotype_files({'network_g': {'genotype': str(tmp_path / 'missing.yml')}})
    # a compact string carries no preset: it takes the given numbers
    assert CLEARERNet('F P | P F', **TINY).genotype() == genotype
