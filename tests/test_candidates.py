"""The candidate table: an open search space of K >= 2 named candidates per column, built-ins
(skip, naf, fusion_gate) and a candidate registered from a module of one's own."""

import cv2
import numpy as np
import pytest
import torch
from conftest import one_shot_options, run_train_inprocess, search_options, write_yaml

import clearer_basicsr  # noqa: F401  (registers the archs and candidates)
from clearer_basicsr.archs.arch_util import count_parameters
from clearer_basicsr.archs.candidates import check_candidates, register_candidate, registered
from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet
from clearer_basicsr.archs.complexity import (
    BUDGET_TOLERANCE,
    candidate_costs,
    cost_matrix,
    derive_within_budget,
    derived_cost,
)
from clearer_basicsr.archs.genotype import Genotype
from clearer_basicsr.archs.open_candidates import GatedFusion, NAFBlock, Skip
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.options_check import check_options
from clearer_basicsr.search_result import SearchResult
from clearer_basicsr.tools.export import main as export
from clearer_basicsr.tools.infer import main as infer

OPEN = ['parallel', 'fusion', 'skip', 'naf', 'fusion_gate']
TINY = dict(branch_channels=(4, 8, 16), columns_per_cell=2, stem_blocks=1, stem_width=2, residual=True)


def test_builtins_are_registered_with_their_codes():
    assert registered()[:5] == tuple(OPEN)
    assert str(Genotype.parse('parallel F s N g | G n S f p', (4, 8, 16))) == 'P F S N G | G N S F P'


def test_the_default_space_is_the_papers_supernet_and_derived_net():
    torch.manual_seed(0)
    default = CLEARERSearchNet(**TINY)
    torch.manual_seed(0)
    named = CLEARERSearchNet(**TINY, candidates=['parallel', 'fusion'])
    assert default.candidates == named.candidates == ('parallel', 'fusion')
    state, other = default.state_dict(), named.state_dict()
    assert list(state) == list(other) and all(torch.equal(state[k], other[k]) for k in state)
    genotype = 'P F | F P'
    assert count_parameters(CLEARERNet(genotype, **TINY)) == count_parameters(
        CLEARERNet(genotype, **TINY, candidates=['P', 'F'])
    )
    assert count_parameters(CLEARERSearchNet(candidates=['parallel', 'fusion'])) == 12_558_144


def test_a_supernet_of_five_candidates_mixes_them_all():
    net = CLEARERSearchNet(**TINY, candidates=OPEN)
    assert net.arch_logits.shape == (4, 5) and net.column_weights().shape == (4, 5)
    assert set(net.cells[0][0]) == set(OPEN)
    x = torch.rand(2, 1, 16, 16)
    net(x).square().mean().backward()
    assert net.arch_logits.grad.abs().sum() > 0
    net.arch_logits.data[:, 3] = 5.0  # naf wins everywhere
    assert str(net.genotype()) == 'N N | N N'
    derived = CLEARERNet(net.genotype(), **TINY, candidates=OPEN)
    assert set(derived.state_dict()) <= set(net.state_dict())


def test_gumbel_single_path_computes_one_of_five():
    net = CLEARERSearchNet(**TINY, candidates=OPEN).train()
    net.gumbel_tau, net.gumbel_generator = 1.0, torch.Generator().manual_seed(0)
    rows = net.mixing_weights()
    assert len(rows) == 4 and all(len(row) == 5 and sum(w is not None for w in row) == 1 for row in rows)
    net(torch.rand(1, 1, 16, 16)).mean().backward()
    assert net.arch_logits.grad is not None


def test_skip_costs_nothing_and_passes_the_input_through():
    branches = [torch.rand(1, 4, 8, 8), torch.rand(1, 8, 4, 4)]
    out = Skip((4, 8))(branches)
    assert all(a is b for a, b in zip(out, branches))
    costs = candidate_costs(CLEARERSearchNet(**TINY, candidates=OPEN), 16)
    assert all(column['skip'] == {'macs': 0, 'params': 0} for column in costs.columns)
    assert all(column[name]['macs'] > 0 for column in costs.columns for name in ('parallel', 'naf', 'fusion_gate'))


def test_a_cell_of_all_skip_is_its_transition_alone():
    """Documented: allowed; the cell keeps its transition (which adds the next branch)."""
    net = CLEARERNet('S S | P F', **TINY)
    assert net.candidates == ('parallel', 'fusion', 'skip')
    assert count_parameters(net.cells[0]) == 0
    x = torch.rand(1, 1, 16, 16)
    assert CLEARERNet('S S | S S', **TINY)(x).shape == x.shape
    costs = candidate_costs(net, 16)
    assert derived_cost(costs, 'S S | S S') == costs.fixed_total


def test_naf_starts_as_the_identity_and_learns():
    block = NAFBlock(8)
    x = torch.rand(2, 8, 6, 6)
    assert torch.equal(block(x), x)  # beta = gamma = 0
    block(x).square().mean().backward()
    assert block.beta.grad.abs().sum() > 0  # with its own conv init (not the network's N(0, 1e-3))
    net = CLEARERSearchNet(**TINY, candidates=['parallel', 'naf'])
    assert net.cells[0][0]['naf'].blocks[0].expand.weight.std() > 0.01


def test_fusion_gate_starts_as_fusion():
    torch.manual_seed(0)
    gated = GatedFusion((4, 8))
    for conv in (*gated.squeeze, *gated.scores):  # uniform attention
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    plain = clearer_basicsr.archs.clearer_arch.Fusion((4, 8))
    plain.load_state_dict(gated.state_dict(), strict=False)
    branches = [torch.rand(1, 4, 8, 8), torch.rand(1, 8, 4, 4)]
    for a, b in zip(gated.eval()(branches), plain.eval()(branches)):
        torch.testing.assert_close(a, b)


def test_compact_strings_and_genotype_files_round_trip_for_five(tmp_path):
    genotype = Genotype.parse('P F S N | G S N F | F G P S', (8, 16, 32, 64))
    assert Genotype.parse(str(genotype), (8, 16, 32, 64)) == genotype
    assert Genotype.from_indices(genotype.indices_in(OPEN), (8, 16, 32, 64), 4, OPEN) == genotype
    weights = [dict(zip(OPEN, (0.1, 0.2, 0.3, 0.15, 0.25))) for _ in range(12)]
    SearchResult(genotype, column_weights=weights).save(tmp_path / 'genotype.yml')
    loaded = SearchResult.load(tmp_path / 'genotype.yml')
    assert loaded.genotype == genotype and loaded.column_weights == weights
    assert (tmp_path / 'genotype.yml').read_text().startswith('# CLEARER genotype: P F S N | G S N F | F G P S')


def test_a_derived_net_refuses_a_candidate_outside_its_space():
    with pytest.raises(UserInputError, match=r"'skip' is not among the network's candidates \['parallel', 'fusion'\]"):
        CLEARERNet('S P | P F', **TINY, candidates=['parallel', 'fusion'])


@pytest.mark.parametrize('target', [0.3, 0.5, 0.8])
def test_budget_derivation_with_five_candidates_lands_in_the_window(target):
    net = CLEARERSearchNet(**TINY, candidates=OPEN)
    costs = candidate_costs(net, 16)
    fixed, largest = costs.fixed_total['macs'], costs.largest_total['macs']
    weights = torch.softmax(torch.randn(4, 5, generator=torch.Generator().manual_seed(1)), dim=-1)
    choice = derive_within_budget(weights, cost_matrix(net, 16), fixed, target * largest)
    reached = derived_cost(costs, Genotype.from_indices(choice, net.branch_channels, 2, OPEN))['macs'] / largest
    assert abs(reached / target - 1) <= BUDGET_TOLERANCE


def test_the_space_is_checked_naming_the_registered_candidates():
    with pytest.raises(UserInputError, match=r"network_g: candidates: 'fusoin' is not a registered candidate; did you"):
        check_candidates('network_g: candidates', ['parallel', 'fusoin'])
    with pytest.raises(UserInputError, match=r'registered: parallel \(P\), fusion \(F\), skip \(S\), naf \(N\)'):
        check_candidates('network_g: candidates', ['parallel', 'conv7'])
    with pytest.raises(UserInputError, match='at least 2'):
        check_candidates('network_g: candidates', ['parallel'])
    with pytest.raises(UserInputError, match="'skip' is named twice"):
        check_candidates('network_g: candidates', ['skip', 'S'])
    with pytest.raises(UserInputError, match=r"candidate_modules: 'no_such_module' cannot be imported"):
        CLEARERSearchNet(**TINY, candidate_modules=['no_such_module'])


def test_registration_refuses_clashes():
    with pytest.raises(ValueError, match='already registered'):
        register_candidate('skip', code='Q')(type('Other', (), {}))
    with pytest.raises(ValueError, match='clashes with'):
        register_candidate('other_skip', code='s')(type('OtherSkip', (), {}))
    with pytest.raises(ValueError, match='code'):
        register_candidate('long_code', code='ABCD')


def test_a_candidate_of_ones_own_searches_and_appears_in_genotype_yml(demo_data, tmp_path):
    """tests/custom_candidate.py registers 'double_conv' (D); the options name its module."""
    opt = search_options(demo_data, 'own_candidate', total_iter=4)
    opt['network_g'].update(candidates=['double_conv', 'skip'], candidate_modules=['custom_candidate'])
    opt['train']['arch_loss'] = {'type': 'CLEARERArchLoss', 'lambda_arch': 0.01}
    model = run_train_inprocess(write_yaml(tmp_path / 'search.yml', opt), tmp_path)
    assert model.supernet.candidates == ('double_conv', 'skip')
    result = SearchResult.in_folder(str(tmp_path / 'experiments' / 'own_candidate'))
    assert list(result.column_weights[0]) == ['double_conv', 'skip']
    assert 'double_conv' in result.genotype.choices and set(result.genotype.choices) <= {'double_conv', 'skip'}
    del model
    derived = CLEARERNet('D S', branch_channels=[4, 8], stem_blocks=1, stem_width=2, candidates=['double_conv', 'S'])
    assert str(derived.genotype()) == 'D S' and count_parameters(derived.cells[0][0]) > 0


def test_a_budget_search_over_five_candidates(demo_data, tmp_path):
    opt = search_options(demo_data, 'open_budget', total_iter=4)
    opt['network_g']['candidates'] = OPEN
    opt['train']['budget'] = {'metric': 'macs', 'target': 0.4}
    del run_train_inprocess(write_yaml(tmp_path / 'search.yml', opt), tmp_path).net_g
    budget = SearchResult.in_folder(str(tmp_path / 'experiments' / 'open_budget')).budget
    assert abs(budget['reached_fraction'] / 0.4 - 1) <= BUDGET_TOLERANCE


def test_a_one_shot_search_over_five_candidates(demo_data, tmp_path):
    opt = one_shot_options(demo_data, 'open_oneshot', total_iter=3)
    opt['network_g']['candidates'] = OPEN
    opt['train']['one_shot'] = {'calibration_batches': 1, 'score_batches': 1, 'batch_size': 2, 'cap': 6}
    del run_train_inprocess(write_yaml(tmp_path / 'search.yml', opt), tmp_path).net_g
    result = SearchResult.in_folder(str(tmp_path / 'experiments' / 'open_oneshot'))
    assert result.selection['in_window'] == 25 and result.selection['scored'] == 6
    assert set(result.genotype.choices) <= set(OPEN)


def test_an_open_genotype_exports_and_infers(tmp_path):
    net_opt = {'type': 'CLEARERNet', 'genotype': 'N G | S P', **TINY, 'candidates': OPEN, 'init_std': 0.1}
    net_opt['branch_channels'] = list(TINY['branch_channels'])
    torch.manual_seed(0)
    net = CLEARERNet(**{k: v for k, v in net_opt.items() if k != 'type'}).eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    opt = {
        'name': 'open_export',
        'model_type': 'CLEARERRestorationModel',
        'num_gpu': 0,
        'datasets': {},
        'network_g': net_opt,
        'path': {'pretrain_network_g': str(tmp_path / 'net_g.pth'), 'strict_load_g': True},
        'val': {'pbar': True},
    }
    option = write_yaml(tmp_path / 'test.yml', opt)
    script = str(tmp_path / 'net.pt')
    assert max(export(['-opt', option, '--torchscript', script, '--onnx', str(tmp_path / 'net.onnx')]).values()) < 1e-5
    x = torch.rand(1, 1, 21, 18)
    with torch.no_grad():
        assert (torch.jit.load(script)(x) - net(x)).abs().max() < 1e-5
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'a.png'), (np.random.default_rng(0).random((21, 18)) * 255).astype(np.uint8))
    infer(['-opt', option, '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'out')])
    assert (tmp_path / 'out' / 'a.png').is_file()


def test_the_option_check_names_an_unknown_candidate(demo_data):
    opt = search_options(demo_data, 'unknown_candidate')
    opt['network_g']['candidates'] = ['parallel', 'fusoin']
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False, num_gpu=0)
    for phase, dataset in opt['datasets'].items():
        dataset['phase'] = phase
    with pytest.raises(UserInputError, match=r"network_g: candidates: 'fusoin' is not a registered candidate; did you"):
        check_options(opt)


def test_genotype_png_draws_and_names_every_candidate(tmp_path):
    from clearer_basicsr.plots import draw_genotype

    draw_genotype(Genotype.parse('P S N G | G S F P', (4, 8, 16), 4), str(tmp_path / 'open.png'))
    draw_genotype(Genotype.parse('P F F P | F F P P', (4, 8, 16), 4), str(tmp_path / 'paper.png'))
    open_png, paper_png = (cv2.imread(str(tmp_path / f), cv2.IMREAD_GRAYSCALE) for f in ('open.png', 'paper.png'))
    assert open_png.std() > 10 and open_png.shape == paper_png.shape and not np.array_equal(open_png, paper_png)


def test_meeting_in_the_middle_finds_what_enumeration_finds():
    from clearer_basicsr.archs.complexity import best_of_halves

    generator = torch.Generator().manual_seed(0)
    for trial in range(20):
        columns, k = 3 + trial % 5, 2 + trial % 4
        costs = torch.rand(columns, k, generator=generator) * 10
        costs[:, 0] = 0  # a free candidate, as skip
        weights = torch.softmax(torch.randn(columns, k, generator=generator) * 2, dim=-1)
        for target in (5.0, 12.0, 20.0, 1000.0):
            expected = derive_within_budget(weights, costs, 3.0, target)
            log_w = weights.double().log()
            found = best_of_halves(log_w, costs, 3.0, target * 0.9, target * 1.1)
            if expected is None:
                assert found is None
            else:
                rows = torch.arange(columns)
                assert torch.isclose(log_w[rows, expected].sum(), log_w[rows, found].sum())
                total = 3.0 + float(costs.double()[rows, found].sum())
                assert target * 0.9 <= total <= target * 1.1


def test_a_budget_derivation_over_the_papers_twelve_columns_with_five_candidates():
    net = CLEARERSearchNet(candidates=OPEN, stem_width=2, branch_channels=(4, 8, 16, 32))
    assert 5**net.num_columns > 2**24  # too many to enumerate
    costs = candidate_costs(net, 16)
    weights = torch.softmax(torch.randn(12, 5, generator=torch.Generator().manual_seed(0)), dim=-1)
    largest = costs.largest_total['macs']
    choice = derive_within_budget(weights, cost_matrix(net, 16), costs.fixed_total['macs'], 0.5 * largest)
    reached = derived_cost(costs, Genotype.from_indices(choice, net.branch_channels, 4, OPEN))['macs'] / largest
    assert abs(reached / 0.5 - 1) <= BUDGET_TOLERANCE


def test_a_one_shot_search_of_a_space_too_big_to_enumerate_is_refused(demo_data):
    opt = one_shot_options(demo_data, 'too_big')
    opt['network_g'].update(candidates=OPEN, branch_channels=[4, 8, 16, 32], columns_per_cell=4)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False, num_gpu=0)
    for phase, dataset in opt['datasets'].items():
        dataset['phase'] = phase
    with pytest.raises(UserInputError, match=r'network_g: 5 candidates over 12 columns make 5\^12 genotypes'):
        check_options(opt)
