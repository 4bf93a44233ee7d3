"""How firmly a search decided (margins, the undecided warning) and searching to a budget."""

import logging

import pytest
import torch
import yaml
from basicsr.models import build_model
from conftest import model_options, run_train_inprocess, search_options, write_yaml

from clearer_basicsr.archs.clearer_arch import CLEARERSearchNet
from clearer_basicsr.archs.complexity import derive_within_budget
from clearer_basicsr.archs.decisions import DECIDED_WEIGHT, column_decisions, undecided_warning
from clearer_basicsr.losses.arch_loss import CLEARERArchLoss
from clearer_basicsr.models.budget import Budget

# Two cells of two columns: 16 genotypes, so a budget has several to choose from.
BUDGET_NET = {
    'type': 'CLEARERSearchNet',
    'in_channels': 1,
    'out_channels': 1,
    'branch_channels': [4, 8, 16],
    'columns_per_cell': 2,
    'stem_blocks': 1,
    'stem_width': 2,
    'residual': True,
}


def read_genotype_file(exp):
    with open(exp / 'genotype.yml') as f:
        return yaml.safe_load(f)


def test_decisions_give_winner_weight_and_margin_and_flag_columns_below_the_threshold():
    decisions = column_decisions([[0.9, 0.1], [0.45, 0.55], [0.6, 0.4]], columns_per_cell=2)
    assert [(d.choice, d.decided) for d in decisions] == [('parallel', True), ('fusion', False), ('parallel', True)]
    assert decisions[0].margin == pytest.approx(0.8) and decisions[1].margin == pytest.approx(0.1)
    assert decisions[1].weight < DECIDED_WEIGHT <= decisions[2].weight
    warning = undecided_warning(decisions)
    assert 'cell 1 column 2 (fusion 0.55)' in warning and 'cell 2 column 1' not in warning
    assert 'weight_decay' in warning and 'lr' in warning  # it says what to change
    assert undecided_warning(column_decisions([[0.1, 0.9]], 2)) is None


def test_search_with_tied_logits_reports_margins_and_warns_about_every_column(demo_data, tmp_path):
    # A logit learning rate of ~0 keeps every column at 0.5: the search decides nothing.
    opt = search_options(
        demo_data, 'tied', total_iter=4, optim_arch={'type': 'Adam', 'lr': 1.0e-12, 'weight_decay': 0.0}
    )
    del opt['val'], opt['datasets']['val']
    run_train_inprocess(write_yaml(tmp_path / 'tied.yml', opt), tmp_path)
    found = read_genotype_file(tmp_path / 'experiments' / 'tied')
    assert [d['decided'] for d in found['decisions']] == [False, False]
    assert all(d['margin'] < 0.01 for d in found['decisions'])
    assert found['undecided'] == ['cell 1 column 1', 'cell 1 column 2']
    (log_file,) = (tmp_path / 'experiments' / 'tied').glob('train_tied_*.log')
    warnings = [line for line in log_file.read_text().splitlines() if 'WARNING' in line]
    assert any('2 of 2 columns are undecided' in w and 'cell 1 column 1' in w for w in warnings)


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


def test_export_of_separated_logits_records_decisions_and_does_not_warn(demo_data, tmp_path):
    model = build_model(model_options(search_options(demo_data, 'sep', arch_loss=None), tmp_path))
    with torch.no_grad():
        model.supernet.arch_logits.copy_(torch.tensor([[3.0, -3.0], [-2.0, 2.0]]))
    model.arch_steps_taken = 1  # as if a search had moved them there (untrained logits are not exported)
    recorder = Recorder()
    logging.getLogger('basicsr').addHandler(recorder)
    try:
        model.export_architecture(-1)
    finally:
        logging.getLogger('basicsr').removeHandler(recorder)
    found = read_genotype_file(tmp_path / 'experiments' / 'sep')
    assert [(d['choice'], d['decided']) for d in found['decisions']] == [('parallel', True), ('fusion', True)]
    assert found['undecided'] == []
    assert any('Genotype: P F' in message for _, message in recorder.messages)  # the export logged
    assert not [m for level, m in recorder.messages if level >= logging.WARNING]
    log = model.decision_log(model.supernet.column_weights().detach())
    assert log['arch_undecided'] == 0 and log['margin/c01'] == pytest.approx(float(torch.tanh(torch.tensor(3.0))))


def test_derivation_within_budget_is_the_argmax_when_it_fits_else_the_most_likely_fitting_genotype():
    weights = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2]])
    costs = torch.tensor([[10.0, 2.0], [10.0, 2.0], [10.0, 2.0]])
    assert derive_within_budget(weights, costs, fixed=5.0, target=35.0) == [0, 0, 0]  # argmax costs 35
    # 27 fits 25 +- 10 %: one column must turn cheap, the least decided one (0.6 -> 0.4).
    assert derive_within_budget(weights, costs, fixed=5.0, target=25.0) == [0, 1, 0]
    assert derive_within_budget(weights, costs, fixed=5.0, target=3.0) is None  # cheaper than all fusion


def test_multiplier_rises_above_budget_falls_below_and_its_term_pushes_towards_cheaper_candidates():
    net = CLEARERSearchNet(branch_channels=(4, 8, 16), columns_per_cell=2, stem_blocks=1, stem_width=2)
    loss = CLEARERArchLoss(lambda_arch=0.0, lambda_comp=1.0, dual_lr=0.1)
    loss.set_budget(Budget.from_section({'metric': 'macs', 'target': 0.6}, net, 16, 'train: budget'))
    dear = torch.tensor([[0.9, 0.1]] * 4)  # mostly parallel: above 60 % of the all-parallel cost
    cheap = torch.tensor([[0.1, 0.9]] * 4)
    assert float(loss.expected_fraction(dear)) > 0.6 > float(loss.expected_fraction(cheap))
    start = float(loss.multiplier)
    loss.update_multiplier(dear)
    assert float(loss.multiplier) > start
    risen = float(loss.multiplier)
    loss.update_multiplier(cheap)
    assert float(loss.multiplier) < risen
    logits = torch.zeros(4, 2, requires_grad=True)
    loss(torch.softmax(logits, -1), loss_scale=1.0)['l_arch_budget'].backward()
    assert (logits.grad[:, 0] > 0).all() and (logits.grad[:, 1] < 0).all()  # descent favours fusion (cheaper)


def test_budget_search_lands_within_ten_percent_of_its_target(demo_data, tmp_path):
    target = 0.5
    opt = search_options(
        demo_data,
        'budget',
        total_iter=30,
        arch_warmup_iter=5,
        optim_arch={'type': 'Adam', 'lr': 0.05, 'betas': [0.5, 0.999], 'weight_decay': 0.0},
        arch_loss={'type': 'CLEARERArchLoss', 'lambda_arch': 0.01},
        budget={'metric': 'macs', 'target': target},
    )
    opt['network_g'] = dict(BUDGET_NET)
    del opt['val'], opt['datasets']['val']
    model = run_train_inprocess(write_yaml(tmp_path / 'budget.yml', opt), tmp_path)
    budget = read_genotype_file(tmp_path / 'experiments' / 'budget')['budget']
    assert budget['target_fraction'] == pytest.approx(target)
    assert abs(budget['reached_fraction'] / target - 1) <= 0.1
    # The search itself moved towards the budget: from the start (weights 0.5: 69 % of the
    # all-parallel cost) the multiplier pushed the expected cost down past 55 %.
    weights = model.supernet.column_weights().detach()
    assert float(model.cri_arch.expected_fraction(weights)) < target * 1.1
