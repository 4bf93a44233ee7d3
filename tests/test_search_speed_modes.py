"""Faster and leaner search modes against the exact fp32 path: single-path Gumbel sampling,
per-column activation checkpointing, autocast (bf16, fp16) and channels-last, on the CPU."""

import socket
import textwrap

import pytest
import torch
from basicsr.models import build_model
from conftest import (
    TINY_SEARCH_NET,
    model_options,
    run_cli,
    run_train_inprocess,
    search_options,
    train_options,
    write_yaml,
)

from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet
from clearer_basicsr.archs.genotype import CANDIDATES
from clearer_basicsr.models import arch_gradient
from clearer_basicsr.models.precision import amp_dtype, native_bf16

TINY = {k: v for k, v in TINY_SEARCH_NET.items() if k != 'type'}  # 1 cell of 2 columns over branches [4, 8]


def tiny_net(dtype=torch.float32, **kwargs):
    """The tiny supernet with weights large enough that every module changes the output."""
    torch.manual_seed(0)
    net = CLEARERSearchNet(**{**TINY, 'residual': False, **kwargs}).to(dtype)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight)
    return net


def batch(seed=0, n=2, size=16, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(n, 1, size, size, generator=g, dtype=dtype)
    return {'lq': gt + 0.1 * torch.randn(n, 1, size, size, generator=g, dtype=dtype), 'gt': gt}


def mse(out, b):
    return {'l_pix': torch.nn.functional.mse_loss(out, b['gt'])}


def count_candidate_calls(net):
    """calls[c][name]: how often candidate ``name`` of column c ran."""
    calls = [dict.fromkeys(CANDIDATES, 0) for _ in net.columns]

    def counter(c, name):
        def hook(module, inputs, output):
            calls[c][name] += 1

        return hook

    for c, column in enumerate(net.columns):
        for name, module in column.items():
            module.register_forward_hook(counter(c, name))
    return calls


def sampled_paths(net):
    """The candidate each column runs in one forward (mixing_weights gives the others None)."""
    return [[k for k, w in enumerate(row) if w is not None] for row in net.mixing_weights()]


def rel_err(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


# --------------------------------------------------------------------------- Gumbel, single path
def test_gumbel_training_forward_runs_only_the_sampled_modules_and_eval_runs_the_argmax():
    net = tiny_net()
    net.gumbel_tau, net.gumbel_generator = 1.0, torch.Generator().manual_seed(0)
    calls = count_candidate_calls(net)
    x = batch()['lq']
    net(x).square().mean().backward()
    for column, ran in zip(net.columns, calls):
        assert sorted(ran.values()) == [0, 1], ran  # one candidate per column, the other not run
        sampled = max(ran, key=ran.get)
        assert all(p.grad is not None for p in column[sampled].parameters())
        assert all(p.grad is None for name, m in column.items() if name != sampled for p in m.parameters())
    grad = net.arch_logits.grad  # the logits learn through the straight-through weight
    assert torch.isfinite(grad).all() and (grad.abs().sum(-1) > 0).all()

    # eval (validation): the argmax of the logits, i.e. the derived network with the supernet's weights
    with torch.no_grad():
        net.arch_logits.copy_(torch.tensor([[2.0, -1.0], [-0.5, 0.5]]))
    net.eval()
    derived = CLEARERNet(net.genotype(), **{**TINY, 'residual': False}).eval()
    assert str(net.genotype()) == 'P F'
    derived.load_state_dict({k: v for k, v in net.state_dict().items() if k in derived.state_dict()})
    with torch.no_grad():
        torch.testing.assert_close(net(x), derived(x))


def test_gumbel_samples_follow_the_softmax_and_the_generator():
    net = tiny_net()
    net.gumbel_tau = 1.0
    with torch.no_grad():
        net.arch_logits.copy_(torch.tensor([[0.8, 0.2], [0.5, 0.5]]).log())

    def draw(seed, n):
        net.gumbel_generator = torch.Generator().manual_seed(seed)
        return torch.tensor([sampled_paths(net) for _ in range(n)]).squeeze(-1)  # (n, columns)

    frequency_of_parallel = (draw(7, 400) == 0).float().mean(0)
    assert abs(frequency_of_parallel[0] - 0.8) < 0.08 and abs(frequency_of_parallel[1] - 0.5) < 0.1  # 4 sigma
    # the same seed draws the same paths (on every rank, and after a resume); another seed others
    assert torch.equal(draw(7, 50), draw(7, 50)) and not torch.equal(draw(7, 50), draw(8, 50))


def test_gumbel_logits_move_towards_the_better_module():
    """Parallel modules made harmful (a large offset on every branch): logit steps alone, on
    single sampled paths, move every column towards fusion."""
    net = tiny_net(residual=True)
    with torch.no_grad():
        for column in net.columns:
            for block in column['parallel'].blocks:
                block.body[1][1].bias.fill_(3.0)  # last BN of the residual block
    net.gumbel_tau, net.gumbel_generator = 1.0, torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(net.arch_parameters(), lr=0.1, betas=(0.5, 0.999))
    b = batch(1, n=4)
    for _ in range(30):
        optimizer.zero_grad()
        arch_gradient.first_order(net, net.arch_parameters(), b, mse, dict)
        optimizer.step()
    fusion = net.column_weights()[:, CANDIDATES.index('fusion')]
    assert (fusion > 0.65).all(), fusion


def test_gumbel_search_model_samples_each_step_and_checks_its_options(demo_data, tmp_path):
    opt = search_options(demo_data, 'gumbel', arch_sampling='gumbel', gumbel_tau=[2.0, 0.5])
    model = build_model(model_options(opt, tmp_path))
    net = model.supernet
    assert model.opt['find_unused_parameters']  # DDP: the unsampled modules get no gradient
    calls = count_candidate_calls(net)
    logits = net.arch_logits.detach().clone()
    model.feed_data(batch())
    model.optimize_parameters(3)  # past the warm-up: a logit step and a weight step
    assert not torch.equal(net.arch_logits, logits)
    assert all(sorted(ran.values()) in ([0, 2], [1, 1]) for ran in calls)  # one module per column and step
    assert net.gumbel_tau == pytest.approx(2.0 + (0.5 - 2.0) * 3 / 6)  # linear over total_iter
    model.sample_paths(4, 'architecture')
    first = sampled_paths(net)
    model.sample_paths(4, 'architecture')
    assert sampled_paths(net) == first  # seeded by iteration and step: what a resumed run draws

    for bad, match in (
        ({'arch_update': 'second_order'}, 'first_order'),
        ({'gumbel_tau': -1}, 'gumbel_tau'),
        ({'gumbel_tau': [1, 2, 3]}, 'gumbel_tau'),
        ({'arch_sampling': 'gdas'}, 'arch_sampling'),
    ):
        opt = search_options(demo_data, 'bad', **{'arch_sampling': 'gumbel', **bad})
        with pytest.raises(ValueError, match=match):
            build_model(model_options(opt, tmp_path))


DDP_WORKER = '''
    """2 ranks (gloo): a Gumbel search; every rank reports the paths it sampled and its logits."""
    import os
    import torch
    import torch.distributed as dist
    from clearer_basicsr.archs.clearer_arch import CLEARERSearchNet
    from clearer_basicsr.train import train_pipeline

    paths, mixing_weights = [], CLEARERSearchNet.mixing_weights

    def recording(self):
        weights = mixing_weights(self)
        if self.training:
            paths.append([[w is not None for w in row] for row in weights])
        return weights

    CLEARERSearchNet.mixing_weights = recording
    model = train_pipeline(os.getcwd())
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, {'paths': paths, 'logits': model.supernet.arch_logits.tolist()})
    if dist.get_rank() == 0:
        torch.save(gathered, 'ranks.pt')
    dist.barrier()  # neither rank tears the group down while the other still talks
    dist.destroy_process_group()
'''


def test_gumbel_under_ddp_samples_the_same_paths_on_every_rank(demo_data, tmp_path):
    opt = search_options(demo_data, 'ddp_gumbel', total_iter=3, arch_warmup_iter=1, arch_sampling='gumbel')
    opt['manual_seed'] = None  # BasicSR then draws a seed per rank: the sampling seed must still agree
    opt['logger']['save_checkpoint_freq'] = 100
    write_yaml(tmp_path / 'ddp.yml', opt)
    (tmp_path / 'worker.py').write_text(textwrap.dedent(DDP_WORKER))
    with socket.socket() as s:  # a free port: other test runs may share the machine
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = run_cli(
        [
            '-m',
            'torch.distributed.run',
            '--nproc_per_node',
            '2',
            '--master_port',
            str(port),
            'worker.py',
            '-opt',
            'ddp.yml',
            '--launcher',
            'pytorch',
        ],
        tmp_path,
        env={'OMP_NUM_THREADS': '1'},
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    rank0, rank1 = torch.load(tmp_path / 'ranks.pt')
    assert len(rank0['paths']) == 5  # 3 weight steps + 2 logit steps
    assert rank0['paths'] == rank1['paths'] and rank0['logits'] == rank1['logits']


# --------------------------------------------------------------------------- activation checkpointing
@pytest.mark.parametrize('gumbel', [False, True], ids=['softmax', 'gumbel'])
def test_checkpointed_columns_give_the_same_gradients_and_bn_statistics(gumbel):
    plain = tiny_net(torch.float64)
    checkpointed = tiny_net(torch.float64, checkpoint_columns=True)
    checkpointed.load_state_dict(plain.state_dict())
    b = batch(dtype=torch.float64)
    for net in (plain, checkpointed):
        if gumbel:
            net.gumbel_tau, net.gumbel_generator = 1.0, torch.Generator().manual_seed(3)
        mse(net(b['lq']), b)['l_pix'].backward()  # training forward: BN updates its statistics once
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-13, msg=name)
    for (name, a), c in zip(plain.named_buffers(), checkpointed.buffers()):
        assert torch.equal(a, c), name  # running means/vars and num_batches_tracked == 1, not 2

    # the logit step (BN in eval mode, weights frozen) through the same code path
    for net in (plain, checkpointed):
        net.arch_logits.grad = None
        net.apply(lambda m: m.eval() if isinstance(m, torch.nn.BatchNorm2d) else None)
        arch_gradient.first_order(net, net.arch_parameters(), b, mse, dict)
    torch.testing.assert_close(checkpointed.arch_logits.grad, plain.arch_logits.grad, rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------- autocast, channels-last
def test_bf16_autocast_and_channels_last_outputs_close_to_fp32():
    """Tolerances (relative L2 error over the batch): channels-last 1e-5 (the same maths in another
    order); bf16 autocast 5e-2 forward and 1.5e-1 for the logit gradient (8-bit mantissa)."""
    net = tiny_net()
    b = batch(n=4)
    reference = net(b['lq'])
    mse(reference, b)['l_pix'].backward()
    ref_grad, net.arch_logits.grad = net.arch_logits.grad.clone(), None

    net_cl = tiny_net().to(memory_format=torch.channels_last)
    out = net_cl(b['lq'].contiguous(memory_format=torch.channels_last))
    assert rel_err(out, reference) < 1e-5

    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = net(b['lq'])
        loss = mse(out.float(), b)['l_pix']
    loss.backward()
    assert out.dtype == torch.bfloat16 and rel_err(out, reference) < 5e-2
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    assert rel_err(net.arch_logits.grad, ref_grad) < 1.5e-1


@pytest.mark.parametrize('mode', [{'amp': 'bf16', 'channels_last': True}, {'amp': 'fp16'}], ids=['bf16+cl', 'fp16'])
def test_search_retrain_and_test_steps_under_amp_and_channels_last(demo_data, tmp_path, mode):
    amp, channels_last = mode.get('amp'), mode.get('channels_last', False)
    opt = search_options(demo_data, 'amp', **({'amp': amp} if amp else {}))
    opt['channels_last'] = channels_last
    if amp:
        opt['val']['amp'] = amp
    model = build_model(model_options(opt, tmp_path))
    net = model.supernet
    logits, weights = net.arch_logits.detach().clone(), [p.detach().clone() for p in net.weight_parameters()]
    conv = net.cells[0][0]['parallel'].blocks[0].body[0][0]  # 4 -> 4 channels: the layout is unambiguous
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    model.feed_data(batch())
    model.optimize_parameters(3)  # logit step + weight step
    assert not torch.equal(net.arch_logits, logits) and torch.isfinite(net.arch_logits).all()
    assert any(not torch.equal(p, w) for p, w in zip(net.weight_parameters(), weights))
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert all(v == v for v in model.log_dict.values())  # no NaN in the logged losses

    # test: whole images, padded; close to the fp32 output of the same network
    model.feed_data(batch(size=13))
    model.test()
    amp_out = model.output
    model.opt['val'].pop('amp', None)
    model.test()
    assert amp_out.dtype == torch.float32 and rel_err(amp_out, model.output) < (5e-2 if amp else 1e-5)

    # retrain: the derived net under the same options
    retrain = train_options(
        demo_data,
        'retrain',
        network_g={'type': 'CLEARERNet', 'genotype': 'P F', **TINY},
        **({'amp': amp} if amp else {}),
    )
    retrain['channels_last'] = channels_last
    model = build_model(model_options(retrain, tmp_path))
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.feed_data(batch())
    model.optimize_parameters(1)
    assert any(not torch.equal(p, w) for p, w in zip(model.net_g.parameters(), before))
    assert all(torch.isfinite(p).all() for p in model.net_g.parameters())


# --------------------------------------------------------------------------- defaults
def test_channels_last_is_on_by_default_for_clearer_nets_on_the_cpu(demo_data, tmp_path):
    """channels_last: auto (also when absent) is on for CLEARER nets on the CPU, where it was measured
    faster, off for other networks; an explicit value wins."""
    search = build_model(model_options(search_options(demo_data, 'cl_default'), tmp_path))
    conv = search.supernet.cells[0][0]['parallel'].blocks[0].body[0][0]
    assert search.channels_last and conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not build_model(model_options(train_options(demo_data, 'cl_dncnn'), tmp_path)).channels_last
    opt = search_options(demo_data, 'cl_off')
    opt['channels_last'] = False
    assert not build_model(model_options(opt, tmp_path)).channels_last


def test_amp_auto_is_bf16_only_where_bf16_is_native(monkeypatch):
    cpu = torch.device('cpu')
    assert amp_dtype('auto', cpu) == (torch.bfloat16 if native_bf16(cpu) else None)
    assert amp_dtype('bf16', cpu) == torch.bfloat16 and amp_dtype(None, cpu) is None
    monkeypatch.setattr(torch.cpu, '_is_avx512_bf16_supported', lambda: True, raising=False)
    assert native_bf16(cpu) and amp_dtype('auto', cpu) == torch.bfloat16


@pytest.mark.skipif(native_bf16(torch.device('cpu')), reason='amp: auto is bf16 on this CPU')
def test_amp_auto_search_takes_the_fp32_decisions_here(demo_data, tiny_search):
    """Without native bf16, amp: auto is fp32: the tiny search ends with the very same logits."""
    root = tiny_search['root'] / 'amp_auto'
    root.mkdir()
    opt = search_options(demo_data, 'tiny_search', total_iter=8, amp='auto')  # conftest's tiny_search + amp
    opt['logger']['save_checkpoint_freq'] = 4
    logits = run_train_inprocess(write_yaml(root / 'search.yml', opt), root).supernet.arch_logits.detach().clone()
    assert torch.equal(logits, tiny_search['logits'])
