"""Plain helpers (functions and constants, no fixtures) shared by several test files; the
fixtures and the tiny option sets are in conftest.py. Test files import from here, never from
one another."""

import copy
import functools
import glob
import hashlib
import logging
import os
import sys

import cv2
import numpy as np
import yaml
from conftest import REPO, noise_dataset, search_options, train_options, write_yaml

# ------------------------------------------------------------------------------ the shipped option files
# Read as BasicSR reads them, and made to run on the tiny data (conftest.make_tiny_data):
# test_option_files.py, test_dataset_pointers.py, test_baselines.py.

# options/ is a link to the package's option folder (clearer_basicsr/options), where the installed
# ones live; lab/<study>/*.yml are the project's own plans (not installed), checked alike. Their
# records (lab/<study>/records/, copies of the runs' option files among them) are not read here.
SHIPPED_YAML = sorted(glob.glob(os.path.join(REPO, 'options', '**', '*.yml'), recursive=True))
LAB_YAML = sorted(glob.glob(os.path.join(REPO, 'lab', '*', '*.yml')))
ALL_YAML = SHIPPED_YAML + LAB_YAML
# evaluation plans are read by clearer-evaluate, not BasicSR: checked on their own
PLAN_FILES = [p for p in ALL_YAML if os.path.basename(p).startswith('evaluate')]
OPTION_FILES = [p for p in ALL_YAML if p not in PLAN_FILES]


def rel(path):
    return os.path.relpath(path, REPO)


@functools.cache
def _load_options(path):
    from basicsr.utils.options import ordered_yaml

    with open(path, encoding='utf-8') as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def load_options(path):
    """An option file as BasicSR's parse_options reads it (a fresh copy each call)."""
    return copy.deepcopy(_load_options(path))


def to_plain(value):
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def dataset_entries(opt):
    """(where, phase, options) of every dataset an option file builds, with the keys BasicSR's
    parse_options adds (``phase``, ``scale``) and the loader keys the search model copies into
    the arch split."""
    entries = []
    for key, dataset_opt in (opt.get('datasets') or {}).items():
        entries.append((f'datasets: {key}', key.split('_')[0], copy.deepcopy(dataset_opt)))
    arch = (opt.get('train') or {}).get('arch_dataset')
    if arch:
        arch = copy.deepcopy(arch)
        for key in ('batch_size_per_gpu', 'num_worker_per_gpu', 'gt_size', 'use_hflip', 'use_rot'):
            if key not in arch and key in opt['datasets']['train']:
                arch[key] = opt['datasets']['train'][key]
        entries.append(('train: arch_dataset', 'train', arch))
    for _, phase, dataset_opt in entries:
        dataset_opt['phase'] = phase
        if 'scale' in opt:
            dataset_opt['scale'] = opt['scale']
    return entries


def point_at_tiny_data(dataset_opt, data, phase, arch=False):
    """Replaces the data paths of one dataset entry with the tiny data (in place): training
    phases read the train split (the arch split with ``arch``), a validation LMDB the arch
    split (the held-apart photos a curve is measured on), other phases the test folders."""
    lmdb = (dataset_opt.get('io_backend') or {}).get('type') == 'lmdb'
    dataset_opt.pop('meta_info_file', None)
    from_split = phase == 'train' or lmdb
    split = 'arch_' if arch or (lmdb and phase != 'train') else ''
    if dataset_opt['type'] == 'PairedImageDataset':
        if from_split:
            dataset_opt['dataroot_lq'] = data[split + ('lq_lmdb' if lmdb else 'lq')]
            dataset_opt['dataroot_gt'] = data[split + ('gt_lmdb' if lmdb else 'gt')]
        else:
            dataset_opt['dataroot_lq'], dataset_opt['dataroot_gt'] = data['test_lq'], data['test_gt']
    else:
        dataset_opt['dataroot_gt'] = data[split + ('clean_lmdb' if lmdb else 'clean')] if from_split else data['test']
    if phase == 'train':
        dataset_opt['num_worker_per_gpu'] = 0
    return dataset_opt


def tiny_train_options(path, data, total_iter=2):
    """A shipped training option file on the tiny data: 2 iterations, batch 2, patches of at
    most 16 px, no TensorBoard; networks and optimisers unchanged."""
    opt = to_plain(load_options(path))
    for key, dataset_opt in opt['datasets'].items():
        point_at_tiny_data(dataset_opt, data, key.split('_')[0])
    train_set = opt['datasets']['train']
    train_set.update(batch_size_per_gpu=2, gt_size=min(train_set['gt_size'], 16), dataset_enlarge_ratio=4)
    opt['train']['total_iter'] = total_iter
    opt['logger'].update(print_freq=1, save_checkpoint_freq=10**6, use_tb_logger=False)
    return opt


def tiny_test_options(path, data):
    opt = to_plain(load_options(path))
    for key, dataset_opt in opt['datasets'].items():
        point_at_tiny_data(dataset_opt, data, key.split('_')[0])
    return opt


# ------------------------------------------------------------------------------ in-process test runs
# The test entry point in this process (conftest.run_train_inprocess is its training twin):
# test_baselines.py, test_compare.py.


def fresh_basicsr_log():
    """Forgets BasicSR's 'basicsr' logger so that the next run in this process gets its own log
    file (BasicSR adds the file handler only when the logger is first made)."""
    from basicsr.utils import logger as basicsr_logger

    logger = logging.getLogger('basicsr')
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    basicsr_logger.initialized_logger.pop('basicsr', None)


def run_test_inprocess(opt_file, cwd):
    """``python -m clearer_basicsr.test -opt opt_file`` in this process."""
    from clearer_basicsr import test as test_entry

    argv, old_cwd = sys.argv, os.getcwd()
    sys.argv = ['clearer-test', '-opt', str(opt_file)]
    os.chdir(cwd)
    try:
        fresh_basicsr_log()
        test_entry.main()
    finally:
        sys.argv = argv
        os.chdir(old_cwd)


# ------------------------------------------------------------------------------ evaluation plans
# A tiny search / retrain / test preset and the evaluation plan over it: test_evaluate.py, test_cli.py.

EVALUATE_NET = {'in_channels': 1, 'out_channels': 1, 'stem_blocks': 1, 'stem_width': 2, 'residual': True}
EVALUATE_SPACE = {'branch_channels': [4, 8, 16], 'columns_per_cell': 2}  # 16 genotypes


def templates(demo_data, root, space=EVALUATE_SPACE):
    search = search_options(
        demo_data,
        'tpl_search',
        total_iter=6,
        optim_arch={'type': 'Adam', 'lr': 0.05, 'weight_decay': 0.0},
        arch_loss={'type': 'CLEARERArchLoss', 'lambda_arch': 0.01, 'complexity': 'flops'},
    )
    search['network_g'] = {'type': 'CLEARERSearchNet', **EVALUATE_NET, **space}
    del search['val'], search['datasets']['val']
    retrain = train_options(
        demo_data, 'tpl_train', network_g={'type': 'CLEARERNet', 'genotype': 'x', **EVALUATE_NET}, total_iter=5
    )
    # validated on the held-apart split at 2, 4 and 5 (the last): a curve to read convergence from
    retrain['datasets']['val'] = noise_dataset(demo_data['arch_folder'], phase='val')
    retrain['val'].update(val_freq=2, pad_multiple=4)
    test = copy.deepcopy(
        train_options(demo_data, 'tpl_test', network_g={'type': 'CLEARERNet', 'genotype': 'x', **EVALUATE_NET})
    )
    test = {
        'name': 'tpl_test',
        'model_type': 'CLEARERRestorationModel',
        'num_gpu': 'auto',
        'datasets': {'test_1': noise_dataset(demo_data['test_folder'], phase='test')},
        'network_g': test['network_g'],
        'path': {'pretrain_network_g': 'x.pth', 'strict_load_g': True},
        'val': {'save_img': False, 'pad_multiple': 4, 'metrics': test['val']['metrics']},
    }
    files = {
        key: write_yaml(root / f'{key}.yml', opt)
        for key, opt in (('search', search), ('retrain', retrain), ('test', test))
    }
    return files, retrain, test


def evaluation_file(root, files, **plan):
    plan = {'name': 'tinyeval', 'budgets': [0.6], 'search_seeds': [0], 'retrain_seeds': [0], 'random': 3,
            'bm3d': False, **files, **plan}  # fmt: skip
    return write_yaml(root / 'evaluate.yml', plan)


# ------------------------------------------------------------------------------ raw datasets for clearer-prepare
# Tiny synthetic downloads in the layouts the preparation commands read:
# test_prepare_scripts.py, test_cli.py, test_surroundings.py.


def noise(rng, h=40, w=48, c=3):
    return rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)


def smooth(rng, h=40, w=48):
    return cv2.resize(noise(rng, 5, 6), (w, h), interpolation=cv2.INTER_CUBIC)


def write(path, img):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return str(path)


def make_bsds(root, rng):
    images = root / 'BSR' / 'BSDS500' / 'data' / 'images'
    for split, ids in (('train', (101, 102, 103)), ('val', (201, 202)), ('test', (301, 302))):
        for i in ids:
            write(images / split / f'{i}.jpg', noise(rng))
    (images / 'train' / 'Thumbs.db').write_bytes(b'not an image')
    return images


def make_rain800(root, rng, train_ids=range(1, 7), test_ids=(101, 102)):
    """Side-by-side files, clean (smooth) left and rainy (clean + bright streaks) right."""
    for folder, ids in (('training', train_ids), ('test_syn', test_ids)):
        for i in ids:
            clean = smooth(rng)
            rainy = clean.copy()
            for x in rng.integers(-20, 48, 8):
                cv2.line(rainy, (int(x), 0), (int(x) + 12, 39), (255, 255, 255), 1)
            write(root / folder / f'{i}.jpg', np.hstack([clean, rainy]))
    return root


# ------------------------------------------------------------------------------ a trained network
# A CLEARER net with trained-looking weights and its test option file, for the tools that load
# one (infer, export): test_infer.py, test_export.py, test_surroundings.py.

INFER_NET = {  # 3 branches: size multiple 4
    'type': 'CLEARERNet',
    'genotype': 'P F | F P',
    'branch_channels': [4, 8, 16],
    'columns_per_cell': 2,
    'stem_blocks': 1,
    'stem_width': 2,
    'residual': True,
    'init_std': 0.1,
}


MACRO_GENOTYPE = 'F P @ 6 12'  # a macro-space genotype (archs/widths.py): its own channels, one cell, multiple 2


def trained_net(in_channels=1, genotype=None):
    """A CLEARER net with weights and BatchNorm statistics far from their initial values (of
    ``genotype`` when given, e.g. :data:`MACRO_GENOTYPE`)."""
    import torch

    from clearer_basicsr.archs.clearer_arch import CLEARERNet

    torch.manual_seed(0)
    options = {k: v for k, v in INFER_NET.items() if k != 'type'}
    if genotype:
        options.update(genotype=genotype, branch_channels=None)
    net = CLEARERNet(**options, in_channels=in_channels, out_channels=in_channels)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2)
    return net.eval()


def option_file_for(tmp_path, net):
    """A test option file for ``net``'s weights (saved as BasicSR saves them)."""
    import torch

    torch.save({'params': net.state_dict()}, tmp_path / 'net_g.pth')
    network = {**INFER_NET, 'in_channels': net.in_channels, 'out_channels': net.out_channels}
    if net.genotype().searched_channels:  # a macro genotype states its channels
        network.update(genotype=str(net.genotype()))
        del network['branch_channels']
    opt = {
        'name': 'infer_test',
        'model_type': 'CLEARERRestorationModel',
        'num_gpu': 0,
        'datasets': {},
        'network_g': network,
        'path': {'pretrain_network_g': str(tmp_path / 'net_g.pth'), 'strict_load_g': True},
        'val': {'pbar': True},
    }
    return write_yaml(tmp_path / 'test.yml', opt)


# ------------------------------------------------------------------------------ files on disk
# What a fault must leave untouched: test_faults.py, test_surroundings.py.


def hashes(root):
    """sha256 of every file under ``root`` (relative path -> digest)."""
    found = {}
    for path in sorted(glob.glob(os.path.join(str(root), '**', '*'), recursive=True)):
        if os.path.isfile(path):
            with open(path, 'rb') as f:
                found[os.path.relpath(path, str(root))] = hashlib.sha256(f.read()).hexdigest()
    return found
