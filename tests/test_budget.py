"""The search's budget (train: budget): one value, read from its own section or from the old
spelling on arch_loss, refused in one line where no genotype can meet it."""

import logging

import pytest
import torch
from basicsr.models import build_model
from conftest import model_options, one_shot_options, search_options

from clearer_basicsr.archs.clearer_arch import CLEARERSearchNet
from clearer_basicsr.archs.complexity import candidate_costs, derived_cost
from clearer_basicsr.models.budget import Budget, budget_section
from clearer_basicsr.option_rules import OptionError

NET = dict(branch_channels=(4, 8, 16), columns_per_cell=2, stem_blocks=1, stem_width=2)


def budget(train, patch=16):
    section, _ = budget_section(train)
    return Budget.from_section(section, CLEARERSearchNet(**NET), patch, 'train: budget')


def test_the_old_spelling_on_arch_loss_is_the_same_budget():
    new = budget({'budget': {'metric': 'macs', 'target': 0.6}})
    old = budget({'arch_loss': {'type': 'CLEARERArchLoss', 'complexity': 'flops', 'target': 0.6}})
    assert (old.metric, old.target, old.window) == (new.metric, new.target, new.window)
    assert old.genotypes() == new.genotypes() != []
    _, loss = budget_section({'arch_loss': {'type': 'CLEARERArchLoss', 'complexity': 'flops', 'target': 0.6}})
    assert 'target' not in loss  # the regulariser never sees the budget's keys


def test_target_macs_counts_at_its_own_input_size():
    at_16 = budget({'budget': {'metric': 'macs', 'target': 0.6}}, patch=16)
    macs_256 = at_16.target * (256 / 16) ** 2
    by_macs = budget({'budget': {'metric': 'macs', 'target_macs': macs_256, 'target_size': 256}}, patch=32)
    assert by_macs.target == pytest.approx(at_16.target * (32 / 16) ** 2)
    assert by_macs.fraction == pytest.approx(0.6, rel=1e-3)  # MACs grow with the area, the fraction does not


def test_every_genotype_of_the_window_costs_what_the_window_says():
    b = budget({'budget': {'metric': 'params', 'target': 0.7, 'tolerance': 0.2}})
    costs = candidate_costs(b.net, b.patch_size)
    inside = b.genotypes()
    lo, hi = b.window
    assert inside and all(lo <= derived_cost(costs, b.genotype(g))['params'] <= hi for g in inside)
    assert len(b.bounded(1.0).genotypes()) < len(Budget.measure(b.net, 16, 'params').genotypes())


@pytest.mark.parametrize(
    'train, message',
    [
        (
            {'budget': {'metric': 'macs', 'target': 0.05}},
            r'train: budget: target = 0.05 is 0.050 of the largest .*cheapest',
        ),
        ({'budget': {'metric': 'macs', 'target': 0.5, 'target_macs': 1e6}}, 'expected one target'),
        ({'budget': {'metric': 'flops', 'target': 0.5}}, r"budget: metric = 'flops': expected one of"),
        ({'budget': {'metric': 'params', 'target_macs': 1e6}}, 'target_macs needs metric: macs'),
        ({'budget': {'metric': 'macs', 'target': 1.5}}, r'target = 1.5: expected a fraction in \(0, 1\]'),
        ({'budget': {'metric': 'macs', 'targt': 0.5}}, "budget: targt is not a budget key; did you mean 'target'"),
        ({'arch_loss': {'type': 'CLEARERArchLoss', 'target': 0.5}}, 'arch_loss: target = 0.5 needs a complexity'),
        ({'budget': {'metric': 'macs', 'target': 0.5, 'target_size': 128}}, 'target_size: applies with target_macs'),
        ({'budget': {'metric': 'macs', 'target': 0.5, 'latency_size': 128}}, 'latency_size: applies with metric'),
        ({'arch_loss': 0.5}, 'arch_loss = 0.5: expected a loss'),
        (
            {'arch_loss': {'complexity': 'flops', 'target': 0.5}, 'budget': {'metric': 'macs', 'target': 0.5}},
            'both given',
        ),
    ],
)
def test_bad_budgets_are_refused_in_one_line(train, message):
    with pytest.raises(OptionError, match=message):
        budget(train)


def test_a_search_with_the_old_spelling_runs_and_says_where_the_budget_belongs(demo_data, tmp_path):
    legacy = {'type': 'CLEARERArchLoss', 'lambda_arch': 0.01, 'complexity': 'flops', 'target': 0.8}
    messages = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger('basicsr')
    logger.addHandler(handler)
    try:
        model = build_model(model_options(search_options(demo_data, 'legacy', arch_loss=legacy), tmp_path))
    finally:
        logger.removeHandler(handler)
    assert model.budget.fraction == pytest.approx(0.8) and model.cri_arch.target == pytest.approx(0.8)
    assert sum('old spelling of the budget' in m for m in messages) == 1


def test_each_search_refuses_the_other_searchs_keys(demo_data, tmp_path):
    darts = search_options(demo_data, 'darts', one_shot={'cap': 4})
    with pytest.raises(OptionError, match='train: one_shot: a key of model_type CLEAREROneShotModel'):
        build_model(model_options(darts, tmp_path))
    one_shot = one_shot_options(demo_data, 'one_shot', optim_arch={'type': 'Adam', 'lr': 0.1})
    with pytest.raises(OptionError, match='train: optim_arch: a key of model_type CLEARERSearchModel'):
        build_model(model_options(one_shot, tmp_path))
    legacy = one_shot_options(demo_data, 'legacy', arch_loss={'type': 'CLEARERArchLoss', 'target': 0.5})
    with pytest.raises(OptionError, match=r'arch_loss: target: the budget of a CLEAREROneShotModel is train: budget'):
        build_model(model_options(legacy, tmp_path))
    old = search_options(demo_data, 'old', arch_search='one_shot')
    with pytest.raises(OptionError, match="arch_search = 'one_shot': that search is model_type: CLEAREROneShotModel"):
        build_model(model_options(old, tmp_path))


def test_a_latency_table_is_written_beside_the_run_and_reused_for_the_same_key(tmp_path, monkeypatch, quick_timing):
    from clearer_basicsr.archs import latency

    measured = []
    real = latency.measure
    monkeypatch.setattr(latency, 'measure', lambda *a: measured.append(a) or real(*a))
    net, cpu = CLEARERSearchNet(**NET), torch.device('cpu')
    table = latency.latency_table(net, 32, cpu, False, str(tmp_path))
    assert not (tmp_path / latency.TABLE).exists() and len(measured) == 1  # written once the run has a folder
    assert len(table['columns']) == net.num_columns and all(len(row) == 2 for row in table['columns'])
    assert all(ms > 0 for row in table['columns'] for ms in row) and set(table['fixed']) >= {'stem', 'head'}
    latency.write_table(table, str(tmp_path))
    assert latency.latency_table(net, 32, cpu, False, str(tmp_path)) == table and len(measured) == 1  # read back
    other = latency.latency_table(net, 32, cpu, True, str(tmp_path))  # another key (memory format): timed afresh
    assert len(measured) == 2 and other['key'] != table['key']
    # a resumed run keeps the table it started with, whatever the key now
    assert latency.latency_table(net, 32, cpu, True, str(tmp_path), keep=True) == table and len(measured) == 2


def test_a_slow_spell_of_the_machine_does_not_make_the_shape_timed_during_it_dear(monkeypatch, quick_timing):
    """A table's runs are spread over rounds that each visit every shape, and a part costs its
    fastest run: everything timed during the first visit (slowed 100 times) costs what the
    same part of an unslowed shape costs."""
    from clearer_basicsr.archs import latency
    from clearer_basicsr.archs.widths import shape_view

    net, visits = CLEARERSearchNet(**NET), []
    real_parts = latency._parts
    monkeypatch.setattr(latency, '_parts', lambda shape, *a: visits.append(shape) or real_parts(shape, *a))
    monkeypatch.setattr(latency, 'run_times', lambda run, device, n, warmup: [100.0 if len(visits) == 1 else 1.0] * n)
    first, second = shape_view(net, (4, 8, 16)), shape_view(net, (2, 4, 8))
    slowed, steady = latency.time_shapes([first, second], 16, torch.device('cpu'), False)
    assert visits == [first, second] * latency.ROUNDS
    assert slowed == steady and {ms for row in slowed['columns'] for ms in row} == {1.0}
    assert slowed['fixed'] == {'stem': 1.0, 'transition 1': 1.0, 'transition 2': 1.0, 'head': 1.0}


def test_a_latency_budget_is_a_window_of_milliseconds_per_megapixel(tmp_path, quick_timing):
    from clearer_basicsr.archs import latency

    net = CLEARERSearchNet(**NET)
    timing = {'device': torch.device('cpu'), 'folder': str(tmp_path)}
    space = Budget.measure(net, 16, 'latency', {**timing, 'size': 32})
    latency.write_table(space.table, str(tmp_path))  # as a run's first save does: the budget below reads it
    per_mp = space.largest * 1e6 / 32**2  # the largest network's ms per megapixel
    section = {'metric': 'latency', 'target_ms_per_mp': 0.9 * per_mp, 'latency_size': 32, 'tolerance': 0.3}
    b = Budget.from_section(section, net, 16, 'train: budget', timing)
    assert b.patch_size == 32 and b.fraction == pytest.approx(0.9)
    lo, hi = b.window
    assert b.genotypes() and all(lo <= b.cost(b.genotype(g)) <= hi for g in b.genotypes())
    report = b.report(b.genotype(b.genotypes()[0]))
    assert report['metric'] == 'latency' and report['target_ms_per_mp'] == pytest.approx(0.9 * per_mp, rel=1e-3)
    with pytest.raises(OptionError, match='target_ms_per_mp needs metric: latency'):
        budget({'budget': {'metric': 'macs', 'target_ms_per_mp': 5.0}})


def test_a_latency_budget_is_refused_where_ranks_would_time_each_other(demo_data):
    from clearer_basicsr.models.clearer_one_shot_model import CLEAREROneShotModel

    opt = one_shot_options(demo_data, 'latency', budget={'metric': 'latency', 'target': 0.8})
    opt.update(is_train=True, dist=True, world_size=2)
    with pytest.raises(OptionError, match=r'train: budget: metric = latency: .*world_size 2.*one process'):
        CLEAREROneShotModel.check_options(opt)
