"""``python -m clearer_basicsr.compare`` on tiny trained runs: one row each, finite numbers, and
PSNR equal to a direct recomputation (checkpoint -> network -> outputs -> BasicSR's PSNR)."""

import csv
import math
import os

import numpy as np
import torch
from basicsr.archs import build_network
from basicsr.data import build_dataset
from basicsr.metrics import calculate_psnr
from basicsr.utils import tensor2img
from conftest import REPO, run_train_inprocess, write_yaml
from helpers import fresh_basicsr_log, run_test_inprocess, tiny_test_options, tiny_train_options

from clearer_basicsr.archs.arch_util import pad_to_multiple
from clearer_basicsr.archs.genotype import Genotype
from clearer_basicsr.inference import self_ensemble
from clearer_basicsr.search_result import SearchResult, resolve_genotype_files
from clearer_basicsr.tools import compare

DNCNN_TRAIN = os.path.join(REPO, 'options', 'baselines', 'demo', 'train_dncnn_gray.yml')
CLEARER_TRAIN = os.path.join(REPO, 'options', 'demo', 'train_clearer_color.yml')


def opposite_test_file(train_file):
    return os.path.join(os.path.dirname(train_file), os.path.basename(train_file).replace('train_', 'test_'))


GENOTYPE = Genotype.parse('P F F P | F P P F', branch_channels=[8, 16, 32])


def direct_psnr(root, net_opt, checkpoint, dataset_opt, val_opt):
    """Mean PSNR of the network's own outputs on the test set, computed here from scratch."""
    net_opt = dict(net_opt)
    if isinstance(net_opt.get('genotype'), str):
        net_opt['genotype'] = os.path.join(root, net_opt['genotype'])
    net = build_network(resolve_genotype_files({'network_g': net_opt})['network_g'])
    net.load_state_dict(torch.load(os.path.join(root, checkpoint), map_location='cpu')['params'])
    net.eval()
    dataset = build_dataset(dict(dataset_opt, phase='test'))
    scores = []
    with torch.no_grad():
        for item in dataset:
            lq = item['lq'][None]
            h, w = lq.shape[-2:]
            x = pad_to_multiple(lq, int(val_opt.get('pad_multiple') or 1))
            out = (self_ensemble(net, x) if val_opt.get('self_ensemble') else net(x))[..., :h, :w]
            scores.append(calculate_psnr(tensor2img(out), tensor2img(item['gt']), crop_border=0))
    return float(np.mean(scores))


def test_compare_two_tiny_runs(tiny_data, tmp_path):
    # run 1: the DnCNN demo baseline, trained and tested (a results folder)
    dncnn = tiny_train_options(DNCNN_TRAIN, tiny_data)
    fresh_basicsr_log()
    run_train_inprocess(write_yaml(tmp_path / 'dncnn_train.yml', dncnn), tmp_path)
    dncnn_test = tiny_test_options(opposite_test_file(DNCNN_TRAIN), tiny_data)
    run_test_inprocess(write_yaml(tmp_path / 'dncnn_test.yml', dncnn_test), tmp_path)

    # run 2: the colour demo CLEARER net (genotype as a search would leave it), an experiment
    # folder read through its copied option file, whose # CMD: line renames the run
    search_dir = tmp_path / 'experiments' / 'demo_clearer_color_search'
    os.makedirs(search_dir)
    SearchResult(GENOTYPE).save(search_dir / 'genotype.yml')
    clearer = tiny_train_options(CLEARER_TRAIN, tiny_data)
    clearer['datasets']['val'] = tiny_test_options(opposite_test_file(CLEARER_TRAIN), tiny_data)['datasets']['test_1']
    clearer['val'] = {
        'val_freq': 10**6,
        'save_img': False,
        'pad_multiple': 4,
        'metrics': {
            'psnr': {'type': 'calculate_psnr', 'crop_border': 0},
            'ssim': {'type': 'calculate_ssim', 'crop_border': 0},
        },
    }
    fresh_basicsr_log()
    run_train_inprocess(
        write_yaml(tmp_path / 'clearer_train.yml', clearer), tmp_path, '--force_yml', 'name=tiny_clearer_forced'
    )

    results = str(tmp_path / 'results' / dncnn_test['name'])
    experiment = str(tmp_path / 'experiments' / 'tiny_clearer_forced')
    out = str(tmp_path / 'cmp' / 'table')
    rows = compare.main([results, experiment, '--out', out, '--size', '32', '--repeats', '1'])

    assert [r['network'] for r in rows] == [dncnn_test['name'], 'tiny_clearer_forced']
    for row in rows:
        for key in ('psnr', 'ssim', 'cpu_ms_per_mp'):
            assert math.isfinite(row[key]) and row[key] > 0, (row['network'], key)
        assert row['params'] > 0 and row['macs'] > 0 and row['mac_size'] == 32
    assert rows[0]['genotype'] == '' and rows[1]['genotype'] == str(GENOTYPE)
    assert (rows[0]['channels'], rows[1]['channels']) == (1, 3)

    expected = [
        direct_psnr(
            tmp_path,
            dncnn_test['network_g'],
            dncnn_test['path']['pretrain_network_g'],
            dncnn_test['datasets']['test_1'],
            dncnn_test['val'],
        ),
        direct_psnr(
            tmp_path,
            clearer['network_g'],
            'experiments/tiny_clearer_forced/models/net_g_latest.pth',
            clearer['datasets']['val'],
            clearer['val'],
        ),
    ]
    for row, psnr in zip(rows, expected):
        assert abs(row['psnr'] - psnr) < 1e-4, (row['network'], row['psnr'], psnr)  # the log prints 4 decimals
    net = build_network(dict(dncnn_test['network_g']))
    assert rows[0]['params'] == sum(p.numel() for p in net.parameters())

    with open(out + '.csv', newline='') as f:
        table = list(csv.DictReader(f))
    assert [float(r['psnr']) for r in table] == [r['psnr'] for r in rows]
    with open(out + '.md') as f:
        text = f.read()
    assert 'P F F P \\| F P P F' in text and dncnn_test['name'] in text
    assert os.path.getsize(out + '.png') > 1000

    # --recompute reads the saved test images instead of the log: the same numbers, unrounded
    recomputed = compare.main([results, '--out', out + '_re', '--size', '32', '--no-latency', '--recompute'])
    assert abs(recomputed[0]['psnr'] - expected[0]) < 1e-9 and recomputed[0]['metrics_from'] == 'recomputed'


def test_latency_is_the_fastest_pass_so_that_other_work_does_not_inflate_it(monkeypatch):
    """Passes slowed by other work on the machine (here 3 of 5) do not move the figure: it is the
    fastest pass, per megapixel."""
    durations = iter([0.1, 0.9, 0.2, 0.8, 0.2, 0.7])  # warm-up (not counted), then the 5 timed passes
    clock = {'now': 0.0, 'started': False}

    def perf_counter():  # each pair of calls brackets one pass and spends the next duration
        if clock['started']:
            clock['now'] += next(durations)
        clock['started'] = not clock['started']
        return clock['now']

    monkeypatch.setattr(compare.time, 'perf_counter', perf_counter)
    ms_per_mp = compare.latency_ms_per_mp(torch.nn.Identity(), 1, 100, repeats=5, budget_s=100.0)
    assert math.isclose(ms_per_mp, 0.2 * 1e3 / (100 * 100 / 1e6))
