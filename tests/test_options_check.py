"""check_options: one clear error (key, value, what was expected) before anything is built or trained."""

import copy
import os
import shutil
import sys

import pytest

import clearer_basicsr  # noqa: F401  (compat fixes + registration)
from clearer_basicsr import options_check
from clearer_basicsr.archs.genotype import Genotype
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.options_check import check_options
from clearer_basicsr.search_result import SearchResult


def search_opt(demo, **train_overrides):
    """A valid tiny CLEARER search, as BasicSR's parse_options leaves it."""
    opt = {
        'name': 'check',
        'model_type': 'CLEARERSearchModel',
        'num_gpu': 0,
        'dist': False,
        'rank': 0,
        'world_size': 1,
        'is_train': True,
        'manual_seed': 0,
        'auto_resume': False,
        'datasets': {
            'train': {
                'name': 'train',
                'type': 'CLEARERGaussianNoiseDataset',
                'phase': 'train',
                'dataroot_gt': demo['train_lmdb'],
                'io_backend': {'type': 'lmdb'},
                'in_ch': 1,
                'sigma': 30,
                'gt_size': 16,
                'num_worker_per_gpu': 0,
                'batch_size_per_gpu': 2,
            },
            'val': {
                'name': 'val',
                'type': 'CLEARERGaussianNoiseDataset',
                'phase': 'val',
                'dataroot_gt': demo['test_folder'],
                'io_backend': {'type': 'disk'},
                'in_ch': 1,
                'sigma': 30,
            },
        },
        'network_g': {
            'type': 'CLEARERSearchNet',
            'in_channels': 1,
            'out_channels': 1,
            'branch_channels': [4, 8],
            'columns_per_cell': 2,
            'stem_blocks': 1,
            'stem_width': 2,
        },
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'arch_dataset': {
                'name': 'arch',
                'type': 'CLEARERGaussianNoiseDataset',
                'dataroot_gt': demo['arch_lmdb'],
                'io_backend': {'type': 'lmdb'},
                'in_ch': 1,
                'sigma': 30,
            },
            'arch_loss': {'type': 'CLEARERArchLoss', 'lambda_arch': 0.01, 'lambda_comp': 0.0},
            'optim_arch': {'type': 'Adam', 'lr': 3e-4},
            'optim_g': {'type': 'SGD', 'lr': 0.025, 'momentum': 0.9},
            'scheduler': {'type': 'MultiStepLR', 'milestones': [100]},
            'total_iter': 10,
            'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0},
        },
        'val': {'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}, 'pad_multiple': 4},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 5, 'use_tb_logger': False},
    }
    opt['train'].update(train_overrides)
    return opt


def test_option_files_of_a_valid_search_and_test_pass(demo_data, tmp_path):
    check_options(search_opt(demo_data))
    test_opt = search_opt(demo_data)
    test_opt.update(is_train=False, model_type='CLEARERRestorationModel')
    del test_opt['train']
    (tmp_path / 'net_g.pth').touch()  # only its existence is checked
    test_opt['path']['pretrain_network_g'] = str(tmp_path / 'net_g.pth')
    test_opt['datasets'] = {'test_1': dict(test_opt['datasets']['val'], phase='test')}
    test_opt['network_g'] = {
        'type': 'CLEARERNet',
        'genotype': 'P F',
        'branch_channels': [4, 8],
        'stem_blocks': 1,
        'stem_width': 2,
    }
    check_options(test_opt)  # no train section at test time


def _set(opt, path, value):
    *parents, last = path
    for key in parents:
        opt = opt[key]
    if value is _DELETE:
        del opt[last]
    else:
        opt[last] = value


_DELETE = object()

# (where, value, the message's key / value / expectation, as a regex)
TYPE_TYPOS = [
    (
        ('model_type',),
        'CLEARERSearchModle',
        r"model_type = 'CLEARERSearchModle' is not a registered model.*"
        r"did you mean 'CLEARERSearchModel'",
    ),
    (
        ('network_g', 'type'),
        'CLEARERSearchNett',
        r"network_g: type = 'CLEARERSearchNett' is not a registered "
        r"network.*did you mean 'CLEARERSearchNet'",
    ),
    (
        ('datasets', 'train', 'type'),
        'GaussianNoiseDatset',
        r"datasets: train: type = 'GaussianNoiseDatset' is not "
        r"a registered dataset.*did you mean 'CLEARERGaussianNoiseDataset'",
    ),
    (
        ('datasets', 'val', 'type'),
        'gaussiannoisedataset',
        r"datasets: val: type = 'gaussiannoisedataset'.*"
        r"did you mean 'CLEARERGaussianNoiseDataset'",
    ),
    (
        ('train', 'pixel_opt', 'type'),
        'MSELos',
        r"train: pixel_opt: type = 'MSELos' is not a registered loss.*"
        r"did you mean 'MSELoss'",
    ),
    (
        ('train', 'arch_loss', 'type'),
        'ClearerArchLoss',
        r"train: arch_loss: type = 'ClearerArchLoss'.*"
        r"did you mean 'CLEARERArchLoss'",
    ),
    (
        ('train', 'arch_dataset', 'type'),
        'GaussianNoise',
        r"train: arch_dataset: type = 'GaussianNoise' is not a "
        r"registered dataset.*did you mean 'CLEARERGaussianNoiseDataset'",
    ),
    (
        ('val', 'metrics', 'psnr', 'type'),
        'calculate_pnsr',
        r"val: metrics: psnr: type = 'calculate_pnsr'.*"
        r"did you mean 'calculate_psnr'",
    ),
    (
        ('train', 'optim_g', 'type'),
        'SDG',
        r"train: optim_g: type = 'SDG' is not a torch.optim optimizer.*"
        r"did you mean 'SGD'",
    ),
    (
        ('train', 'scheduler', 'type'),
        'CosineAnnealingLR',
        r"train: scheduler: type = 'CosineAnnealingLR' is not a "
        r"scheduler BasicSR sets up.*'CosineAnnealingRestartLR'",
    ),
]

NUMBERS = [
    (('train', 'total_iter'), 0, r'train: total_iter = 0: expected a positive number'),
    (('train', 'total_iter'), -5, r'train: total_iter = -5: expected a positive number'),
    (
        ('train', 'total_iter'),
        '1e4',
        r"train: total_iter = '1e4': expected a number, not a string \(YAML reads "
        r'1e-3 as a string: write 1.0e-3\)',
    ),
    (('train', 'optim_g', 'lr'), 0, r'train: optim_g: lr = 0: expected a positive number'),
    (('train', 'optim_g', 'lr'), '2e-2', r"train: optim_g: lr = '2e-2': expected a number"),
    (('train', 'optim_arch', 'lr'), -3e-4, r'train: optim_arch: lr = -0.0003: expected a positive number'),
    (
        ('datasets', 'train', 'sigma'),
        -1,
        r'datasets: train: sigma = -1: expected a noise level on the 0-255 '
        r'scale, in \[0, 255\]',
    ),
    (
        ('datasets', 'val', 'sigma'),
        300,
        r'datasets: val: sigma = 300: expected a noise level on the 0-255 scale, '
        r'in \[0, 255\]',
    ),
    (('train', 'arch_dataset', 'sigma'), 'high', r"train: arch_dataset: sigma = 'high': expected a number"),
    (
        ('train', 'arch_loss', 'lambda_comp'),
        0.1,
        r'train: arch_loss: lambda_comp = 0.1 needs a complexity metric \(complexity: flops or params\), '
        r'or a budget under train: budget',
    ),
    (('train', 'arch_loss', 'lambda_arch'), -0.01, r'train: arch_loss: lambda_arch = -0.01: expected a weight >= 0'),
    (
        ('datasets', 'train', 'gt_size'),
        15,
        r'datasets: train: gt_size = 15: expected a multiple of 2 = '
        r'2\^\(branches - 1\) for the 2 branches of network_g \(e.g. 14 or 16\)',
    ),
    (('val', 'pad_multiple'), 0, r'val: pad_multiple = 0: expected a positive number'),
]


@pytest.mark.parametrize(
    'where, value, match', TYPE_TYPOS + NUMBERS, ids=[f'{"/".join(w)}={v!r}' for w, v, _ in TYPE_TYPOS + NUMBERS]
)
def test_one_clear_error_naming_key_value_and_expectation(demo_data, where, value, match):
    opt = search_opt(demo_data)
    _set(opt, where, value)
    with pytest.raises(ValueError, match=match):
        check_options(opt)


@pytest.mark.parametrize(
    'sigma_range, match',
    [
        ([50, 10], r'sigma_range = \[50, 10\]: expected \[lo, hi\] with 0 <= lo <= hi <= 255'),
        ([0, 300], r'sigma_range = \[0, 300\]: expected \[lo, hi\]'),
        ([-5, 10], r'sigma_range = \[-5, 10\]: expected \[lo, hi\]'),
        ([10], r'sigma_range = \[10\]: expected \[lo, hi\]'),
    ],
)
def test_sigma_range(demo_data, sigma_range, match):
    opt = search_opt(demo_data)
    opt['datasets']['train'].update(sigma=None, sigma_range=sigma_range)
    with pytest.raises(ValueError, match=f'datasets: train: {match}'):
        check_options(opt)
    opt['datasets']['train'].update(sigma=25, sigma_range=[0, 50])
    with pytest.raises(ValueError, match=r'sigma = 25, sigma_range = \[0, 50\]: expected exactly one of sigma'):
        check_options(opt)


def test_search_needs_a_disjoint_arch_split(demo_data, tmp_path):
    opt = search_opt(demo_data)
    del opt['train']['arch_dataset']
    with pytest.raises(ValueError, match=r'train: arch_dataset = None: expected the held-apart split'):
        check_options(opt)

    opt = search_opt(demo_data)
    opt['train']['arch_dataset']['dataroot_gt'] = demo_data['train_lmdb']  # the very train LMDB
    with pytest.raises(
        ValueError,
        match=r"train: arch_dataset: dataroot_gt = '.*train\.lmdb' is also the "
        r'dataroot_gt of datasets: train \(11 images in both\): expected a held-apart split',
    ):
        check_options(opt)

    # a copy of some train images in another folder: same names
    arch = tmp_path / 'arch'
    arch.mkdir()
    for name in ('gravel.png', 'text.png', 'brick.png'):
        src = os.path.join(demo_data['arch_folder' if name == 'gravel.png' else 'train_folder'], name)
        shutil.copy(src, arch / name)
    opt = search_opt(demo_data)
    opt['datasets']['train'].update(dataroot_gt=demo_data['train_folder'], io_backend={'type': 'disk'})
    opt['train']['arch_dataset'].update(dataroot_gt=str(arch), io_backend={'type': 'disk'})
    with pytest.raises(
        ValueError,
        match=r"train: arch_dataset: dataroot_gt = '.*arch' shares 2 image\(s\) with "
        r"datasets: train \(.*\): 'brick', 'text'; expected disjoint splits",
    ):
        check_options(opt)

    # LMDB keys shared with a folder split
    opt['datasets']['train'].update(dataroot_gt=demo_data['train_lmdb'], io_backend={'type': 'lmdb'})
    with pytest.raises(ValueError, match=r'shares 2 image\(s\) with datasets: train'):
        check_options(opt)

    # one folder, two disjoint meta_info files: fine
    train_meta, arch_meta = tmp_path / 'train_meta.txt', tmp_path / 'arch_meta.txt'
    train_meta.write_text('brick.png\ncell.png\n')
    arch_meta.write_text('text.png\n')
    opt = search_opt(demo_data)
    opt['datasets']['train'].update(
        dataroot_gt=demo_data['train_folder'], io_backend={'type': 'disk'}, meta_info_file=str(train_meta)
    )
    opt['train']['arch_dataset'].update(
        dataroot_gt=demo_data['train_folder'], io_backend={'type': 'disk'}, meta_info_file=str(arch_meta), gt_size=16
    )
    check_options(opt)


def test_gt_size_larger_than_the_smallest_image(demo_data, tmp_path):
    opt = search_opt(demo_data)
    opt['datasets']['train']['gt_size'] = 100  # 'text' is 98 x 256
    with pytest.raises(
        ValueError,
        match=r'datasets: train: gt_size = 100: expected at most the smallest side of '
        r"every image, but LMDB '.*train\.lmdb', key 'text' is 98x256 \(HxW\)",
    ):
        check_options(opt)

    opt['datasets']['train'].update(dataroot_gt=demo_data['train_folder'], io_backend={'type': 'disk'})
    with pytest.raises(ValueError, match=r"gt_size = 100: .* but image '.*text\.png' is 98x256"):
        check_options(opt)

    opt = search_opt(demo_data)
    opt['datasets']['train']['gt_size'] = 96
    opt['train']['arch_dataset']['gt_size'] = 224  # 'hubble_deep_field' is 223 x 256
    with pytest.raises(ValueError, match=r"train: arch_dataset: gt_size = 224: .*key 'hubble_deep_field' is 223x256"):
        check_options(opt)


def test_unreadable_image_in_a_training_folder_is_named_before_training(demo_data, tmp_path):
    folder = tmp_path / 'train'
    shutil.copytree(demo_data['train_folder'], folder)
    (folder / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 7)
    before = (folder / 'brick.png').read_bytes()
    opt = search_opt(demo_data)
    opt['datasets']['train'].update(dataroot_gt=str(folder), io_backend={'type': 'disk'})
    with pytest.raises(
        ValueError,
        match=r"datasets: train: image '.*broken\.png' cannot be read .*expected an "
        'image file',
    ):
        check_options(opt)
    assert (folder / 'brick.png').read_bytes() == before and (folder / 'broken.png').exists()


def test_missing_data_and_channels(demo_data, tmp_path):
    opt = search_opt(demo_data)
    opt['datasets']['val']['dataroot_gt'] = str(tmp_path / 'nowhere')
    with pytest.raises(
        ValueError,
        match=r"datasets: val: dataroot_gt = '.*nowhere': no such folder; expected an "
        'image folder',
    ):
        check_options(opt)

    opt = search_opt(demo_data)
    del opt['datasets']['train']['in_ch']  # GaussianNoiseDataset gives RGB by default
    with pytest.raises(
        ValueError,
        match=r'datasets: train: in_ch = 3 but network_g: in_channels = 1: expected '
        'the dataset to give the channels the network takes',
    ):
        check_options(opt)

    opt = search_opt(demo_data)
    opt['network_g'] = {'type': 'CLEARERDnCNN', 'in_channels': 1, 'out_channels': 1}
    with pytest.raises(
        ValueError, match=r"network_g: type = 'CLEARERDnCNN': expected a network with architecture logits"
    ):
        check_options(opt)


@pytest.mark.parametrize(
    'net, match',
    [
        (
            {'genotype': 'P F | F P'},
            r"network_g: genotype = 'P F \| F P' does not fit the network \(branch_channels "
            r'\[4, 8\]\): genotype has 2 cells but branch_channels \[4, 8\] \(2 branches\) needs 1',
        ),
        (
            {'genotype': 'P F P'},
            r'does not fit the network \(branch_channels \[4, 8\], columns_per_cell 2\): genotype '
            r'cell 1 has 3 columns, expected columns_per_cell=2',
        ),
        (
            {'genotype': 'P X'},
            r"genotype cell 1, column 2: 'X' is not one of the registered candidates: parallel \(P\), fusion \(F\)",
        ),
        (
            {'genotype': 'missing/genotype.yml'},
            r"network_g: genotype = 'missing/genotype.yml': no such file; expected "
            r'the genotype.yml a search wrote',
        ),
        ({'genotype': None}, r'network_g: genotype = None: expected a genotype'),
    ],
)
def test_genotype_must_fit_the_preset(demo_data, net, match):
    opt = search_opt(demo_data)
    opt['model_type'] = 'CLEARERRestorationModel'
    opt['network_g'] = dict(
        {'type': 'CLEARERNet', 'branch_channels': [4, 8], 'columns_per_cell': 2, 'stem_blocks': 1, 'stem_width': 2},
        **net,
    )
    if 'columns_per_cell' not in match:
        del opt['network_g']['columns_per_cell']
    with pytest.raises(ValueError, match=match):
        check_options(opt)


def test_genotype_file_of_another_preset(demo_data, tmp_path):
    path = tmp_path / 'genotype.yml'
    SearchResult(Genotype.parse('P F | F F', branch_channels=[4, 8, 16])).save(path)
    opt = search_opt(demo_data)
    opt['model_type'] = 'CLEARERRestorationModel'
    opt['network_g'] = {
        'type': 'CLEARERNet',
        'genotype': str(path),
        'branch_channels': [4, 8],
        'stem_blocks': 1,
        'stem_width': 2,
    }
    with pytest.raises(
        ValueError,
        match=r'genotype is for branch_channels \[4, 8, 16\] but the network has '
        r'branch_channels \[4, 8\]',
    ):
        check_options(opt)
    del opt['network_g']['branch_channels']  # taken from the genotype: 3 branches, gt_size 16 % 4 == 0
    check_options(opt)
    opt['datasets']['train']['gt_size'] = 18
    with pytest.raises(
        ValueError,
        match=r'gt_size = 18: expected a multiple of 4 = 2\^\(branches - 1\) for the 3 '
        r'branches of network_g \(e.g. 16 or 20\)',
    ):
        check_options(opt)


def test_the_model_and_the_entry_point_check_before_anything_is_made(demo_data, tmp_path, monkeypatch):
    """BasicSR's build_model (its own train.py / test.py) and the plugin's entry points stop at the
    check; the entry points before making any folder, model keys included."""
    import yaml
    from basicsr.models import build_model

    from clearer_basicsr import test, train
    from clearer_basicsr.models import restoration_model

    bad = search_opt(demo_data)
    bad['train']['optim_g']['lr'] = -1
    with pytest.raises(ValueError, match=r'train: optim_g: lr = -1: expected a positive number'):
        build_model(bad)

    # The entry points check before making (or archiving) any experiment or results folder.
    monkeypatch.chdir(tmp_path)
    previous = tmp_path / 'experiments' / 'check'
    previous.mkdir(parents=True)
    (previous / 'genotype.yml').write_text('kept')
    parsed_keys = ('is_train', 'dist', 'rank', 'world_size', 'auto_resume')
    model_key_typo = search_opt(demo_data, arch_sampling='gdas')
    tested = dict(bad, datasets={'test_1': bad['datasets']['val']}, val={'pad_multiple': 0})
    tested['path'] = dict(bad['path'], pretrain_network_g=str(tmp_path / 'experiments' / 'check' / 'genotype.yml'))
    for entry, opt, match in (
        (train.train_pipeline, bad, r'train: optim_g: lr = -1'),
        (train.train_pipeline, model_key_typo, r"train: arch_sampling = 'gdas': expected one of"),
        (test.test_pipeline, tested, r'val: pad_multiple = 0'),
    ):
        (tmp_path / 'bad.yml').write_text(yaml.safe_dump({k: v for k, v in opt.items() if k not in parsed_keys}))
        monkeypatch.setattr(sys, 'argv', ['clearer', '-opt', 'bad.yml'])
        with pytest.raises(ValueError, match=match):
            entry(str(tmp_path))
        assert sorted(os.listdir(tmp_path)) == ['bad.yml', 'experiments']
        assert sorted(os.listdir(tmp_path / 'experiments')) == ['check']
    assert (previous / 'genotype.yml').read_text() == 'kept'

    # Options the entry point marked as checked are not checked again by the model it builds;
    # unmarked ones (BasicSR's own scripts) are.
    calls = []
    monkeypatch.setattr(restoration_model, 'check_options', calls.append)
    good = search_opt(demo_data)
    options_check.mark_checked(good)
    build_model(good)  # deep-copies the options, mark included
    assert calls == []
    build_model(search_opt(demo_data))
    assert len(calls) == 1


def test_the_training_loop_keys(demo_data):
    """Read by the plugin's train.py itself: checked with everything else, before any folder."""
    opt = search_opt(demo_data)
    opt['datasets']['train']['prefetch_mode'] = 'gpu'
    with pytest.raises(ValueError, match=r"datasets: train: prefetch_mode = 'gpu': expected one of \[None, 'cpu'"):
        check_options(opt)
    opt = search_opt(demo_data)
    opt['datasets']['test_1'] = opt['datasets'].pop('val')
    with pytest.raises(ValueError, match=r'datasets: test_1: expected train or val\* entries for training'):
        check_options(opt)
    opt = search_opt(demo_data)
    del opt['datasets']['train']
    with pytest.raises(ValueError, match=r"datasets = \['val'\]: expected a train entry"):
        check_options(opt)


# --------------------------------------------------------------------------- bad input, class by class
# One class of bad input per group of cases: each is refused by the option check (before anything is built
# or written) with one line naming the key, the value and what was expected.
def _refused(opt, match):
    with pytest.raises(UserInputError, match=match) as caught:
        check_options(opt)
    assert '\n' not in str(caught.value)


def _bad(kind, changes, match, name=None):
    """A case of test_bad_input_is_refused_in_one_line: ``changes`` ((where, value) pairs, set in
    order with _set; _DELETE deletes) make the valid search bad, ``match`` is the refusal (a regex)."""
    where, value = changes[-1]
    shown = ' deleted' if value is _DELETE else f'={value!r}'
    return pytest.param(changes, match, id=f'{kind}:{name or "/".join(where) + shown}')


def _not_positive(where, value):
    expected = 'a whole number >= 0' if where[-1] == 'num_worker_per_gpu' else 'a positive number'
    return _bad('not-positive', [(where, value)], rf'^{": ".join(where)} = {value}: expected {expected}$')


_PLAIN_SGD = (('train', 'optim_g'), {'type': 'SGD', 'lr': 0.01})  # an optimiser without momentum

BAD_INPUT = [
    # keys of every section have their type
    _bad('type', [(('logger', 'use_tb_logger'), 'yes')], r"logger: use_tb_logger = 'yes': expected true or false"),
    _bad('type', [(('path', 'strict_load_g'), 1)], r'path: strict_load_g = 1: expected true or false'),
    _bad(
        'type',
        [(('datasets', 'train', 'io_backend'), 'lmdb')],
        r"datasets: train: io_backend = 'lmdb': expected a mapping",
    ),
    _bad(
        'type',
        [(('val', 'metrics', 'psnr', 'crop_border'), -1)],
        r'val: metrics: psnr: crop_border = -1: expected a whole number >= 0',
    ),
    _bad(
        'type',
        [(('network_g', 'branch_channels'), 8)],
        r'network_g: branch_channels = 8: expected a list, each item a whole number',
    ),
    _bad('type', [(('train', 'optim_g', 'nesterov'), 1)], r'train: optim_g: nesterov = 1: expected true or false'),
    _bad('type', [(('val', 'metrics'), 'psnr')], r"val: metrics = 'psnr': expected a mapping of metrics"),
    _bad('type', [(('train', 'scheduler', 'milestones'), _DELETE)], r"train: scheduler: 'milestones' is missing"),
    # numbers and booleans given as strings
    _bad(
        'string',
        [(('datasets', 'train', 'use_hflip'), 'false')],
        r"datasets: train: use_hflip = 'false': expected true or false, "
        r'not a string \(any text counts as true\)',
    ),
    _bad('string', [(('network_g', 'residual'), 'false')], r"network_g: residual = 'false': expected true or false"),
    _bad('string', [(('val', 'self_ensemble'), 'true')], r"val: self_ensemble = 'true': expected true or false"),
    _bad(
        'string',
        [(('train', 'total_iter'), '100')],
        r"train: total_iter = '100': expected a number, not a string \(write it "
        r'without quotes\)',
    ),
    _bad('string', [(('manual_seed',), '0')], r"manual_seed = '0': expected a number, not a string"),
    _bad(
        'string',
        [(('train', 'optim_g', 'momentum'), '0.9')],
        r"train: optim_g: momentum = '0.9': expected a number",
    ),
    # lists given as strings
    _bad(
        'list-string',
        [(('train', 'scheduler', 'milestones'), '[2, 4]')],
        r"train: scheduler: milestones = '\[2, 4\]': expected a list, each item a whole number >= 0, not a "
        r'string \(write the list without quotes\)',
    ),
    _bad(
        'list-string',
        [(('network_g', 'branch_channels'), '[4, 8]')],
        r"network_g: branch_channels = '\[4, 8\]': expected a list",
    ),
    _bad(
        'list-string',
        [(('datasets', 'train', 'mean'), '[0.5]')],
        r"datasets: train: mean = '\[0.5\]': expected a list, each item a number",
    ),
    # zero or negative frequencies and sizes
    _not_positive(('val', 'val_freq'), 0),
    _not_positive(('logger', 'print_freq'), 0),
    _not_positive(('logger', 'save_checkpoint_freq'), -1),
    _not_positive(('datasets', 'train', 'batch_size_per_gpu'), 0),
    _not_positive(('datasets', 'train', 'gt_size'), 0),
    _not_positive(('datasets', 'train', 'dataset_enlarge_ratio'), 0),
    _not_positive(('datasets', 'train', 'num_worker_per_gpu'), -1),
    _not_positive(('train', 'arch_dataset', 'batch_size_per_gpu'), -2),
    # keys the training loop reads later are required before it starts
    _bad(
        'missing',
        [(('logger', 'save_checkpoint_freq'), _DELETE)],
        r"logger: 'save_checkpoint_freq' is missing; expected iterations",
    ),
    _bad('missing', [(('logger', 'print_freq'), _DELETE)], r"logger: 'print_freq' is missing"),
    _bad('missing', [(('logger',), _DELETE)], r"the option file: 'logger' is missing"),
    _bad(
        'missing',
        [(('datasets', 'train', 'num_worker_per_gpu'), _DELETE)],
        r"datasets: train: 'num_worker_per_gpu' is missing",
    ),
    # a keyword the class does not take (with a suggestion where one is close)
    _bad(
        'keyword',
        [_PLAIN_SGD, (('train', 'optim_g', 'momentun'), 0.9)],
        r"train: optim_g: momentun: SGD takes no option 'momentun'; did you mean 'momentum'",
    ),
    _bad(
        'keyword',
        [_PLAIN_SGD, (('train', 'scheduler', 'gama'), 0.5)],
        r"train: scheduler: gama: \w+ takes no option 'gama'",
    ),
    _bad(
        'keyword',
        [_PLAIN_SGD, (('train', 'optim_arch', 'beta'), [0.5, 0.9])],
        r"train: optim_arch: beta: Adam takes no option 'beta'; did you mean 'betas'",
    ),
    _bad(
        'keyword',
        [_PLAIN_SGD, (('train', 'pixel_opt', 'weight'), 1.0)],
        r"train: pixel_opt: weight: MSELoss takes no option 'weight'",
    ),
    # a network without an argument it needs
    _bad(
        'argument',
        [
            (('model_type',), 'CLEARERRestorationModel'),
            (('network_g',), {'type': 'CLEARERNet', 'in_channels': 1, 'out_channels': 1}),
            (('train', 'arch_dataset'), _DELETE),
        ],
        r"network_g: 'genotype' is missing; CLEARERNet needs it",
        name='CLEARERNet-without-genotype',
    ),
    # a zero std
    _bad(
        'zero-std',
        [(('datasets', 'train', 'mean'), [0.5]), (('datasets', 'train', 'std'), [0.0])],
        r'datasets: train: std\[0\] = 0.0: expected a positive number',
        name='datasets/train/std=[0.0]',
    ),
]


@pytest.mark.parametrize('changes, match', BAD_INPUT)
def test_bad_input_is_refused_in_one_line(demo_data, changes, match):
    opt = search_opt(demo_data)
    for where, value in changes:
        _set(opt, where, value if value is _DELETE else copy.deepcopy(value))  # cases share their values
    _refused(opt, match)


def test_devices_that_do_not_exist(demo_data):
    import torch

    gpus = torch.cuda.device_count()
    opt = search_opt(demo_data)
    opt['num_gpu'] = gpus + 1
    _refused(opt, rf'num_gpu = {gpus + 1}: expected at most {gpus}, the GPUs this machine has')
    if not gpus:
        opt = search_opt(demo_data)
        opt['datasets']['train']['prefetch_mode'] = 'cuda'
        _refused(opt, r"datasets: train: prefetch_mode = 'cuda': expected cpu or ~ on a machine without CUDA")


def test_test_options_without_their_sections(demo_data, tmp_path):
    checkpoint = tmp_path / 'net_g.pth'
    checkpoint.touch()
    opt = search_opt(demo_data)
    opt.update(is_train=False, model_type='CLEARERRestorationModel', network_g={'type': 'CLEARERDnCNN'})
    del opt['train']
    opt['path']['pretrain_network_g'] = str(checkpoint)
    test_set = dict(opt['datasets']['val'], phase='test', name='set')
    opt['datasets'] = {'test_1': test_set}
    check_options(opt)  # the complete one passes
    for change, match in (
        ({'datasets': {'train': test_set}}, r'datasets: train: expected test\* \(or val\*\) entries for testing'),
        ({'datasets': {}}, r'datasets = \[\]: expected test\* entries'),
        ({'path': {}}, r'path: pretrain_network_g = None: expected the trained network to test'),
        ({'path': {'pretrain_network_g': 'gone.pth'}}, r"path: pretrain_network_g = 'gone.pth': no such file"),
        (
            {'datasets': {'test_1': test_set, 'test_2': test_set}},
            r"datasets: test_2: name = 'set': expected a name "
            'no other test set has',
        ),
    ):
        _refused(dict(opt, **change), match)


def _images(folder, sizes):
    """PNG files of the given (h, w) sizes under ``folder``, by name."""
    import cv2
    import numpy as np

    folder.mkdir(exist_ok=True)
    for name, (h, w) in sizes.items():
        cv2.imwrite(str(folder / name), np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))
    return str(folder)


def test_tiny_test_images_for_ssim(demo_data, tmp_path):
    opt = search_opt(demo_data)
    opt['datasets']['val']['dataroot_gt'] = _images(tmp_path / 'val', {'a.png': (20, 20), 'tiny.png': (8, 30)})
    opt['val']['metrics']['ssim'] = {'type': 'calculate_ssim', 'crop_border': 0}
    _refused(
        opt,
        r"datasets: val: image '.*tiny\.png' is 8x30 \(HxW\): val: metrics: ssim needs at least 11 pixels a "
        r'side after crop_border = 0 \(its window; smaller gives NaN\)',
    )
    del opt['val']['metrics']['ssim']
    check_options(opt)  # PSNR has no window


def test_two_test_images_with_one_name(demo_data, tmp_path):
    import shutil as sh

    folder = _images(tmp_path / 'val', {'a.png': (20, 20), 'b.png': (20, 20)})
    sh.copy(os.path.join(folder, 'a.png'), os.path.join(folder, 'a.bmp'))
    opt = search_opt(demo_data)
    opt['datasets']['val']['dataroot_gt'] = folder
    _refused(
        opt,
        r"datasets: val: dataroot_gt: 'a.bmp', 'a.png' share a name: their outputs and metrics would "
        'overwrite each other',
    )


@pytest.mark.parametrize(
    'content, problem',
    [
        (b'', 'an empty file'),
        ('truncated', r'cannot be decoded \(truncated, or not an image\)'),
        (b'plain text, not an image', r'cannot be decoded \(truncated, or not an image\)'),
    ],
)
def test_unreadable_validation_images_before_the_first_iteration(demo_data, tmp_path, content, problem):
    folder = _images(tmp_path / 'val', {'a.png': (20, 20)})
    if content == 'truncated':
        data = open(os.path.join(folder, 'a.png'), 'rb').read()
        content = data[: len(data) // 2]
    open(os.path.join(folder, 'b.png'), 'wb').write(content)
    opt = search_opt(demo_data)
    opt['datasets']['val']['dataroot_gt'] = folder
    _refused(opt, rf"datasets: val: dataroot_gt: image '.*b\.png': {problem}; expected an image file")


def test_a_dataset_that_reads_scale_needs_it(demo_data):
    """BasicSR's paired datasets read opt['scale'], which its parser copies only when the file has it."""
    from basicsr.data.paired_image_dataset import PairedImageDataset

    from clearer_basicsr.options_check import reads_scale

    assert reads_scale(PairedImageDataset)
    opt = search_opt(demo_data)
    opt['datasets']['val'].update(type='PairedImageDataset', dataroot_lq=opt['datasets']['val']['dataroot_gt'])
    _refused(
        opt, r"datasets: val: PairedImageDataset reads 'scale', which the option file does not give; expected scale: 1"
    )


def test_data_faults_found_once_running_are_one_line_with_status_2(demo_data, tmp_path):
    """Too few samples for a batch, an image that cannot be decoded: found when the loader is
    built or the image read, they are DataErrors (one error: line, status 2), not tracebacks."""
    from conftest import noise_dataset

    from clearer_basicsr.data.gaussian_noise_dataset import GaussianNoiseDataset
    from clearer_basicsr.data.samplers import build_train_loader
    from clearer_basicsr.errors import DataError

    opt = dict(noise_dataset(demo_data['arch_folder']), phase='train', batch_size_per_gpu=64, dataset_enlarge_ratio=1)
    run = {'world_size': 1, 'rank': 0, 'num_gpu': 0, 'dist': False, 'manual_seed': 0}
    with pytest.raises(DataError, match=r'has 4 samples, fewer than batch_size_per_gpu=64'):
        build_train_loader(opt, run)
    folder = tmp_path / 'images'
    shutil.copytree(demo_data['arch_folder'], folder)
    first = sorted(p for p in os.listdir(folder) if p.endswith('.png'))[0]
    data = (folder / first).read_bytes()
    (folder / first).write_bytes(data[: len(data) // 3])  # truncated after the pre-check read its header
    dataset = GaussianNoiseDataset(dict(noise_dataset(str(folder), phase='val'), phase='val'))
    with pytest.raises(DataError, match='cannot decode image'):
        [dataset[i] for i in range(len(dataset))]


def test_a_validation_file_that_cannot_be_opened_or_an_lmdb_that_cannot_be_read(demo_data, tmp_path):
    """A broken link in a validation folder, a damaged LMDB: the pre-check names them (before, it
    crashed itself on them)."""
    folder = tmp_path / 'val'
    shutil.copytree(demo_data['arch_folder'], folder)
    os.symlink(tmp_path / 'gone.png', folder / 'zz_gone.png')
    opt = search_opt(demo_data)
    opt['datasets']['val'] = dict(opt['datasets']['val'], dataroot_gt=str(folder), io_backend={'type': 'disk'})
    _refused(opt, r"datasets: val: dataroot_gt: image '.*zz_gone.png': cannot be opened")
    damaged = tmp_path / 'arch.lmdb'
    shutil.copytree(demo_data['arch_lmdb'], damaged)
    data = (damaged / 'data.mdb').read_bytes()
    (damaged / 'data.mdb').write_bytes(data[:4096] + bytes(len(data) - 4096))  # pages after the first zeroed
    opt = search_opt(demo_data)
    opt['datasets']['val'] = dict(opt['datasets']['val'], dataroot_gt=str(damaged), io_backend={'type': 'lmdb'})
    _refused(opt, r'datasets: val: dataroot_gt: .*arch.lmdb')
