"""CLEARERSearchModel: bilevel steps, resume, second-order gradient, genotype export, retrain."""

import shutil

import torch
import yaml
from basicsr.models import build_model
from conftest import model_options, run_train_inprocess, search_options, train_options, write_yaml
from torch import nn

from clearer_basicsr.checkpoint import torch_load
from clearer_basicsr.models import arch_gradient
from clearer_basicsr.models.restoration_model import RestorationModel
from clearer_basicsr.search_result import SearchResult


def fixed_batch(seed):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(2, 1, 16, 16, generator=g)
    return {'lq': gt + 0.1 * torch.randn(2, 1, 16, 16, generator=g), 'gt': gt}


def snapshot(params):
    return [p.detach().clone() for p in params]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_logits_frozen_in_warmup_and_each_step_touches_only_its_parameters(demo_data, tmp_path):
    model = build_model(model_options(search_options(demo_data, 's', arch_warmup_iter=2), tmp_path))
    net = model.supernet
    logits, weights = net.arch_parameters(), net.weight_parameters()
    assert set(map(id, model.optimizer_g.param_groups[0]['params'])) == set(map(id, weights))
    assert set(map(id, model.optimizer_arch.param_groups[0]['params'])) == set(map(id, logits))

    a0, w0 = snapshot(logits), snapshot(weights)
    model.feed_data(fixed_batch(0))
    model.optimize_parameters(2)  # still warming up: weights move, logits do not
    assert same(snapshot(logits), a0) and not same(snapshot(weights), w0)

    w1 = snapshot(weights)
    model.arch_step(3)  # the logit step alone
    assert not same(snapshot(logits), a0) and same(snapshot(weights), w1)

    a1 = snapshot(logits)
    RestorationModel.optimize_parameters(model, 3)  # the weight step alone
    assert same(snapshot(logits), a1) and not same(snapshot(weights), w1)


class TinyMixNet(nn.Module):
    """Two candidate convs mixed by softmax logits; no BatchNorm (finite differences)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 2, 3, padding=1)
        self.b = nn.Conv2d(1, 2, 3, padding=1)
        self.out = nn.Conv2d(2, 1, 1)
        self.arch_logits = nn.Parameter(torch.tensor([0.3, -0.2]))

    def arch_parameters(self):
        return [self.arch_logits]

    def weight_parameters(self):
        return [p for p in self.parameters() if p is not self.arch_logits]

    def forward(self, x):
        w = torch.softmax(self.arch_logits, 0)
        return self.out(torch.tanh(w[0] * self.a(x) + w[1] * self.b(x)))


def test_second_order_gradient_matches_finite_differences():
    torch.manual_seed(0)
    net = TinyMixNet().double()
    val, train = ({k: v.double() for k, v in fixed_batch(s).items()} for s in (1, 2))

    def mse(out, batch):
        return {'l_pix': ((out - batch['gt']) ** 2).mean()}

    def entropy():
        weights = torch.softmax(net.arch_logits, 0)
        return {'l_ent': 0.1 * -(weights * torch.log_softmax(net.arch_logits, 0)).sum()}

    xi, wd = 0.5, 0.01
    arch_gradient.second_order(net, net.arch_parameters(), net.weight_parameters(), val, train, mse, entropy, xi, wd)
    approx = net.arch_logits.grad.clone()

    def unrolled_val_loss(alpha):
        """L_val(w - xi * (dL_train/dw + wd * w), alpha), evaluated exactly."""
        with torch.no_grad():
            net.arch_logits.copy_(alpha)
        weights = net.weight_parameters()
        grads = torch.autograd.grad(mse(net(train['lq']), train)['l_pix'], weights)
        saved = snapshot(weights)
        with torch.no_grad():
            for w, g in zip(weights, grads):
                w.sub_(xi * (g + wd * w))
            loss = mse(net(val['lq']), val)['l_pix'] + entropy()['l_ent']
            for w, s in zip(weights, saved):
                w.copy_(s)
        return loss.item()

    alpha0, h = net.arch_logits.detach().clone(), 1e-5
    numeric = torch.tensor(
        [
            (unrolled_val_loss(alpha0 + h * e) - unrolled_val_loss(alpha0 - h * e)) / (2 * h)
            for e in torch.eye(2, dtype=torch.float64)
        ],
        dtype=torch.float64,
    )
    with torch.no_grad():
        net.arch_logits.copy_(alpha0)
    first = torch.autograd.grad(mse(net(val['lq']), val)['l_pix'] + entropy()['l_ent'], net.arch_logits)[0]
    assert torch.allclose(approx, numeric, rtol=1e-4, atol=1e-9)
    assert not torch.allclose(first, numeric, rtol=1e-3)  # the second-order term matters here


def test_search_exports_genotype_and_plot(tiny_search):
    exp = tiny_search['exp']
    found = SearchResult.in_folder(str(exp))
    genotype = found.genotype
    assert genotype == tiny_search['genotype']
    assert len(found.column_weights) == tiny_search['logits'].shape[0]
    assert found.params > 0 and found.macs > 0 and found.iteration == 8
    assert (exp / 'column_weights.png').stat().st_size > 1000
    log = open(next(exp.glob('train_*.log'))).read()
    assert 'arch_entropy' in log and 'w_fusion/c01' in log and f'Genotype: {genotype}' in log


def test_resume_restores_logits_weights_and_both_optimisers(tiny_search, tmp_path):
    exp = tiny_search['exp']
    state = torch_load(exp / 'training_states' / '4.state')
    opt = yaml.safe_load(open(tiny_search['opt_file']))
    opt['path']['pretrain_network_g'] = str(exp / 'models' / 'net_g_4.pth')
    model = build_model(model_options(opt, tmp_path))
    model.resume_training(state)
    saved_net = torch_load(exp / 'models' / 'net_g_4.pth')['params']
    for k, v in model.supernet.state_dict().items():
        assert torch.equal(v, saved_net[k]), k
    for live, saved in zip(model.optimizers, state['optimizers']):
        live = live.state_dict()
        assert live['param_groups'] == saved['param_groups']
        for idx, s in saved['state'].items():
            for key, value in s.items():
                assert torch.equal(torch.as_tensor(live['state'][idx][key]), torch.as_tensor(value))
    assert len(state['optimizers']) == 2 and len(model.schedulers) == 2
    assert state['arch_loader']['started'] and model.column_weight_history == state['column_weight_history']


def test_auto_resume_continues_the_search_bit_exactly(tiny_search, tmp_path):
    """Stop after iteration 4 (drop everything later), resume: same logits, weights, genotype."""
    exp = tmp_path / 'experiments' / 'tiny_search'
    shutil.copytree(tiny_search['exp'], exp)
    for f in list((exp / 'models').iterdir()) + list((exp / 'training_states').iterdir()):
        if not f.name.startswith(('net_g_4.', '4.')):
            f.unlink()
    model = run_train_inprocess(tiny_search['opt_file'], tmp_path, '--auto_resume')
    reference = torch_load(tiny_search['exp'] / 'models' / 'net_g_8.pth')['params']
    resumed = torch_load(exp / 'models' / 'net_g_8.pth')['params']
    for k in reference:
        assert torch.equal(reference[k], resumed[k]), k
    assert model.supernet.genotype() == tiny_search['genotype']
    assert torch.equal(model.supernet.arch_logits, tiny_search['logits'])


def test_genotype_yml_builds_clearernet_and_the_retrain_option_trains_it(tiny_search, demo_data, tmp_path):
    net = {
        'type': 'CLEARERNet',
        'genotype': str(tiny_search['exp'] / 'genotype.yml'),
        'in_channels': 1,
        'out_channels': 1,
        'stem_blocks': 1,
        'stem_width': 2,
        'residual': True,
    }
    opt_file = write_yaml(tmp_path / 'retrain.yml', train_options(demo_data, 'retrain', network_g=net, total_iter=2))
    model = run_train_inprocess(opt_file, tmp_path)
    assert model.net_g.genotype() == tiny_search['genotype']
    assert (tmp_path / 'experiments' / 'retrain' / 'models' / 'net_g_latest.pth').exists()
