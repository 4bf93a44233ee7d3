"""Shared pytest fixtures and helpers: tiny option sets, in-process runs, one shared search."""

import copy
import gc
import os

# Tiny tensors gain nothing from intra-op threads, and on 2 shared cores threads oversubscribe
# (tens of times slower). Set before torch is imported; subprocesses inherit it.
os.environ.setdefault('OMP_NUM_THREADS', '1')
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SEARCH_NET = {
    'type': 'CLEARERSearchNet',
    'in_channels': 1,
    'out_channels': 1,
    'branch_channels': [4, 8],
    'columns_per_cell': 2,
    'stem_blocks': 1,
    'stem_width': 2,
    'residual': True,
}


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """The demo data (scikit-image splits), built once per test session; returns its paths."""
    from clearer_basicsr.data.demo_data import make_demo_data

    return make_demo_data(str(tmp_path_factory.mktemp('demo_data') / 'demo'))


def noise_dataset(root, phase='train', **extra):
    """GaussianNoiseDataset options on a demo split (folder or .lmdb)."""
    opt = {
        'name': os.path.basename(root),
        'type': 'CLEARERGaussianNoiseDataset',
        'dataroot_gt': root,
        'io_backend': {'type': 'lmdb' if root.endswith('.lmdb') else 'disk'},
        'in_ch': 1,
        'sigma': 30,
    }
    if phase == 'train':
        opt.update(gt_size=16, use_hflip=True, use_rot=True, num_worker_per_gpu=0, batch_size_per_gpu=2)
    opt.update(extra)
    return opt


def train_options(demo_data, name, network_g=None, model_type='CLEARERRestorationModel', total_iter=4, **train):
    """A complete, tiny BasicSR training option dict (as a YAML file would hold)."""
    opt = {
        'name': name,
        'model_type': model_type,
        'num_gpu': 'auto',
        'manual_seed': 0,
        'datasets': {
            'train': noise_dataset(demo_data['train_lmdb']),
            'val': noise_dataset(demo_data['test_folder'], phase='val'),
        },
        'network_g': network_g
        or {'type': 'CLEARERDnCNN', 'in_channels': 1, 'out_channels': 1, 'num_feat': 8, 'num_layers': 3},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'optim_g': {'type': 'Adam', 'lr': 1e-3},
            'total_iter': total_iter,
            'warmup_iter': -1,
            'scheduler': {'type': 'MultiStepLR', 'milestones': [10**6], 'gamma': 0.5},
            'pixel_opt': {'type': 'MSELoss', 'loss_weight': 1.0},
        },
        'val': {
            'val_freq': 10**6,
            'save_img': False,
            'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}},
        },
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False},
    }
    opt['train'].update(train)
    return opt


def search_options(demo_data, name, total_iter=6, **train):
    """A tiny CLEARER search (2-branch supernet, 4 columns) on the demo data."""
    search = {
        'arch_dataset': noise_dataset(demo_data['arch_lmdb']),
        'arch_warmup_iter': 2,
        'optim_g': {'type': 'SGD', 'lr': 0.025, 'momentum': 0.9, 'weight_decay': 3e-4},
        'optim_arch': {'type': 'Adam', 'lr': 0.05, 'betas': [0.5, 0.999], 'weight_decay': 1e-3},
        'arch_loss': {'type': 'CLEARERArchLoss', 'lambda_arch': 0.01, 'lambda_comp': 1.0, 'complexity': 'flops'},
        'grad_clip': 5,
    }
    search.update(train)
    return train_options(
        demo_data,
        name,
        network_g=dict(TINY_SEARCH_NET),
        model_type='CLEARERSearchModel',
        total_iter=total_iter,
        **search,
    )


def one_shot_options(demo_data, name, total_iter=6, **train):
    """A tiny one-shot search (model_type CLEAREROneShotModel): the supernet and splits of
    :func:`search_options`, without the DARTS search's keys."""
    from clearer_basicsr.models.search_options import DARTS_KEYS

    opt = search_options(demo_data, name, total_iter=total_iter, **train)
    opt['model_type'] = 'CLEAREROneShotModel'
    for key in DARTS_KEYS:
        if key not in train:
            opt['train'].pop(key, None)
    return opt


def write_yaml(path, opt):
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return str(path)


def model_options(opt, root, is_train=True, dist=False, rank=0, world_size=1):
    """``opt`` completed as BasicSR's parse_options would, for building a model in-process."""
    from clearer_basicsr.option_file import run_folders

    opt = copy.deepcopy(opt)
    opt.update(
        is_train=is_train,
        dist=dist,
        rank=rank,
        world_size=world_size,
        auto_resume=False,
        root_path=str(root),
        num_gpu=0,
    )
    for phase, dataset in opt['datasets'].items():
        dataset['phase'] = phase.split('_')[0]
    opt['path'].update(run_folders(str(root), opt['name'], is_train=True))
    for key in ('models', 'training_states', 'visualization'):
        os.makedirs(opt['path'][key], exist_ok=True)
    return opt


def run_train_inprocess(opt_file, cwd, *flags):
    """``python -m clearer_basicsr.train -opt opt_file [flags]`` in this process (no import cost)."""
    from clearer_basicsr.train import train_pipeline

    old_cwd = os.getcwd()
    os.chdir(cwd)
    try:
        return train_pipeline(str(cwd), ['-opt', str(opt_file), *flags])
    finally:
        os.chdir(old_cwd)


def run_cli(args, cwd, env=None, timeout=600, program=None):
    """A fresh interpreter (or console script ``program``), as a user types it; returns the
    CompletedProcess, output included."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    return subprocess.run(
        [program or sys.executable, *args], cwd=str(cwd), env=full_env, capture_output=True, text=True, timeout=timeout
    )


TINY_SIZE = (136, 144)  # H, W of the training images: room for the largest gt_size (128)
TEST_SIZES = ((13, 12), (12, 14))  # not multiples of 8 (padding must crop back), >= 11 (SSIM's window)


def _image(rng, h, w):
    """A smooth colour picture with some edges (BGR uint8)."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + c) * np.cos(4 * y - c) for c in range(3)], -1)
    base += (x > 0.5)[..., None] * 0.6
    noise = rng.normal(0, 0.05, (h, w, 3))
    return np.clip((base + noise + 1) * 96, 0, 255).astype(np.uint8)


def make_tiny_data(root):
    """Under ``root``: clean images for the train and the arch split (folders + LMDBs), paired
    lq/gt images for both (folders + LMDBs with identical keys), and test folders of small sizes
    that are not multiples of 8; returns the paths."""
    from clearer_basicsr.data.lmdb_io import write_lmdb

    rng = np.random.default_rng(0)
    splits = {'': ('img0', 'img1', 'img2'), 'arch_': ('arch0', 'arch1')}  # disjoint names
    paths = {}
    for prefix, names in splits.items():
        for key in ('clean', 'lq', 'gt'):
            paths[prefix + key] = os.path.join(root, prefix + key)
            os.makedirs(paths[prefix + key])
        for name in names:
            img = _image(rng, *TINY_SIZE)
            cv2.imwrite(os.path.join(paths[prefix + 'clean'], f'{name}.png'), img)
            cv2.imwrite(os.path.join(paths[prefix + 'gt'], f'{name}.png'), img)
            degraded = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(os.path.join(paths[prefix + 'lq'], f'{name}.png'), degraded)
        for key in ('clean', 'lq', 'gt'):
            paths[prefix + key + '_lmdb'] = os.path.join(root, prefix + key + '.lmdb')
            write_lmdb(paths[prefix + key], paths[prefix + key + '_lmdb'])
    for key in ('test', 'test_lq', 'test_gt'):
        paths[key] = os.path.join(root, key)
        os.makedirs(paths[key])
    for i, (h, w) in enumerate(TEST_SIZES):
        img = _image(rng, h, w)
        cv2.imwrite(os.path.join(paths['test'], f'test{i}.png'), img)
        cv2.imwrite(os.path.join(paths['test_gt'], f'test{i}.png'), img)
        degraded = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(os.path.join(paths['test_lq'], f'test{i}.png'), degraded)
    return paths


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """Tiny synthetic images every shipped option file can be pointed at (see make_tiny_data)."""
    return make_tiny_data(str(tmp_path_factory.mktemp('tiny_data')))


@pytest.fixture(scope='session')
def basicsr_tree(tmp_path_factory):
    """A BasicSR source tree (the package folder of the installed basicsr, as its sdist holds it)."""
    import basicsr

    root = tmp_path_factory.mktemp('BasicSR')
    shutil.copytree(
        os.path.dirname(basicsr.__file__), root / 'basicsr', ignore=shutil.ignore_patterns('__pycache__', '*.so')
    )
    return root


@pytest.fixture(scope='session')
def tiny_search(demo_data, tmp_path_factory):
    """One tiny search run through the plugin's entry point, shared by the tests that read it."""
    root = tmp_path_factory.mktemp('tiny_search')
    opt = search_options(demo_data, 'tiny_search', total_iter=8)
    opt['logger']['save_checkpoint_freq'] = 4
    opt_file = write_yaml(root / 'search.yml', opt)
    model = run_train_inprocess(opt_file, root)
    # Keep results, not the model: it holds the demo LMDBs open, and LMDB refuses a second
    # opening of one environment in a process (later in-process runs read the same files).
    result = {
        'root': root,
        'opt_file': opt_file,
        'exp': root / 'experiments' / 'tiny_search',
        'genotype': model.supernet.genotype(),
        'logits': model.supernet.arch_logits.detach().clone(),
    }
    del model
    gc.collect()
    return result


@pytest.fixture(autouse=True)
def release_models():
    """Frees each test's models (and their open LMDB environments) before the next test."""
    yield
    gc.collect()


@pytest.fixture
def one_thread():
    """Tiny networks run fastest on one thread when the 2 cores are shared (and each test using
    it compares only with itself)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def quick_timing(monkeypatch):
    """Latency tables of a few runs per part: the tests check what is timed, not how well."""
    from clearer_basicsr.archs import latency

    monkeypatch.setattr(latency, 'ROUNDS', 2)
    monkeypatch.setattr(latency, 'RUNS', 1)
    monkeypatch.setattr(latency, 'WARMUP', 1)
