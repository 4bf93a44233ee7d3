"""The model zoo: each zoo/<entry>/test.yml loads its network, which really restores an image."""

import glob
import os

import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_psnr
from conftest import REPO

from clearer_basicsr.tools.trained_net import load_trained_network

ENTRIES = sorted(glob.glob(os.path.join(REPO, 'zoo', '*', 'test.yml')))


def test_the_zoo_has_entries():
    assert ENTRIES, 'zoo/ holds no entry with a test.yml'


@pytest.mark.parametrize('test_yml', ENTRIES, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_zoo_entry_loads_its_net_and_restores_a_noisy_photo(test_yml, monkeypatch):
    from skimage import data

    monkeypatch.chdir(REPO)  # the entry's paths are relative to the repository root
    net, opt = load_trained_network(os.path.relpath(test_yml, REPO))
    entry = os.path.dirname(test_yml)
    assert os.path.isfile(os.path.join(entry, 'genotype.yml')) and os.path.isfile(os.path.join(entry, 'genotype.png'))
    assert os.path.getsize(opt['path']['pretrain_network_g']) < 5 * 2**20  # a few MB at most
    (dataset,) = opt['datasets'].values()
    sigma, channels = dataset['sigma'], dataset['in_ch']
    clean = data.camera()[:200, :232].astype(np.float32) / 255  # odd to the nets' size multiple
    if channels == 3:
        clean = np.repeat(clean[..., None], 3, axis=2)
    else:
        clean = clean[..., None]
    noise = np.random.default_rng(0).normal(0, sigma / 255, clean.shape).astype(np.float32)
    noisy = torch.from_numpy(clean + noise).permute(2, 0, 1)[None]
    with torch.no_grad():
        restored = net(noisy)[0].permute(1, 2, 0).clamp(0, 1).numpy()

    def psnr(img):
        return calculate_psnr(np.round(img * 255), np.round(clean * 255), crop_border=0)

    assert restored.shape == clean.shape
    assert psnr(restored) > psnr(np.clip(clean + noise, 0, 1)) + 5  # sigma 30: ~19 dB noisy
