"""One-shot search (model_type CLEAREROneShotModel): uniform single paths, no logit steps, every
genotype of the cost window scored with inherited weights after BatchNorm recalibration."""

import itertools
import os
import random
import types

import pytest
import torch
from basicsr.models import build_model
from conftest import model_options, noise_dataset, one_shot_options

from clearer_basicsr.archs.complexity import BUDGET_TOLERANCE, candidate_costs, derived_cost
from clearer_basicsr.archs.genotype import CANDIDATES, Genotype
from clearer_basicsr.bn_recalibration import recalibrate_batchnorm
from clearer_basicsr.data.gaussian_noise_dataset import GaussianNoiseDataset
from clearer_basicsr.models.one_shot import PathScorer, evolve, mean_psnr
from clearer_basicsr.option_rules import OptionError
from clearer_basicsr.search_result import SearchResult

NET = {  # 2 cells of 2 columns: 16 genotypes
    'type': 'CLEARERSearchNet',
    'in_channels': 1,
    'out_channels': 1,
    'branch_channels': [4, 8, 8],
    'columns_per_cell': 2,
    'stem_blocks': 1,
    'stem_width': 2,
    'residual': True,
}
ONE_SHOT = {'calibration_batches': 2, 'score_batches': 2, 'batch_size': 2}


def one_shot_model(demo_data, tmp_path, total_iter, **train):
    opt = one_shot_options(demo_data, 'one_shot', total_iter=total_iter, one_shot=ONE_SHOT)
    opt['network_g'] = dict(NET)
    opt['train'].update(train)
    opt['val'] = None
    return build_model(model_options({k: v for k, v in opt.items() if v is not None}, tmp_path))


def train_batches(model, count):
    dataset = GaussianNoiseDataset(dict(noise_dataset(model.opt['datasets']['train']['dataroot_gt']), phase='train'))
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=True, drop_last=True)
    batches = itertools.cycle(loader)
    return [next(batches) for _ in range(count)]


def test_training_samples_every_candidate_uniformly_and_never_steps_the_logits(demo_data, tmp_path):
    model = one_shot_model(demo_data, tmp_path, total_iter=60)
    net = model.supernet
    logits = net.arch_logits.detach().clone()
    counts = torch.zeros(net.num_columns, len(CANDIDATES), dtype=torch.long)

    def counter(c, k):
        def count(*_):
            counts[c, k] += 1  # returns None: the output stays the module's

        return count

    for c, column in enumerate(net.columns):
        for k, name in enumerate(CANDIDATES):
            column[name].register_forward_hook(counter(c, k))
    iterations = 60
    for i, batch in enumerate(train_batches(model, iterations), 1):
        model.feed_data(batch)
        model.optimize_parameters(i)
    assert torch.equal(net.arch_logits.detach(), logits)
    assert torch.equal(counts.sum(dim=1), torch.full((net.num_columns,), iterations))  # one candidate per column
    assert ((counts - iterations / 2).abs() <= 0.2 * iterations).all(), counts  # binomial(60, 1/2): sd 3.9


def window_by_enumeration(net, patch_size, target):
    """Every genotype of the space whose MACs lie within the budget's window, by brute force."""
    costs = candidate_costs(net, patch_size)
    largest = costs.largest_total['macs']
    inside = set()
    for digits in itertools.product(range(len(CANDIDATES)), repeat=net.num_columns):
        genotype = Genotype.from_indices(list(digits), net.branch_channels, net.columns_per_cell)
        macs = derived_cost(costs, genotype)['macs']
        if abs(macs - target * largest) <= BUDGET_TOLERANCE * target * largest:
            inside.add(str(genotype))
    return inside


def test_selection_scores_exactly_the_window_and_derives_the_best_scored(demo_data, tmp_path):
    target = 0.8
    model = one_shot_model(demo_data, tmp_path, total_iter=4, budget={'metric': 'macs', 'target': target})
    for i, batch in enumerate(train_batches(model, 4), 1):
        model.feed_data(batch)
        model.optimize_parameters(i)
    model.save(-1, -1)
    result = SearchResult.in_folder(model.opt['path']['experiments_root'])
    expected = window_by_enumeration(model.supernet, model.patch_size, target)
    assert 1 < len(expected) < 2**model.supernet.num_columns  # the window is a real subset
    assert result.selection['method'] == 'one_shot'
    assert result.selection['scored'] == result.selection['in_window'] == len(expected)
    assert {r['genotype'] for r in result.ranking} == expected
    scores = [r['psnr'] for r in result.ranking]
    assert scores == sorted(scores, reverse=True)
    assert str(result.genotype) == result.ranking[0]['genotype']


def test_recalibration_changes_the_statistics_and_the_score_of_a_stale_path(demo_data, tmp_path):
    model = one_shot_model(demo_data, tmp_path, total_iter=4)
    net = model.supernet
    calibration = [b['lq'] for b in train_batches(model, 3)]
    scoring = train_batches(model, 2)
    path = [0, 1, 1, 0]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, std=0.3)  # features that matter to the output
        for bn in bns:  # stale statistics: far from what this path's features have
            bn.running_mean.fill_(2.0)
            bn.running_var.fill_(0.01)
    bn = bns[-1]
    stale_mean = bn.running_mean.clone()
    net.path = path
    net.eval()
    stale = mean_psnr(net, scoring)
    net.path = None
    score = PathScorer(net, calibration, scoring)(path)
    assert abs(score - stale) > 0.1
    assert torch.equal(bn.running_mean, stale_mean)  # the scorer put the supernet's statistics back
    net.path = path
    recalibrate_batchnorm(net, calibration)
    assert not torch.allclose(bn.running_mean, stale_mean)
    net.path = None


def test_evolution_scores_at_most_the_cap_inside_the_window_and_never_twice():
    window = [p for p in itertools.product(range(2), repeat=6) if sum(p) % 2 == 0]  # 32 of 64
    calls = []

    def score(path):
        calls.append(path)
        return float(sum(path) + path[0])

    space = types.SimpleNamespace(radix=[2] * 6, canonical=tuple)  # a budget's digits: 2 candidates, 6 columns
    scores = evolve(score, window, space, cap=12, population=4, mutation=0.2, rng=random.Random(0))
    assert len(scores) == 12 == len(calls) == len(set(calls))
    assert set(scores) <= set(window)


def test_one_shot_options_are_checked(demo_data, tmp_path):
    with pytest.raises(OptionError, match='one_shot: cap'):
        one_shot_model(demo_data, tmp_path, total_iter=4, one_shot={'cap': 0})
    with pytest.raises(OptionError, match='one_shot: score_batch'):
        one_shot_model(demo_data, tmp_path, total_iter=4, one_shot={'score_batch': 2})
    with pytest.raises(OptionError, match='arch_sampling: a key of model_type CLEARERSearchModel'):
        one_shot_model(demo_data, tmp_path, total_iter=4, arch_sampling='gumbel')
    with pytest.raises(OptionError, match="arch_search = 'darts': that search is model_type: CLEARERSearchModel"):
        one_shot_model(demo_data, tmp_path, total_iter=4, arch_search='darts')
    with pytest.raises(OptionError, match='population = 8: expected at most cap = 4'):
        one_shot_model(demo_data, tmp_path, total_iter=4, one_shot={'cap': 4, 'population': 8})
    # a cap given alone is not compared with a population the file never gave
    assert one_shot_model(demo_data, tmp_path, total_iter=4, one_shot={'cap': 1}).one_shot['cap'] == 1


def test_a_search_to_a_latency_budget_times_its_space_beside_the_run(demo_data, tmp_path, quick_timing):
    from clearer_basicsr.archs import latency

    budget = {'metric': 'latency', 'target': 0.9, 'latency_size': 32, 'tolerance': 0.3}
    model = one_shot_model(demo_data, tmp_path, total_iter=2, budget=budget)
    for i, batch in enumerate(train_batches(model, 2), 1):
        model.feed_data(batch)
        model.optimize_parameters(i)
    model.save(-1, -1)
    folder = model.opt['path']['experiments_root']
    assert os.path.isfile(os.path.join(folder, latency.TABLE))
    result = SearchResult.in_folder(folder)
    assert result.budget['metric'] == 'latency' and result.selection['window']['metric'] == 'latency'
    lo, hi = model.budget.window
    assert lo <= result.budget['reached_ms_per_mp'] * 32**2 / 1e6 <= hi * 1.001  # rounded to 0.01 ms/MP


def test_a_state_of_the_earlier_one_shot_mode_resumes(demo_data, tmp_path):
    """Saved by CLEARERSearchModel with arch_search: one_shot, a state also holds the logit
    optimiser and its schedule (appended after the weights'), which the one-shot model has not."""
    model = one_shot_model(demo_data, tmp_path, total_iter=4)
    for i, batch in enumerate(train_batches(model, 2), 1):
        model.feed_data(batch)
        model.optimize_parameters(i)
    state = model.training_state(0, 2)
    logits = torch.optim.Adam([torch.nn.Parameter(torch.zeros(4, 2))])
    state.update(arch_loader={}, column_weight_history=[])
    state['optimizers'].append(logits.state_dict())
    state['schedulers'].append(state['schedulers'][0])
    resumed = one_shot_model(demo_data, tmp_path / 'resumed', total_iter=4)
    resumed.resume_training(state)
    assert resumed.current_iter == 2 and len(resumed.optimizers) == 1
    assert resumed.optimizer_g.state_dict()['state'].keys() == model.optimizer_g.state_dict()['state'].keys()
