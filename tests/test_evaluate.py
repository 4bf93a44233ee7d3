"""The evaluation command on a tiny preset: its stages, the random genotypes it draws, its report."""

import copy
import os

import pytest
import yaml
from conftest import noise_dataset, search_options, train_options, write_yaml

from clearer_basicsr.tools.evaluate import Space, main

NET = {'in_channels': 1, 'out_channels': 1, 'stem_blocks': 1, 'stem_width': 2, 'residual': True}
SPACE = {'branch_channels': [4, 8, 16], 'columns_per_cell': 2}  # 16 genotypes


def templates(demo_data, root, space=SPACE):
    search = search_options(
        demo_data,
        'tpl_search',
        total_iter=6,
        optim_arch={'type': 'Adam', 'lr': 0.05, 'weight_decay': 0.0},
        arch_loss={'type': 'CLEARERArchLoss', 'lambda_arch': 0.01, 'complexity': 'flops'},
    )
    search['network_g'] = {'type': 'CLEARERSearchNet', **NET, **space}
    del search['val'], search['datasets']['val']
    retrain = train_options(
        demo_data, 'tpl_train', network_g={'type': 'CLEARERNet', 'genotype': 'x', **NET}, total_iter=3
    )
    del retrain['val'], retrain['datasets']['val']
    test = copy.deepcopy(train_options(demo_data, 'tpl_test', network_g={'type': 'CLEARERNet', 'genotype': 'x', **NET}))
    test = {
        'name': 'tpl_test',
        'model_type': 'CLEARERRestorationModel',
        'num_gpu': 'auto',
        'datasets': {'test_1': noise_dataset(demo_data['test_folder'], phase='test')},
        'network_g': test['network_g'],
        'path': {'pretrain_network_g': 'x.pth', 'strict_load_g': True},
        'val': {'save_img': False, 'pad_multiple': 4, 'metrics': test['val']['metrics']},
    }
    return {
        key: write_yaml(root / f'{key}.yml', opt)
        for key, opt in (('search', search), ('retrain', retrain), ('test', test))
    }


def evaluation_file(root, files, **plan):
    plan = {'name': 'tinyeval', 'budgets': [0.6], 'search_seeds': [0], 'retrain_seeds': [0], 'random': 3,
            'bm3d': False, **files, **plan}  # fmt: skip
    return write_yaml(root / 'evaluate.yml', plan)


@pytest.fixture(scope='module')
def evaluation(demo_data, tmp_path_factory):
    root = tmp_path_factory.mktemp('evaluate')
    plan = evaluation_file(root, templates(demo_data, root))
    old = os.getcwd()
    os.chdir(root)
    try:
        results = main(['-opt', plan, '--out', str(root / 'docs' / 'evaluation')])
    finally:
        os.chdir(old)
    return root, results


def test_evaluation_writes_its_table_and_plots(evaluation):
    root, results = evaluation
    for suffix in ('.md', '.csv', '_psnr_macs.png', '_loss.png'):
        assert (root / 'results' / 'tinyeval' / f'evaluation{suffix}').stat().st_size > 0
        assert (root / 'docs' / f'evaluation{suffix}').is_file()  # --out copies them
    report = (root / 'docs' / 'evaluation.md').read_text()
    searched = str(results['budgets'][0]['searches'][0]['genotype'])
    assert '| searched | `' + searched.replace('|', '\\|') + '`' in report
    assert 'standard errors' in report and 'Rank of each searched genotype among the random ones' in report
    for _, name in results['budgets'][0]['members']:  # every network in the table was retrained and tested
        assert results['networks'][name]['runs'][0]['psnr'] > 10


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
    scale = (256 / space.patch_size) ** 2  # the table's MACs are measured on a 256x256 input
    for name in randoms:
        assert abs(space.fraction(by_name[name]) / 0.6 - 1) <= 0.1
        # ... and the retrained network is that genotype in the search's preset
        assert results['networks'][name]['macs'] == pytest.approx(space.fraction(by_name[name]) * space.largest * scale)
    # The hand-designed patterns in the table are exactly those that fit the window.
    for kind, name in budget['members']:
        if kind == 'hand-designed':
            assert abs(space.fraction(by_name[name]) / 0.6 - 1) <= 0.1


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
