"""The evaluation command on a tiny preset: its stages, the random genotypes it draws, its report."""

import copy
import os
import re

import pytest
import yaml
from basicsr.archs import build_network
from basicsr.archs.ridnet_arch import RIDNet
from basicsr.archs.swinir_arch import SwinIR
from conftest import write_yaml
from helpers import evaluation_file, templates

from clearer_basicsr.models.search_options import DARTS_KEYS
from clearer_basicsr.tools import evaluation_report
from clearer_basicsr.tools.evaluate import Space, Stages, code, main, read_plan
from clearer_basicsr.tools.evaluation_report import recipe_changes


def baselines(root, retrain, test):
    """BasicSR's SwinIR and RIDNet (tiny), RIDNet also with a start at the identity."""
    nets = {
        'SwinIR': {'type': 'SwinIR', 'upscale': 1, 'upsampler': '', 'img_range': 1.0, 'in_chans': 1,
                   'img_size': 16, 'window_size': 4, 'embed_dim': 8, 'depths': [1], 'num_heads': [1],
                   'mlp_ratio': 2, 'resi_connection': '1conv'},
        'RIDNet': {'type': 'CLEARERRIDNet', 'in_channels': 1, 'out_channels': 1, 'mid_channels': 16, 'num_block': 1},
    }  # fmt: skip
    items = []
    for name, net in nets.items():
        train_file = write_yaml(root / f'train_{name}.yml', {**copy.deepcopy(retrain), 'network_g': net})
        test_file = write_yaml(root / f'test_{name}.yml', {**copy.deepcopy(test), 'network_g': net})
        items.append({'name': name, 'train': train_file, 'test': test_file})
    identity = copy.deepcopy(retrain)
    identity.update(network_g=nets['RIDNet'])
    identity['train']['identity_start'] = 'tail'
    items.append({'name': 'RIDNet', 'recipe': 'identity start', 'test': items[-1]['test'],
                  'train': write_yaml(root / 'train_RIDNet_identity.yml', identity)})  # fmt: skip
    return items


@pytest.fixture(scope='module')
def evaluation(demo_data, tmp_path_factory):
    root = tmp_path_factory.mktemp('evaluate')
    files, retrain, test = templates(demo_data, root)
    earlier = root / 'earlier.csv'  # an earlier evaluation: every genotype of the space, some PSNR
    space = Space.of(yaml.safe_load((root / 'search.yml').read_text()))
    rows = [f'{g},random,0,{20 + i % 5}' for i, g in enumerate(space.everything())]
    earlier.write_text('\n'.join(['network,kind,seed,psnr', *rows]) + '\n')
    shorter = root / 'shorter.csv'  # a second one (rank_against takes a list)
    shorter.write_text('\n'.join(['network,kind,seed,psnr', *rows[::-1]]) + '\n')
    one_shot = yaml.safe_load((root / 'search.yml').read_text())
    one_shot['model_type'] = 'CLEAREROneShotModel'
    one_shot['train'] = {k: v for k, v in one_shot['train'].items() if k not in DARTS_KEYS}
    one_shot['train']['one_shot'] = {'calibration_batches': 1, 'score_batches': 1, 'batch_size': 2}
    files['one_shot_search'] = write_yaml(root / 'search_oneshot.yml', one_shot)
    earlier_ones = [str(earlier), str(shorter)]
    plan = evaluation_file(root, files, baselines=baselines(root, retrain, test), rank_against=earlier_ones)
    old = os.getcwd()
    os.chdir(root)
    try:
        results = main(['-opt', plan, '--out', str(root / 'docs' / 'evaluation_tiny'), '--keep', str(root / 'kept')])
    finally:
        os.chdir(old)
    return root, results


def test_evaluation_writes_its_table_and_plots(evaluation):
    root, results = evaluation
    for suffix in ('.md', '.csv', '_psnr_macs.png', '_loss.png', '_val.png'):
        assert (root / 'results' / 'tinyeval' / f'evaluation{suffix}').stat().st_size > 0
        assert (root / 'docs' / f'evaluation_tiny{suffix}').is_file()  # --out writes them again there
    report = (root / 'docs' / 'evaluation_tiny.md').read_text()
    plots = re.findall(r'!\[[^]]*\]\(([^)]+)\)', report)
    assert sorted(plots) == sorted(f'evaluation_tiny{s}' for s in ('_psnr_macs.png', '_loss.png', '_val.png'))
    searched = str(results['budgets'][0]['searches'][0]['genotype'])
    assert '| searched | `' + searched.replace('|', '\\|') + '`' in report
    assert 'standard errors' in report and 'Rank of each searched genotype among the random ones' in report
    for _, name in results['budgets'][0]['members']:  # every network in the table was retrained and tested
        assert results['networks'][name]['runs'][0]['psnr'] > 10


def test_the_printed_summary_names_a_bm3d_gap_only_where_bm3d_was_scored(evaluation):
    _, results = evaluation
    assert not results.get('bm3d') and 'BM3D' not in evaluation_report.summary(results)  # the plan has bm3d: False
    scored = {**results, 'bm3d': {'psnr': 20.0}}
    search_mean = evaluation_report.budget_verdict(results, results['budgets'][0])['search_mean']
    assert f'BM3D gap {search_mean - 20.0:+.2f} dB' in evaluation_report.summary(scored)


def test_random_genotypes_lie_in_the_cost_window_and_never_repeat_the_searched_one(evaluation):
    root, results = evaluation
    with open(root / 'search.yml') as f:
        space = Space.of(yaml.safe_load(f))
    budget = results['budgets'][0]
    searched = {str(s['genotype']) for s in budget['searches']}
    randoms = [name for kind, name in budget['members'] if kind == 'random']
    available = [g for g in space.within(0.6) if str(g) not in searched]
    assert len(randoms) == len(set(randoms)) == min(3, len(available))
    assert not searched & set(randoms)
    by_name = {str(g): g for g in space.everything()}
    scale = (256 / space.budget.patch_size) ** 2  # the table's MACs are measured on a 256x256 input
    for name in randoms:
        assert abs(space.fraction(by_name[name]) / 0.6 - 1) <= 0.1
        # ... and the retrained network is that genotype in the search's preset
        assert results['networks'][name]['macs'] == pytest.approx(space.budget.cost(by_name[name]) * scale)
    # The hand-designed patterns in the table are exactly those that fit the window.
    for kind, name in budget['members']:
        if kind == 'hand-designed':
            assert abs(space.fraction(by_name[name]) / 0.6 - 1) <= 0.1


def test_one_shot_searches_get_rows_and_verdict_lines_beside_the_darts_ones(evaluation):
    root, results = evaluation
    budget = results['budgets'][0]
    (one_shot,) = budget['one_shot_searches']
    found = str(one_shot['genotype'])
    assert one_shot['method'] == 'one_shot' and ('one-shot', found) in budget['members']
    assert results['networks'][found]['runs'][0]['psnr'] > 10  # retrained and tested as the others
    report = (root / 'docs' / 'evaluation_tiny.md').read_text()
    assert '| one-shot | `' + found.replace('|', '\\|') + '`' in report
    assert 'One-shot search minus random mean' in report and 'Rank of each one-shot genotype' in report
    csv = (root / 'docs' / 'evaluation_tiny.csv').read_text().splitlines()
    assert any(line.startswith(f'{found},one-shot,0.6,') for line in csv)


def test_a_second_run_skips_finished_stages_and_bad_plans_are_refused(evaluation, capsys):
    root, _ = evaluation
    old = os.getcwd()
    os.chdir(root)
    try:
        main(['-opt', str(root / 'evaluate.yml'), '--plan'])
        assert 'todo' not in capsys.readouterr().out
        bad = write_yaml(root / 'bad.yml', {**yaml.safe_load((root / 'evaluate.yml').read_text()), 'budgets': [1.5]})
        with pytest.raises(ValueError, match=r'bad.yml: budgets = \[1.5\]: expected a list of fractions'):
            main(['-opt', bad])
    finally:
        os.chdir(old)


def test_a_second_evaluation_of_a_running_plan_is_refused(evaluation, monkeypatch):
    """One evaluation of a plan at a time: a second one refuses before it runs or writes a stage."""
    from clearer_basicsr.errors import UserInputError
    from clearer_basicsr.files import folder_lock

    root, _ = evaluation
    monkeypatch.chdir(root)
    with folder_lock(root / 'experiments' / 'tinyeval', 'the first evaluation'):
        with pytest.raises(UserInputError, match=rf'tinyeval: another run is using it \(process {os.getpid()}\)'):
            main(['-opt', str(root / 'evaluate.yml')])
    main(['-opt', str(root / 'evaluate.yml'), '--plan'])  # reading the plan needs no lock


def test_a_fresh_clone_with_the_kept_records_continues_without_running_a_stage(evaluation, tmp_path, capsys):
    """--keep holds each finished stage's records and no weights; a directory with nothing else
    (no experiments/, no results/) given the same folder has every stage done and reports the
    same scores."""
    root, results = evaluation
    kept = root / 'kept'
    files = [p.relative_to(kept) for p in kept.rglob('*') if p.is_file()]
    assert files and all(p.suffix in ('.json', '.jsonl', '.yml', '.csv') for p in files)
    name = f'tinyeval_{code(results["budgets"][0]["searches"][0]["genotype"])}_s0'  # a searched net's retrain
    assert {'val_log.jsonl', 'train_log.jsonl'} <= {p.name for p in files if p.parent.name == name}
    capsys.readouterr()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        main(['-opt', str(root / 'evaluate.yml'), '--keep', str(kept), '--plan'])
        planned = capsys.readouterr().out
        again = main(['-opt', str(root / 'evaluate.yml'), '--keep', str(kept)])
    finally:
        os.chdir(old)
    assert 'todo' not in planned and f'{len(files)} records restored' in planned
    assert '  done ' not in capsys.readouterr().out  # no stage ran
    assert not (tmp_path / 'experiments' / name / 'models').exists()
    for net, entry in results['networks'].items():
        for seed, run in entry['runs'].items():  # (the tiny test set's SSIM is nan, which equals nothing)
            assert {k: again['networks'][net]['runs'][seed][k] for k in ('psnr', 'gain_last20_db')} == {
                k: run[k] for k in ('psnr', 'gain_last20_db')
            }


def test_every_retrain_keeps_its_validation_curve_and_its_gain(evaluation):
    root, results = evaluation
    rows = (root / 'docs' / 'evaluation_tiny.csv').read_text().splitlines()
    header = rows[0].split(',')
    for line in rows[1:]:
        row = dict(zip(header, line.split(',')))
        assert row['iterations'] == '5' and row['gain_last20_db'] != ''
    for net in results['networks'].values():
        for seed, run in net['runs'].items():
            its = [it for it, _ in net['val_curves'][seed]]
            assert its == [2, 4, 5]
            assert run['gain_last20_db'] == pytest.approx(net['val_curves'][seed][2][1] - net['val_curves'][seed][1][1])


def test_baselines_are_basicsr_classes_one_row_per_recipe(evaluation):
    root, results = evaluation
    baselines = {n: v['recipe'] for n, v in results['networks'].items() if v.get('kind') == 'baseline'}
    assert baselines == {'SwinIR': 'shared', 'RIDNet': 'shared', 'RIDNet (identity start)': 'identity start'}
    options = root / 'results' / 'tinyeval' / 'options'
    for stage, cls in (('SwinIR_s0', SwinIR), ('RIDNet_s0', RIDNet), ('RIDNet-identity-start_s0', RIDNet)):
        opt = yaml.safe_load((options / f'tinyeval_{stage}.yml').read_text())
        assert isinstance(build_network(opt['network_g']), cls)
    assert yaml.safe_load((options / 'tinyeval_RIDNet-identity-start_s0.yml').read_text())['train']['identity_start']
    report = (root / 'docs' / 'evaluation_tiny.md').read_text()
    assert '| baseline | RIDNet (shared) |' in report and '| baseline | RIDNet (identity start) |' in report
    assert report.count('Kendall tau-b') == 2  # against each earlier evaluation's CSV
    assert '`earlier.csv`: Kendall tau-b' in report and '`shorter.csv`: Kendall tau-b' in report


def crafted(psnr, macs, kind='random', **extra):
    return {'kind': kind, 'macs': macs, 'runs': {0: {'psnr': psnr}}, **extra}


def test_each_budget_compares_the_better_recipe_of_the_baselines_within_25_percent():
    results = {
        'networks': {
            'A': crafted(30.0, 1.0e9, 'baseline', baseline='A', recipe='shared'),
            'A (identity start)': crafted(31.0, 1.0e9, 'baseline', baseline='A', recipe='identity start'),
            'B': crafted(30.5, 1.24e9, 'baseline', baseline='B', recipe='shared'),
            'C': crafted(35.0, 1.3e9, 'baseline', baseline='C', recipe='shared'),  # +30 %: out of reach
            'P P': crafted(40.0, 1.0e9),
        }
    }
    near = evaluation_report.baselines_near(results, {'centre_macs': 1.0e9})
    assert [(n, round(r, 2), p) for n, r, p in near] == [('A (identity start)', 0.0, 31.0), ('B', 0.24, 30.5)]


def test_the_ranking_is_compared_with_an_earlier_evaluation(tmp_path):
    earlier = tmp_path / 'earlier.csv'
    lines = ['network,kind,seed,psnr'] + [f'G{i},random,{s},{30 + i + s / 10}' for i in range(4) for s in (0, 1)]
    earlier.write_text('\n'.join(lines) + '\n')
    means = evaluation_report.read_earlier(str(earlier))
    assert means == pytest.approx({'G0': 30.05, 'G1': 31.05, 'G2': 32.05, 'G3': 33.05})
    nets = {f'G{i}': crafted(40 - i, 1e9) for i in range(4)}  # the reverse order
    nets['base'] = crafted(50, 1e9, 'baseline')
    agreement = evaluation_report.rank_agreement(means, nets)
    assert agreement['tau'] == pytest.approx(-1.0) and agreement['count'] == 4
    assert evaluation_report.rank_agreement(means, {'G0': nets['G0']}) is None


def test_retrain_iterations_stretches_every_recipe_and_its_validation(evaluation, tmp_path):
    root, _ = evaluation
    plan = yaml.safe_load((root / 'evaluate.yml').read_text())
    cosine = {'type': 'CosineAnnealingRestartLR', 'periods': [3, 2], 'restart_weights': [1, 0.5], 'eta_min': 1e-5}
    retrain = yaml.safe_load(open(plan['retrain']).read())
    retrain['train']['scheduler'] = cosine
    plan['retrain'] = write_yaml(tmp_path / 'retrain_cosine.yml', retrain)
    stages = Stages(read_plan(write_yaml(tmp_path / 'long.yml', {**plan, 'retrain_iterations': 400})))
    clearer = stages.retrain(Space.of(stages.templates['search']).everything()[0], 0)[0].options
    baseline = stages.baseline(plan['baselines'][1], 0)[0].options  # RIDNet: MultiStepLR
    for opt in clearer, baseline:
        assert opt['train']['total_iter'] == 400
        assert opt['val']['val_freq'] == 20 and opt['logger']['save_checkpoint_freq'] == 20  # every 5 %
    assert clearer['train']['scheduler']['periods'] == [240, 160]  # 3:2, adding up to the run
    assert baseline['train']['scheduler']['milestones'] == [80 * 10**6]
    unchanged = Stages(read_plan(str(root / 'evaluate.yml'))).baseline(plan['baselines'][1], 0)[0].options
    assert unchanged['train']['total_iter'] == 5 and unchanged['val']['val_freq'] == 2
    for bad in (0, 10, 2.5, True):
        with pytest.raises(ValueError, match=r'retrain_iterations = .*: expected a whole number of at least 20'):
            read_plan(write_yaml(tmp_path / 'bad.yml', {**plan, 'retrain_iterations': bad}))


def test_retrain_ema_decay_averages_every_recipe_and_tests_the_average(evaluation, tmp_path):
    root, _ = evaluation
    plan = yaml.safe_load((root / 'evaluate.yml').read_text())
    stages = Stages(read_plan(write_yaml(tmp_path / 'ema.yml', {**plan, 'retrain_ema_decay': 0.99})))
    plain = Stages(read_plan(str(root / 'evaluate.yml')))
    genotype = Space.of(stages.templates['search']).everything()[0]
    for run in stages.retrain(genotype, 0), stages.baseline(plan['baselines'][1], 0):
        assert run[0].options['train']['ema_decay'] == 0.99
        assert run[1].options['path']['param_key_g'] == 'params_ema'
    for run in plain.retrain(genotype, 0), plain.baseline(plan['baselines'][1], 0):
        assert not run[0].options['train'].get('ema_decay')
        assert run[1].options['path'].get('param_key_g', 'params') == 'params'
    assert 'averaged over the steps with decay 0.99' in recipe_changes(stages.plan)  # said in the report
    assert recipe_changes(plain.plan) == ''
    for bad in (0, 1, 1.5, 'high', True):
        with pytest.raises(ValueError, match=r'retrain_ema_decay = .*: expected a decay between 0 and 1'):
            read_plan(write_yaml(tmp_path / 'bad.yml', {**plan, 'retrain_ema_decay': bad}))


def test_plans_with_a_bad_baseline_or_earlier_csv_are_refused(evaluation, tmp_path):
    root, _ = evaluation
    plan = yaml.safe_load((root / 'evaluate.yml').read_text())
    twice = {**plan, 'baselines': [plan['baselines'][0], plan['baselines'][0]]}
    with pytest.raises(ValueError, match=r"baselines: 'SwinIR' twice; give each a different recipe"):
        main(['-opt', write_yaml(tmp_path / 'twice.yml', twice), '--plan'])
    no_psnr = tmp_path / 'old.csv'
    no_psnr.write_text('network,seed\n')
    with pytest.raises(ValueError, match=r"rank_against = .*old.csv': expected an evaluation CSV with a column 'psnr'"):
        main(['-opt', write_yaml(tmp_path / 'csv.yml', {**plan, 'rank_against': str(no_psnr)}), '--plan'])


def test_a_failed_stage_stops_the_tool_naming_its_command_and_log():
    from clearer_basicsr.errors import UserInputError
    from clearer_basicsr.tools.stages import stage_failure

    refused = stage_failure('s', 'clearer-train -opt s.yml', 2, 'logs/s.log')
    assert isinstance(refused, UserInputError)  # shown as one error: line, exit status 2
    crashed = stage_failure('s', 'clearer-train -opt s.yml', 1, 'logs/s.log')
    assert isinstance(crashed, SystemExit) and not isinstance(crashed, UserInputError)  # status 1, no traceback
    assert 'clearer-train -opt s.yml' in str(crashed) and 'logs/s.log' in str(crashed) and 'exit code 1' in str(crashed)


def test_the_table_names_a_seed_whose_curve_fell():
    """A fall counts as converged by the rule, so the table says so beside the worst seed's gain."""
    steady = {'kind': 'random', 'runs': {0: {'gain_last20_db': 0.02}, 1: {'gain_last20_db': 0.03}}}
    fell = {'kind': 'random', 'runs': {0: {'gain_last20_db': -0.297}, 1: {'gain_last20_db': 0.028}}}
    rising = {'kind': 'random', 'runs': {0: {'gain_last20_db': -0.06}, 1: {'gain_last20_db': 0.2}}}
    assert evaluation_report.gain_cell(steady) == '+0.030'
    assert evaluation_report.gain_cell(fell) == '+0.028; seed 0 fell -0.297'
    assert evaluation_report.gain_cell(rising) == '+0.200 (unconverged); seed 0 fell -0.060'


def test_a_macro_space_plan_draws_its_randoms_and_free_baseline_from_the_widths_window(demo_data, tmp_path):
    """A one-shot search file of the macro space is the plan's search; random genotypes and the
    most-parameters baseline come from its window with their channels, and their retrain and test
    files build them (the templates' branch_channels give way)."""
    from clearer_basicsr.archs.complexity import genotype_cost
    from clearer_basicsr.tools.evaluate import choose_genotypes

    files, retrain, test = templates(demo_data, tmp_path)
    search = yaml.safe_load(open(files['search']))
    search['model_type'] = 'CLEAREROneShotModel'
    search['train'] = {k: v for k, v in search['train'].items() if k not in DARTS_KEYS}
    search['network_g'].update(widths=[0.5, 1], num_cells=[1, 2])
    files['search'] = write_yaml(tmp_path / 'search_widths.yml', search)
    plan = read_plan(evaluation_file(tmp_path, files, random=4, most_parameters=True, hand_designed=['all_parallel']))
    stages, space = Stages(plan), Space.of(search)
    assert stages.methods() == ('one_shot',) and stages.search(0.6, 0).options['model_type'] == 'CLEAREROneShotModel'
    chosen = choose_genotypes(plan, space, {0.6: []}, exhaustive=False, one_shot={0.6: []})[0.6]
    window = {str(g) for g in space.within(0.6)}
    assert len(chosen['random']) == 4 and {str(g) for g in chosen['random']} <= window
    assert any(len(g.cells) == 1 or g.branch_channels != (4, 8, 16) for g in space.within(0.6))  # widths in the window
    (free,) = chosen['most parameters']
    params = {str(g): genotype_cost(space.net, g, space.budget.patch_size)['params'] for g in space.within(0.6)}
    assert params[str(free)] == max(params.values())
    narrowed = next(g for g in space.within(0.6) if g.branch_channels != (4, 8, 16))  # not the template's channels
    train, tested = stages.retrain(narrowed, 0)
    assert '@' not in train.name and code(narrowed) in train.name
    for opt in (train.options, tested.options):
        network = build_network(opt['network_g'])
        assert network.branch_channels == narrowed.branch_channels and str(network.genotype()) == str(narrowed)


def test_a_one_shot_only_report_compares_with_random_and_the_free_baseline(evaluation):
    """A plan whose search is one-shot (the macro space's) has no DARTS rows: its verdict is the
    one-shot search's, and the most-parameters genotype gets its own line."""
    _, results = evaluation
    budget = copy.deepcopy(results['budgets'][0])
    budget['searches'] = []  # only the one-shot search
    randoms = [g for kind, g in budget['members'] if kind == 'random']
    budget['members'] = [('most parameters', g) if g == randoms[0] else (k, g) for k, g in budget['members']]
    only = {**results, 'budgets': [budget]}
    plots = {'psnr': 'p.png', 'loss': 'l.png', 'val': 'v.png'}
    report = evaluation_report.markdown(only, plots)
    (one_shot,) = budget['one_shot_searches']
    free = evaluation_report.score(results['networks'][randoms[0]])[0]
    found = evaluation_report.score(results['networks'][str(one_shot['genotype'])])[0]
    assert '- Search minus random mean' not in report and '- One-shot search minus random mean' in report
    assert f'(`{randoms[0]}`, {free:.2f} dB): one-shot search {found - free:+.3f} dB' in report
    assert '| most parameters | `' in report
    assert 'one-shot search' in evaluation_report.summary(only) and ': search ' not in evaluation_report.summary(only)
