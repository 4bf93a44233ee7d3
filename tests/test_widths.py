"""The macro space (archs/widths.py): branch widths and the number of cells, shared over one
supernet by masking, costed per shape, searched by the one-shot model."""

import random

import pytest
import torch
from basicsr.models import build_model
from conftest import model_options, one_shot_options
from test_one_shot import ONE_SHOT, train_batches

from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet
from clearer_basicsr.archs.complexity import genotype_cost
from clearer_basicsr.archs.genotype import Genotype
from clearer_basicsr.archs.widths import inherit_weights
from clearer_basicsr.models.macro_budget import MacroBudget
from clearer_basicsr.models.one_shot import path_generator
from clearer_basicsr.option_rules import OptionError
from clearer_basicsr.search_result import SearchResult

PRESET = dict(in_channels=1, out_channels=1, branch_channels=[4, 8, 8], columns_per_cell=2, stem_blocks=1, stem_width=2)
MACRO = dict(widths=[0.5, 1], num_cells=[1, 2])


def supernet(**extra):
    torch.manual_seed(0)
    return CLEARERSearchNet(**PRESET, **MACRO, residual=True, init_std=0.2, **extra)


def random_rows(space, count, seed=0):
    rng = random.Random(seed)
    return [space.canonical([rng.randrange(n) for n in space.radix]) for _ in range(count)]


@pytest.mark.parametrize('training', [True, False])
def test_a_subnet_of_the_masked_supernet_is_the_derived_net_with_the_weights_sliced(training):
    """The whole weight-sharing claim: the supernet run on a row computes what CLEARERNet of the
    row's genotype computes with the supernet's weights cut to its shapes (batch statistics in
    training, the inherited running statistics in eval)."""
    net = supernet(candidates=['parallel', 'fusion', 'skip'])
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # statistics that differ per channel
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2)
    space = net.macro  # rows that reach every path of fusion (stride steps, upsampling) at uneven widths
    fusions = [
        space.digits(1, (0, 1, 0), [1] * 4),
        space.digits(1, (1, 0, 1), [1, 2, 1, 1]),
        space.digits(0, (0, 1), [1, 1]),
    ]
    rows = random_rows(space, 6) + fusions + [space.canonical([0] * len(space.radix))]
    narrowed = 0
    for row in rows:
        genotype = net.macro.genotype(row)
        derived = CLEARERNet(genotype, **{**PRESET, 'branch_channels': None}, residual=True)
        inherit_weights(derived, net.state_dict())
        net.train(training), derived.train(training)
        net.use_path(row)
        with torch.no_grad():
            got, expected = net(x), derived(x)
        net.use_path(None)
        assert torch.allclose(got, expected, atol=1e-5), genotype
        narrowed += genotype.branch_channels != tuple(PRESET['branch_channels'][: len(genotype.branch_channels)])
    assert narrowed  # rows that really narrow a branch were compared


def test_a_training_step_runs_each_subnet_on_its_part_of_the_batch_and_resets():
    net = supernet().eval()
    rows = random_rows(net.macro, 4, seed=1)
    x = torch.rand(8, 1, 16, 16)
    with torch.no_grad():
        net.subnets = rows
        together = net(x)
        net.subnets = None
        apart = []
        for row, part in zip(rows, x.chunk(4)):
            net.use_path(row)
            apart.append(net(part))
        net.use_path(None)
    assert torch.equal(together, torch.cat(apart))
    assert net.path is None and net.active_widths is None and net.active_cells is None  # the whole supernet again


def test_a_subnet_with_fewer_cells_pads_to_its_own_size_multiple():
    net = supernet().eval()
    row = net.macro.digits(0, (0, 1), [1, 0])  # one cell: a multiple of 2, not 4
    derived = CLEARERNet(net.macro.genotype(row), **{**PRESET, 'branch_channels': None}, residual=True).eval()
    inherit_weights(derived, net.state_dict())
    x = torch.rand(1, 1, 18, 18)
    net.use_path(row)
    with torch.no_grad():
        assert torch.allclose(net(x), derived(x), atol=1e-5)
    net.use_path(None)


def test_a_macro_genotype_states_its_channels_and_reads_back():
    genotype = Genotype.parse('P F | F S @ 2 8 4')
    assert genotype.branch_channels == (2, 8, 4) and genotype.searched_channels
    assert str(genotype) == 'P F | F S @ 2 8 4'
    assert Genotype.from_dict(genotype.to_dict()) == genotype and str(Genotype.from_dict(genotype.to_dict())) == str(
        genotype
    )
    assert str(Genotype.parse('P F | F P')) == 'P F | F P'  # the paper space's strings stay as they were
    assert 'searched_channels' not in Genotype.parse('P F | F P').to_dict()
    with pytest.raises(ValueError, match='whole channel counts after "@"'):
        Genotype.parse('P F | F P @ 4 eight 8')
    with pytest.raises(OptionError, match='leave branch_channels out'):
        CLEARERNet(genotype, **PRESET)


def test_the_macro_budget_costs_each_genotype_as_its_derived_net_and_windows_it():
    net = supernet()
    budget = MacroBudget.from_section({'metric': 'macs', 'target': 0.5}, net, 16, 'train: budget')
    rows = budget.genotypes()
    assert len(rows) == len(set(rows)) and all(budget.canonical(r) == r for r in rows)
    assert all(budget.row(budget.genotype(r)) == r for r in rows)  # a genotype maps back to its row
    lo, hi = budget.window
    for row in rows[:: max(1, len(rows) // 12)]:
        genotype = budget.genotype(row)
        derived = CLEARERNet(genotype, **{**PRESET, 'branch_channels': None})
        assert genotype_cost(net, genotype, 16)['params'] == sum(p.numel() for p in derived.parameters())
        assert lo <= budget.cost(genotype) == genotype_cost(net, genotype, 16)['macs'] <= hi
    every = MacroBudget.measure(net, 16).genotypes()
    outside = [r for r in every if not lo <= budget.cost(budget.genotype(r)) <= hi]
    assert len(every) == len(rows) + len(outside) and outside  # the window is a real subset of the space
    assert {len(budget.genotype(r).cells) for r in every} == {1, 2}


def test_a_macro_budget_below_its_cheapest_subnet_is_refused_in_one_line():
    net = supernet()
    space = MacroBudget.measure(net, 16)
    cheapest = min(space.cost(space.genotype(r)) for r in space.genotypes())
    assert space.smallest == pytest.approx(cheapest)  # the bound is the cheapest subnet of every shape
    fraction = 0.9 * cheapest / space.largest
    with pytest.raises(
        OptionError, match=rf'train: budget: target = {fraction} .* between .* cheapest subnet of the macro space'
    ):
        MacroBudget.from_section({'metric': 'macs', 'target': fraction}, net, 16, 'train: budget')
    assert MacroBudget.from_section(
        {'metric': 'macs', 'target': 1.1 * cheapest / space.largest}, net, 16, 'b'
    ).genotypes()


def test_each_step_trains_the_widest_and_the_narrowest_subnet_and_two_drawn():
    space = supernet().macro
    rows = space.sandwich(path_generator(0, 7))
    widest, narrowest = space.subnet(rows[0]), space.subnet(rows[1])
    assert widest.cells == 2 and widest.widths == (4, 8, 8)
    assert narrowest.cells == 1 and narrowest.widths == (2, 4)
    assert len(rows) == 4 and all(space.canonical(r) == r for r in rows)
    assert space.sandwich(path_generator(0, 7)) == rows != space.sandwich(path_generator(0, 8))  # by seed, iteration


@pytest.mark.parametrize(
    'change, message',
    [
        ({'network_g': {'candidates': ['parallel', 'naf']}}, "'naf' cannot share weights over widths"),
        ({'network_g': {'widths': [0.5, 1.5]}}, r'widths = \[0.5, 1.5\]: expected distinct fractions in \(0, 1\]'),
        ({'network_g': {'widths': [0.5, 0.5]}}, r'widths = \[0.5, 0.5\]: expected distinct fractions'),
        ({'network_g': {'widths': [0.5, 0.6, 1]}}, r'on branch 0 \(4 channels\) they round to the same channel counts'),
        ({'network_g': {'num_cells': [3]}}, 'num_cells = \\[3\\]: expected distinct numbers of cells between 1 and 2'),
        ({'network_g': {'num_cells': [1, 1]}}, 'num_cells = \\[1, 1\\]: expected distinct numbers'),
        ({'network_g': {'stem_width': 1}}, "branch 0 \\(or one of its widths\\) has 4 channels, the stem's output"),
        ({'network_g': {'stem_width': 1, 'widths': [0.5]}}, 'branch 0 \\(or one of its widths\\) has 4 channels'),
        ({'network_g': {'checkpoint_columns': True}}, 'checkpoint_columns: not with widths'),
        ({'network_g': {'columns_per_cell': 12}}, r'2 widths per branch and cells \[1, 2\] make 134,234,112 genotypes'),
        ({'datasets': {'batch_size_per_gpu': 6}}, 'batch_size_per_gpu = 6: expected a multiple of 4'),
        ({'model_type': 'CLEARERSearchModel'}, 'the macro space is searched by model_type: CLEAREROneShotModel'),
    ],
)
def test_a_macro_space_it_cannot_search_is_refused_in_one_line(demo_data, tmp_path, change, message):
    opt = macro_options(demo_data)
    for key, value in change.items():
        if key == 'datasets':
            opt['datasets']['train'].update(value)
        else:
            opt[key] = {**opt[key], **value} if isinstance(value, dict) else value
    if opt['model_type'] == 'CLEARERSearchModel':
        opt['train'].pop('one_shot')
    with pytest.raises(OptionError, match=message):
        build_model(model_options(opt, tmp_path))


def test_a_supernet_built_directly_checks_its_macro_space_too():
    with pytest.raises(OptionError, match='expected distinct fractions'):
        CLEARERSearchNet(**PRESET, widths=[0.5, 1.5])
    with pytest.raises(OptionError, match="'naf' cannot share weights over widths"):
        CLEARERSearchNet(**PRESET, widths=[0.5, 1], candidates=['parallel', 'naf'])


def macro_options(demo_data, total_iter=2, **train):
    opt = one_shot_options(demo_data, 'widths', total_iter=total_iter, **{'one_shot': ONE_SHOT, **train})
    opt['network_g'] = {'type': 'CLEARERSearchNet', **PRESET, 'residual': True, **MACRO}
    opt['datasets']['train']['batch_size_per_gpu'] = 4
    opt['val'] = None
    return {k: v for k, v in opt.items() if v is not None}


def test_a_one_shot_search_of_the_macro_space_writes_a_genotype_that_builds(demo_data, tmp_path):
    model = build_model(
        model_options(
            macro_options(demo_data, budget={'metric': 'macs', 'target': 0.6}, one_shot={**ONE_SHOT, 'cap': 6}),
            tmp_path,
        )
    )
    pairs = train_batches(model, 4)
    for i, (a, b) in enumerate(zip(pairs[::2], pairs[1::2]), 1):  # batches of 4: a quarter per subnet
        model.feed_data({k: torch.cat([a[k], b[k]]) for k in ('lq', 'gt')})
        model.optimize_parameters(i)
    model.save(-1, -1)
    result = SearchResult.in_folder(model.opt['path']['experiments_root'])
    assert result.genotype.searched_channels and str(result.genotype).count('@') == 1
    assert result.selection['scored'] == 6 < result.selection['in_window']  # evolution over a larger window
    derived = CLEARERNet(result.genotype, in_channels=1, out_channels=1, stem_blocks=1, stem_width=2)
    assert derived.branch_channels == result.genotype.branch_channels
    assert result.params == sum(p.numel() for p in derived.parameters())
    lo, hi = model.budget.window
    assert lo <= model.budget.cost(result.genotype) <= hi


def test_a_latency_budget_times_every_shape_once_and_reuses_the_table(demo_data, tmp_path, monkeypatch, quick_timing):
    from clearer_basicsr.archs import latency
    from clearer_basicsr.archs.latency import shape_name

    real, calls = latency.time_shapes, []
    monkeypatch.setattr(
        latency, 'time_shapes', lambda nets, *a: calls.append([n.branch_channels for n in nets]) or real(nets, *a)
    )
    budget = {'metric': 'latency', 'target': 0.6, 'latency_size': 16, 'tolerance': 0.3}
    model = build_model(model_options(macro_options(demo_data, budget=budget), tmp_path))
    shapes = list(model.supernet.macro.shapes())
    (timed,) = calls  # every shape in the same rounds (a slow spell of the machine falls on all alike)
    assert len(timed) == len(shapes) == len(model.budget.table['shapes'])  # each shape at its own widths
    assert {tuple(c) for c in timed} == {
        tuple(model.supernet.macro.channels(b, w) for b, w in enumerate(widths)) for _, widths in shapes
    }
    model.save(0, 1)  # the table lands beside the run
    folder = model.opt['path']['experiments_root']
    from clearer_basicsr.models.macro_budget import MacroBudget

    timing = {'size': 16, 'folder': folder, 'device': model.device, 'channels_last': model.channels_last}
    again = MacroBudget.measure(model.supernet, 32, 'latency', timing)
    assert len(calls) == 1 and again.table == model.budget.table  # read back, not timed again
    for (cells_index, widths), part in model.budget.shapes.items():  # each shape is costed by its own timings
        own = model.budget.table['shapes'][shape_name(cells_index, widths)]
        assert torch.allclose(part.costs, torch.tensor(own['columns'])) and part.fixed == pytest.approx(
            sum(own['fixed'].values())
        )
