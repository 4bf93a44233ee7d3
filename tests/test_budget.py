"""The search's budget (train: budget): one value, read from its own section or from the old
spelling on arch_loss, refused in one line where no genotype can meet it."""

import logging

import pytest
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
        ({'budget': {'metric': 'latency', 'target': 0.5}}, r"budget: metric = 'latency': expected one of"),
        ({'budget': {'metric': 'params', 'target_macs': 1e6}}, 'target_macs needs metric: macs'),
        ({'budget': {'metric': 'macs', 'target': 1.5}}, r'target = 1.5: expected a fraction in \(0, 1\]'),
        ({'budget': {'metric': 'macs', 'targt': 0.5}}, "budget: targt is not a budget key; did you mean 'target'"),
        ({'arch_loss': {'type': 'CLEARERArchLoss', 'target': 0.5}}, 'arch_loss: target = 0.5 needs a complexity'),
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
    old = search_options(demo_data, 'old', arch_search='one_shot')
    with pytest.raises(OptionError, match="arch_search = 'one_shot': that search is model_type: CLEAREROneShotModel"):
        build_model(model_options(old, tmp_path))
