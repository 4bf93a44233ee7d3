"""Every shipped option file, and every plan of the project's own lab/, parses, builds its network
and its datasets (paths replaced by tiny synthetic data), and agrees with the files it names
(genotype of a search, checkpoint of a training run, the data layout of the preparation scripts).

The helpers that read the shipped files and point them at the tiny data are in helpers.py.
"""

import contextlib
import copy
import functools
import glob
import os
import re

import pytest
import torch
import yaml
from basicsr.archs import build_network
from basicsr.data import build_dataset
from conftest import REPO
from helpers import OPTION_FILES, PLAN_FILES, dataset_entries, load_options, point_at_tiny_data, rel, to_plain

import clearer_basicsr  # noqa: F401  (registers the plugin)
from clearer_basicsr.archs.genotype import CANDIDATES, Genotype
from clearer_basicsr.options_check import check_options
from clearer_basicsr.tools.evaluate import read_plan

TRAIN_PHASES = ('train', 'val')
TEST_PHASES = ('test', 'val')


# ------------------------------------------------------------------------------ the files and their links


@functools.cache
def _options_by_name():
    return {load_options(p)['name']: p for p in OPTION_FILES}


def search_file_for(genotype_path):
    """The shipped search option file whose experiment writes ``genotype_path``."""
    parts = genotype_path.replace('\\', '/').split('/')
    assert parts[0] == 'experiments' and parts[-1] == 'genotype.yml', genotype_path
    path = _options_by_name().get(parts[1])
    assert path is not None, f'no shipped option file is named {parts[1]!r} (it would write {genotype_path})'
    return path


def network_for_build(opt):
    """``network_g`` ready to build: a CLEARERNet's genotype file (written by a search that has
    not run here) becomes an explicit genotype of the search's preset."""
    net_opt = copy.deepcopy(opt['network_g'])
    compact = isinstance(net_opt.get('genotype'), str) and '|' in net_opt['genotype']
    if net_opt['type'] == 'CLEARERNet' and isinstance(net_opt['genotype'], str) and not compact:
        search = load_options(search_file_for(net_opt['genotype']))
        search_net = search['network_g']
        assert search['model_type'] == 'CLEARERSearchModel' and search_net['type'] == 'CLEARERSearchNet'
        for key in ('in_channels', 'out_channels', 'stem_blocks', 'stem_width', 'residual'):
            assert net_opt.get(key) == search_net.get(key), f'network_g: {key} differs from the search file'
        channels, per_cell = search_net['branch_channels'], search_net['columns_per_cell']
        choices = [CANDIDATES[i % 2] for i in range(per_cell * (len(channels) - 1))]
        net_opt['genotype'] = {
            'cells': [choices[i : i + per_cell] for i in range(0, len(choices), per_cell)],
            'branch_channels': channels,
            'columns_per_cell': per_cell,
        }
    return net_opt


@contextlib.contextmanager
def parameters_on_meta():
    """Modules built inside keep their parameters on the meta device: no memory and no
    initialisation cost (paper-scale SwinIR takes seconds to initialise on a CPU)."""
    register = torch.nn.Module.register_parameter

    def on_meta(module, name, param):
        if param is not None:
            param = torch.nn.Parameter(param.to('meta'), requires_grad=param.requires_grad)
        register(module, name, param)

    torch.nn.Module.register_parameter = on_meta
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = register


@functools.cache
def build_cached(net_yaml):
    """The network of a ``network_g`` (as YAML text: train and test files share one build),
    parameters on the meta device where the network allows it."""
    net_opt = yaml.safe_load(net_yaml)
    try:
        with parameters_on_meta():
            return build_network(copy.deepcopy(net_opt))
    except RuntimeError:  # e.g. RIDNet's MeanShift assigns CPU data to its weight
        return build_network(net_opt)


def in_channels(net_opt):
    for key in ('in_channels', 'in_chans'):
        if key in net_opt:
            return net_opt[key]
    raise KeyError(f'no input channel key in {dict(net_opt)}')


def size_multiple(net_opt):
    """The multiple every input size must be for this network."""
    if net_opt['type'] == 'SwinIR':
        return net_opt['window_size']
    if net_opt['type'] in ('CLEARERNet', 'CLEARERSearchNet'):
        channels = net_opt.get('branch_channels') or Genotype.from_any(net_opt['genotype']).branch_channels
        return 2 ** (len(channels) - 1)
    return 1


# ------------------------------------------------------------------------------ tests


def test_the_option_files_are_found():
    names = {rel(p) for p in OPTION_FILES}
    assert len(names) >= 40
    # the project's own plans (lab/, not installed) are checked with the package's
    assert {'lab/photos/train.yml', 'lab/photos/search.yml', 'lab/photos/test.yml'} <= names
    assert {'options/evaluate/demo/evaluate.yml', 'lab/photos/evaluate.yml'} <= {rel(p) for p in PLAN_FILES}
    assert not [n for n in names if '/records/' in n]  # records are not option files to check
    for stage in ('search', 'train', 'test'):
        for task in (
            'denoise',
            'denoise_s50',
            'denoise_s70',
            'denoise_color',
            'denoise_blind',
            'derain',
            'sidd',
            'gopro',
        ):
            assert f'options/{stage}_clearer_{task}.yml' in names
    for net in ('dncnn_gray', 'swinir_gray', 'dncnn_color', 'ridnet_color', 'swinir_color'):
        for stage in ('train', 'test'):
            assert f'options/baselines/demo/{stage}_{net}.yml' in names
            assert f'options/baselines/{stage}_{net}_s30.yml' in names


def test_names_are_unique():
    names = [load_options(p)['name'] for p in OPTION_FILES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize('path', OPTION_FILES, ids=rel)
def test_option_file_builds(path, tiny_data, tmp_path):
    opt = load_options(path)
    is_test = 'train' not in opt
    for key in ('name', 'model_type', 'network_g', 'datasets', 'path'):
        assert key in opt, f'{rel(path)}: {key} is missing'
    assert 'genotype' not in opt['path'], 'a genotype under path: becomes a folder (make_exp_dirs)'

    # the network (parameters on the meta device), its first and last convolutions matching the
    # data's channels; small networks also run a forward pass at a valid size
    net_opt = network_for_build(opt)
    net = build_cached(yaml.safe_dump(to_plain(net_opt)))
    channels = in_channels(net_opt)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].in_channels == channels and convs[-1].out_channels == channels
    multiple = size_multiple(net_opt)
    if sum(p.numel() for p in net.parameters()) < 1_000_000:
        side = max(16, 2 * multiple)
        with torch.no_grad():
            out = build_network(copy.deepcopy(net_opt)).eval()(torch.rand(1, channels, side, side))
        assert out.shape == (1, channels, side, side)
    if net_opt['type'] == 'RIDNet':
        assert channels == 3 and net_opt.get('img_range') == 1, 'RIDNet: 3 channels, img_range 1 on [0, 1] data'
    if net_opt['type'] == 'SwinIR':
        assert net_opt['upscale'] == 1 and net_opt['upsampler'] == '' and net_opt['img_range'] == 1

    # the datasets, on tiny data
    entries = dataset_entries(opt)
    phases = {phase for _, phase, _ in entries}
    assert phases <= set(TEST_PHASES if is_test else TRAIN_PHASES), f'{rel(path)}: phases {phases}'
    if opt['model_type'] == 'CLEARERSearchModel':
        assert any(where == 'train: arch_dataset' for where, _, _ in entries), 'a search needs train: arch_dataset'
    for where, phase, dataset_opt in entries:
        if dataset_opt['type'] == 'PairedImageDataset':
            assert opt.get('scale') == 1, 'PairedImageDataset reads the top-level scale: paired options need scale: 1'
            lq, gt = dataset_opt['dataroot_lq'], dataset_opt['dataroot_gt']
            assert lq.replace('lq', 'gt') == gt, f'{where}: lq {lq} and gt {gt} do not pair up'
        roots = [dataset_opt.get('dataroot_gt'), dataset_opt.get('dataroot_lq')]
        assert all(r is None or r.startswith('datasets/') for r in roots), f'{where}: data outside datasets/'
        is_lmdb = (dataset_opt.get('io_backend') or {}).get('type') == 'lmdb'
        if where == 'train: arch_dataset' or (phase == 'val' and is_lmdb):
            assert all(r is None or ('arch' in r and 'test' not in r) for r in roots), (
                f'{where}: the arch split must be the held-apart arch split, never the test set'
            )
        assert phase != 'test' or not is_lmdb, f'{where}: test sets are read from folders'
        if phase == 'train':
            assert dataset_opt['gt_size'] % multiple == 0, f'{where}: gt_size not a multiple of {multiple}'
        dataset = build_dataset(point_at_tiny_data(dataset_opt, tiny_data, phase, where == 'train: arch_dataset'))
        item = dataset[0]
        assert item['lq'].shape[0] == channels and item['gt'].shape[0] == channels, where
        if phase == 'train':
            assert item['gt'].shape[-2:] == (dataset_opt['gt_size'],) * 2

    # the project's own option checker accepts the file (as parse_options leaves it, on tiny data)
    checked = load_options(path)
    checked.update(is_train=not is_test, network_g=net_opt)
    if checked['path'].get('pretrain_network_g'):  # made by the training run this file follows
        checked['path']['pretrain_network_g'] = str(tmp_path / 'net_g.pth')
        (tmp_path / 'net_g.pth').touch()
    del dataset, item  # closes the LMDB environments the checker opens again
    for where, _, dataset_opt in entries:
        if where == 'train: arch_dataset':
            checked['train']['arch_dataset'] = dataset_opt
        else:
            checked['datasets'][where.split(': ')[1]] = dataset_opt
    check_options(checked)

    # validation / test settings
    val = opt.get('val') or {}
    if is_test:
        assert val.get('save_img') is not None and (not val['save_img'] or val.get('suffix')), (
            'test-time save_img needs val: suffix'
        )
        assert opt['path'].get('pretrain_network_g'), 'a test needs path: pretrain_network_g'
    if val:
        assert int(val.get('pad_multiple') or 1) % multiple == 0, f'val: pad_multiple must be a multiple of {multiple}'


@pytest.mark.parametrize('path', PLAN_FILES, ids=rel)
def test_evaluation_plans_read_and_name_shipped_files(path, monkeypatch):
    monkeypatch.chdir(REPO)  # where the plans' commands run (rank_against names a file under docs/)
    plan = read_plan(path)  # every key checked, every option file it names found
    assert load_options(plan['search'])['model_type'] in ('CLEARERSearchModel', 'CLEAREROneShotModel')
    assert load_options(plan['retrain'])['network_g']['type'] == 'CLEARERNet'
    assert 'train' not in load_options(plan['test'])


def test_no_search_chooses_or_validates_on_a_test_split():
    """A search's supernet curve and its logits read held-apart images: an arch split, never a
    test set (the search would pick its architecture on the images it is then tested on)."""
    searches = [p for p in OPTION_FILES if load_options(p).get('model_type') == 'CLEARERSearchModel']
    assert len(searches) >= 10
    for path in searches:
        opt = load_options(path)
        sets = [d for k, d in opt['datasets'].items() if k.startswith('val')] + [opt['train']['arch_dataset']]
        for dataset in sets:
            for key in ('dataroot_gt', 'dataroot_lq'):
                if key in dataset:
                    assert 'arch' in os.path.basename(dataset[key]), f'{rel(path)}: {dataset["name"]}: {key}'


def test_each_test_file_loads_what_a_training_file_trains():
    """The checkpoint a test file loads is written by a shipped training file with the same
    network, and the test data is that run's validation data (same set, same noise)."""
    test_files = [p for p in OPTION_FILES if 'train' not in load_options(p)]
    assert len(test_files) >= 20
    for path in test_files:
        opt = load_options(path)
        where = rel(path)
        parts = opt['path']['pretrain_network_g'].split('/')
        assert parts[0] == 'experiments' and parts[2:] == ['models', 'net_g_latest.pth'], where
        train_path = _options_by_name().get(parts[1])
        assert train_path is not None, f'{where}: no shipped option file is named {parts[1]!r}'
        train = load_options(train_path)
        assert dict(train['network_g']) == dict(opt['network_g']), f'{where}: network_g differs from {rel(train_path)}'
        assert train['model_type'] == opt['model_type'] == 'CLEARERRestorationModel', where
        assert opt.get('scale') == train.get('scale'), where
        train_val = {d['name']: d for k, d in train['datasets'].items() if k.startswith('val')}
        for key, test_set in opt['datasets'].items():
            if test_set['name'] in train_val:
                assert dict(test_set) == dict(train_val[test_set['name']]), f'{where}: {key}'
            for noise in ('sigma', 'sigma_range', 'in_ch'):
                if noise in train['datasets']['train'] and noise in test_set and 'blind' not in path:
                    assert test_set[noise] == train['datasets']['train'][noise], f'{where}: {key}: {noise}'


# ------------------------------------------------------------------------------ claims between files

SAME_AS = re.compile(r'^# same-as: (?P<path>\S+\.yml)(?: except: (?P<keys>.+))?$')


def header(path):
    """The comment lines above an option file's first key."""
    lines = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            if not line.startswith('#'):
                break
            lines.append(line.rstrip('\n'))
    return lines


def same_as_claims():
    """``(file, the file it claims to equal, the keys excepted)`` of every ``# same-as:`` line."""
    claims = []
    for path in OPTION_FILES:
        for line in header(path):
            match = SAME_AS.match(line)
            if match:
                keys = [k.strip() for k in (match['keys'] or '').split(',') if k.strip()]
                claims.append((path, os.path.join(REPO, match['path']), keys))
    return claims


def flatten(value, prefix=()):
    if isinstance(value, dict):
        return {key: v for k, sub in value.items() for key, v in flatten(sub, (*prefix, k)).items()}
    return {prefix: to_plain(value)}


def excepted_by(item, key):
    """``a:b`` names a section or key by its path; a single word also names that key anywhere."""
    parts = tuple(item.split(':'))
    return key[: len(parts)] == parts or (len(parts) == 1 and key[-1] == parts[0])


def test_equality_claims_are_machine_readable():
    """Every header that says one file equals another says it in a ``# same-as:`` line."""
    claims = same_as_claims()
    assert len(claims) >= 29
    for path in OPTION_FILES:
        for line in header(path):
            if line.startswith('# same-as'):
                assert SAME_AS.match(line), f'{rel(path)}: malformed claim {line!r}'
            assert not re.search(r'\bidentical to\b|\d[\d,]*k? iterations', line, re.I), (
                f'{rel(path)}: {line!r}: say it with a same-as line, or point to the key ("see total_iter")'
            )


@pytest.mark.parametrize('path, other, keys', same_as_claims(), ids=lambda v: rel(v) if isinstance(v, str) else '')
def test_same_as_claims_hold(path, other, keys):
    """A ``# same-as: OTHER except: KEYS`` header holds: the files differ in the excepted keys
    only, and every excepted key does differ (no stale exception)."""
    assert os.path.isfile(other), f'{rel(path)} claims equality with a file that does not exist: {rel(other)}'
    mine, theirs = flatten(load_options(path)), flatten(load_options(other))
    differing = {k for k in mine.keys() | theirs.keys() if mine.get(k, '<absent>') != theirs.get(k, '<absent>')}
    unexplained = sorted(':'.join(map(str, k)) for k in differing if not any(excepted_by(i, k) for i in keys))
    assert not unexplained, f'{rel(path)} differs from {rel(other)} in {unexplained}, which its header does not except'
    stale = [i for i in keys if not any(excepted_by(i, k) for k in differing)]
    assert not stale, f'{rel(path)} excepts {stale}, which do not differ from {rel(other)}'


def test_every_test_file_shows_a_progress_bar():
    """Long tests show progress: every test option file (the zoo's too) sets val: pbar: true."""
    zoo = glob.glob(os.path.join(REPO, 'zoo', '**', '*.yml'), recursive=True)
    test_files = [p for p in OPTION_FILES + zoo if 'train' not in load_options(p) and 'val' in load_options(p)]
    assert len(test_files) >= 20
    assert not [rel(p) for p in test_files if load_options(p)['val'].get('pbar') is not True]
