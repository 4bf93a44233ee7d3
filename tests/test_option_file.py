"""The plugin's entry points read option files as data: tags that build objects are refused (and
do not run), broken files get one line naming the file, --force_yml values are typed, and
--force_yml manual_seed=N seeds the run."""

import gc
import glob
import re

import pytest
import yaml
from conftest import run_train_inprocess, search_options, train_options, write_yaml

from clearer_basicsr import test as test_entry  # not test_main: pytest would collect it
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.option_file import override_value, read_option_file
from clearer_basicsr.train import main as train_main


def payload(marker):
    """YAML that creates ``marker`` when a loader builds Python objects from it."""
    return f"name: !!python/object/apply:builtins.open ['{marker}', 'w']\nmodel_type: RestorationModel\n"


def test_object_tags_are_refused_and_do_not_run(tmp_path):
    from basicsr.utils.options import ordered_yaml

    marker, opt_file = tmp_path / 'ran', tmp_path / 'payload.yml'
    opt_file.write_text(payload(marker))
    with open(opt_file) as f:
        yaml.load(f, Loader=ordered_yaml()[0])  # BasicSR's own loader runs it: the payload is live
    assert marker.exists()
    marker.unlink()

    with pytest.raises(UserInputError) as err:
        read_option_file(str(opt_file))
    assert str(err.value).startswith(f'{opt_file}: line 1: the tag !!python/object/apply:builtins.open is not allowed')
    assert not marker.exists()


@pytest.mark.parametrize(
    'text, match',
    [
        ('name: !!python/name:os.system\n', r'line 1: the tag !!python/name:os.system is not allowed'),
        ('a: 1\nb: !custom 2\n', r'line 2: the tag !custom is not allowed'),
        ('a: [1, 2\n', r'line 2: not valid YAML'),
        ('', r'the file is empty; expected a mapping of options'),
        ('- a\n- b\n', r'holds a list; expected a mapping of options'),
    ],
)
def test_unreadable_option_files_are_named_with_their_line(tmp_path, text, match):
    opt_file = tmp_path / 'opt.yml'
    opt_file.write_text(text)
    with pytest.raises(UserInputError, match=f'^{re.escape(str(opt_file))}: {match}'):
        read_option_file(str(opt_file))


def test_standard_tags_are_data(tmp_path):
    opt_file = tmp_path / 'opt.yml'
    opt_file.write_text('lr: !!float 1e-3\nname: !!str 12\n')
    assert read_option_file(str(opt_file)) == {'lr': 0.001, 'name': '12'}


@pytest.mark.parametrize(
    'text, value',
    [
        ('1e-3', 0.001),  # BasicSR: the string '1e-3'
        ('3.0e-3', 0.003),
        ('-1', -1),  # BasicSR: the string '-1'
        ('2', 2),
        ('[1e-3, 2, a]', [0.001, 2, 'a']),
        ('none', None),
        ('~', None),
        ('false', False),
        ('experiments/x/net_g_4.pth', 'experiments/x/net_g_4.pth'),
    ],
)
def test_force_yml_values_are_typed(text, value):
    assert override_value(text) == value and type(override_value(text)) is type(value)


def broken(opt, change):
    """``opt`` with ``change`` applied: a key path to delete (tuple) or {key path: new value}."""
    if isinstance(change, tuple):
        *parents, last = change
        node = opt
        for key in parents:
            node = node[key]
        del node[last]
    else:
        for key, value in change.items():
            opt[key] = value
    return opt


@pytest.mark.parametrize(
    'change, extra, match',
    [
        (('datasets',), [], r"'datasets' is missing; expected a mapping of datasets"),
        (('logger',), [], r"'logger' is missing; expected the logger options"),
        (('num_gpu',), [], r"'num_gpu' is missing; expected the number of GPUs to use, or auto"),
        ({'name': 3}, [], r'name = 3: expected the run name'),
        ({'datasets': 'train.lmdb'}, [], r"datasets = 'train.lmdb': expected a mapping of datasets"),
        ({'datasets': {}}, [], r'datasets = \{\}: expected train and val\* entries'),
        ({}, ['--force_yml', 'nosuch:key=1'], r"--force_yml 'nosuch:key=1': nosuch is not a section"),
        ({}, ['--force_yml', 'train:total_iter'], r"--force_yml 'train:total_iter': expected KEY=VALUE"),
        ({}, ['--force_yml', 'manual_seed=1.5'], r'manual_seed = 1.5: expected a whole number'),
    ],
)
def test_missing_sections_and_bad_overrides_are_one_line_before_any_folder(
    demo_data, tmp_path, monkeypatch, change, extra, match
):
    monkeypatch.chdir(tmp_path)
    opt_file = write_yaml(tmp_path / 'train.yml', broken(train_options(demo_data, 'broken'), change))
    with pytest.raises(UserInputError, match=f'^{re.escape(opt_file)}: {match}'):
        train_main(['-opt', opt_file, *extra])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['train.yml']  # nothing written


def test_test_options_need_their_sections(demo_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opt = train_options(demo_data, 'broken_test')
    opt['datasets'] = {'test_1': opt['datasets']['val']}
    del opt['val']
    opt_file = write_yaml(tmp_path / 'test.yml', opt)
    with pytest.raises(UserInputError, match=r"'val' is missing; expected the validation or test options"):
        test_entry.main(['-opt', opt_file])
    assert not (tmp_path / 'results').exists()


def logged_losses(root, name):
    """Every ``l_*`` value of every logged iteration of run ``name``, and its seed line."""
    (log,) = glob.glob(str(root / 'experiments' / name / f'train_{name}_*.log'))
    text = open(log).read()
    losses = [re.findall(r'(l_\w+): (\S+)', line) for line in text.splitlines() if 'iter:' in line]
    return [pair for line in losses for pair in line], re.search(r'Random seed: .*', text).group(0)


def test_force_yml_manual_seed_seeds_the_run(demo_data, tmp_path):
    """BasicSR seeds before it applies --force_yml: there, manual_seed=1 would rerun seed 0."""
    runs = {
        'seed1_yaml': (1, []),
        'seed1_cli': (0, ['--force_yml', 'manual_seed=1']),
        'seed0_yaml': (0, []),
    }
    logs = {}
    for name, (seed, flags) in runs.items():
        opt = search_options(demo_data, name, total_iter=3, arch_warmup_iter=1)
        opt['manual_seed'] = seed
        run_train_inprocess(write_yaml(tmp_path / f'{name}.yml', opt), tmp_path, *flags)
        gc.collect()  # closes the run's LMDB environments before the next run opens them
        logs[name] = logged_losses(tmp_path, name)
    losses, seed_line = logs['seed1_cli']
    assert len(losses) >= 3 and seed_line == 'Random seed: manual_seed 1 (after --force_yml)'
    assert losses == logs['seed1_yaml'][0]
    assert losses != logs['seed0_yaml'][0]
