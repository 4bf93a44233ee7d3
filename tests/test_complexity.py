"""Complexity table: measured candidate costs, derived totals, cost matrix, CLI."""

import runpy
import sys

import pytest
import torch
import yaml
from mmengine.analysis import FlopAnalyzer

import clearer_basicsr  # noqa: F401
from clearer_basicsr.archs import complexity
from clearer_basicsr.archs.arch_util import count_parameters
from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet
from clearer_basicsr.archs.genotype import CANDIDATES, Genotype
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.search_result import SearchResult
from clearer_basicsr.tools.complexity import main as complexity_main

TINY = dict(branch_channels=(4, 8, 16), columns_per_cell=2, stem_width=4)
PATCH = 16


def measured_macs(net, size):
    analyzer = FlopAnalyzer(net.eval(), (torch.zeros(1, net.in_channels, size, size),))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total()


@pytest.fixture(scope='module')
def tiny_costs():
    return complexity.candidate_costs(CLEARERSearchNet(**TINY), PATCH)


@pytest.fixture(scope='module')
def paper_costs():
    return complexity.candidate_costs(CLEARERSearchNet(), PATCH)


def test_every_candidate_cost_is_positive(tiny_costs, paper_costs):
    for costs in (tiny_costs, paper_costs):
        assert len(costs.columns) == (len(costs.branch_channels) - 1) * costs.columns_per_cell
        for column in costs.columns:
            assert set(column) == set(CANDIDATES)
            assert all(cost['macs'] > 0 and cost['params'] > 0 for cost in column.values())
        transitions = {f'transition {t}' for t in range(1, len(costs.branch_channels))}
        assert set(costs.fixed) == {'stem', 'head'} | transitions


def test_parallel_costs_more_than_fusion_at_paper_preset(paper_costs):
    for column in paper_costs.columns:
        assert column['parallel']['macs'] > column['fusion']['macs']
        assert column['parallel']['params'] > column['fusion']['params']
    assert paper_costs.supernet_total['params'] == 12_558_144


def test_supernet_total_matches_whole_network(tiny_costs):
    net = CLEARERSearchNet(**TINY)
    assert tiny_costs.supernet_total == {'macs': measured_macs(net, PATCH), 'params': count_parameters(net)}


@pytest.mark.parametrize('text', ['P F | F P', 'F F | P F'])
def test_derived_total_is_fixed_plus_chosen_and_matches_the_derived_net(tiny_costs, text):
    genotype = Genotype.parse(text, TINY['branch_channels'])
    total = complexity.derived_cost(tiny_costs, genotype)
    chosen = [column[name] for column, name in zip(tiny_costs.columns, genotype.choices)]
    for key in ('macs', 'params'):
        assert total[key] == tiny_costs.fixed_total[key] + sum(cost[key] for cost in chosen)
    net = CLEARERNet(genotype, stem_width=4)
    assert total == {'macs': measured_macs(net, PATCH), 'params': count_parameters(net)}


def test_derived_cost_rejects_another_preset(tiny_costs):
    with pytest.raises(ValueError, match='branch_channels'):
        complexity.derived_cost(tiny_costs, Genotype.parse('P F F P | F F P P | P P P P'))


def test_cost_matrix(tiny_costs):
    net = CLEARERSearchNet(**TINY)
    for metric, key in (('flops', 'macs'), ('params', 'params')):
        matrix = complexity.cost_matrix(net, PATCH, metric)
        assert matrix.dtype == torch.float32 and matrix.device.type == 'cpu' and matrix.shape == (4, 2)
        for row, column in zip(matrix, tiny_costs.columns):
            assert row.tolist() == [float(column[name][key]) for name in CANDIDATES]
    with pytest.raises(ValueError, match='latency'):
        complexity.cost_matrix(net, PATCH, 'latency')


def test_costs_are_cached_per_preset_and_patch(tiny_costs):
    # measuring traces a forward: the same preset and patch size is measured once
    assert complexity.candidate_costs(CLEARERNet('F F | P P', **TINY), PATCH) is tiny_costs


@pytest.mark.filterwarnings('ignore::RuntimeWarning')  # runpy: module already imported by the package
def test_cli_as_main_prints_the_table(tmp_path, tiny_costs, monkeypatch, capsys):
    genotype = Genotype.parse('F P | P F', TINY['branch_channels'])
    SearchResult(genotype).save(tmp_path / 'genotype.yml')
    opt = tmp_path / 'search.yml'
    network = {'type': 'CLEARERSearchNet', 'branch_channels': [4, 8, 16], 'columns_per_cell': 2, 'stem_width': 4}
    opt.write_text(yaml.safe_dump({'network_g': network, 'datasets': {'train': {'gt_size': PATCH}}}))
    # what `python -m clearer_basicsr.complexity` does: the module must not register anything twice
    monkeypatch.setattr(sys, 'argv', ['complexity', '-opt', str(opt), '--genotype', str(tmp_path / 'genotype.yml')])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module('clearer_basicsr.complexity', run_name='__main__')
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f'{PATCH}x{PATCH}' in out and 'MACs' in out and 'cell 2 col 2' in out
    assert f'{tiny_costs.supernet_total["macs"]:,}' in out
    assert 'derived total [F P | P F]' in out
    assert f'{complexity.derived_cost(tiny_costs, genotype)["macs"]:,}' in out


def test_cli_derived_net_and_patch_size_option(tmp_path, capsys, tiny_costs):
    opt = tmp_path / 'retrain.yml'
    network = {'type': 'CLEARERNet', 'genotype': 'P P | F F', 'branch_channels': [4, 8, 16], 'stem_width': 4}
    opt.write_text(yaml.safe_dump({'network_g': network}))
    assert complexity_main(['-opt', str(opt), '--patch_size', '8']) == capsys.readouterr().out.rstrip('\n')
    out = complexity_main(['-opt', str(opt), '--patch-size', '8'])  # the dash form stays an alias
    costs = complexity.candidate_costs(CLEARERNet('P P | F F', **TINY), 8)
    assert '8x8' in out and 'derived total [P P | F F]' in out
    assert f'{complexity.derived_cost(costs, "P P | F F")["params"]:,}' in out
    # MACs scale with the patch area, parameters do not depend on it
    assert 4 * costs.supernet_total['macs'] == tiny_costs.supernet_total['macs']
    assert costs.supernet_total['params'] == tiny_costs.supernet_total['params']
    with pytest.raises(UserInputError, match='gt_size; pass --patch_size'):
        complexity_main(['-opt', str(opt)])
