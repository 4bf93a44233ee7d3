"""The model zoo: each zoo/<entry>/test.yml loads its network, which really restores an image."""

import glob
import os
import re

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
    dataset = list(opt['datasets'].values())[-1]  # a blind entry's last test set: its highest noise level
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


# ----------------------------------------------------------------------------- the zoo as installed


def _noisy_pair(folder, sigma=30, seed=0):
    """A clean gray photo and its noisy copy (as 8-bit PNGs) under ``folder``; returns both arrays."""
    import cv2
    from skimage import data

    clean = data.camera()[:96, :120]
    noise = np.random.default_rng(seed).normal(0, sigma, clean.shape)
    noisy = np.clip(np.round(clean + noise), 0, 255).astype(np.uint8)
    os.makedirs(folder / 'clean', exist_ok=True)
    os.makedirs(folder / 'noisy', exist_ok=True)
    cv2.imwrite(str(folder / 'clean' / 'camera.png'), clean)
    cv2.imwrite(str(folder / 'noisy' / 'camera.png'), noisy)
    return clean, noisy


def test_every_card_states_what_its_entry_is():
    """Each card's genotype, parameters and MACs at 256x256 are those of the entry's network."""
    from clearer_basicsr.archs.complexity import candidate_costs, derived_cost
    from clearer_basicsr.tools.trained_net import trained_network
    from clearer_basicsr.tools.zoo import entries, entry_options, read_card

    assert set(entries()) == {os.path.basename(os.path.dirname(p)) for p in ENTRIES}
    for name in entries():
        card = read_card(name)
        net, _ = trained_network(entry_options(name), name)
        cost = derived_cost(candidate_costs(net, 256), net.genotype())
        assert card['genotype'] == str(net.genotype())
        assert card['params'] == sum(p.numel() for p in net.parameters()) == cost['params']
        assert round(cost['macs'] / 1e9, 3) == card['gmacs_256']
        test_sets = entry_options(name)['datasets'].values()  # what the card says it is for is what it was tested on
        assert {d['in_ch'] for d in test_sets} == {card['channels']} == {net.in_channels}
        if 'sigma' in card:
            assert {d.get('sigma') for d in test_sets} == {card['sigma']}
        else:  # blind: tested at levels inside its range, each with its scores on the card
            low, high = card['sigma_range']
            assert {d['sigma'] for d in test_sets} == set(card['by_sigma'])
            assert all(low <= s <= high for s in card['by_sigma'])
            assert card['psnr'] == card['by_sigma'][25]['psnr']


def test_a_card_without_its_noise_level_or_with_bad_levels_is_refused(tmp_path, monkeypatch):
    from clearer_basicsr.errors import UserInputError
    from clearer_basicsr.tools import zoo

    entry = tmp_path / 'zoo' / 'broken'
    entry.mkdir(parents=True)
    (entry / 'test.yml').write_text('name: broken')
    cards = [open(os.path.join(os.path.dirname(p), 'card.yml')).read() for p in ENTRIES]
    card = next(c for c in cards if re.search(r'\nsigma: [0-9]+', c))  # a fixed-level entry
    monkeypatch.setattr(zoo, 'PACKAGE_ZOO', str(tmp_path / 'zoo'))
    for text, message in (
        (re.sub(r'\nsigma: [0-9]+', '', card), 'expected a noise level'),
        (card + 'sigma_range: [0, 55]\n', 'not both'),
        (card + 'by_sigma: {15: 31.1}\n', 'by_sigma = '),  # a level's scores are a mapping
    ):
        (entry / 'card.yml').write_text(text)
        with pytest.raises(UserInputError, match=message):
            zoo.read_card('broken')


def test_the_readme_zoo_table_is_what_clearer_zoo_list_prints(capsys):
    from clearer_basicsr.tools.zoo import main

    lines = main(['list', '--markdown'])
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
        assert '\n'.join(lines) in f.read()
    plain = main(['list'])
    rows = {line.split()[0]: line for line in plain[1:]}
    assert set(rows) == {os.path.basename(os.path.dirname(p)) for p in ENTRIES}
    assert rows['clearer_gray_s30'].endswith('+0.33 dB')  # the gap to BM3D on the same images


def test_clearer_infer_zoo_runs_from_a_folder_outside_the_repository(tmp_path):
    """The installed console script finds the entry's files in the package, from any folder."""
    import shutil

    from basicsr.metrics import calculate_psnr
    from conftest import run_cli

    clean, noisy = _noisy_pair(tmp_path)
    program = shutil.which('clearer-infer')
    assert program, 'clearer-infer is not installed'
    out = run_cli(['--zoo', 'clearer_gray_s30', '--input', 'noisy', '--output', 'restored'], tmp_path, program=program)
    assert out.returncode == 0, out.stderr
    import cv2

    restored = cv2.imread(str(tmp_path / 'restored' / 'camera.png'), cv2.IMREAD_UNCHANGED)
    gain = calculate_psnr(restored, clean, crop_border=0) - calculate_psnr(noisy, clean, crop_border=0)
    assert gain > 5, gain


def test_zoo_copy_writes_a_test_file_that_clearer_test_runs_on_your_own_images(tmp_path, monkeypatch):
    import json

    import yaml

    from clearer_basicsr.test import test_pipeline
    from clearer_basicsr.tools.zoo import main

    _noisy_pair(tmp_path)
    written = main(['copy', 'clearer_gray_s30', str(tmp_path / 'mine'), '--data', str(tmp_path / 'clean')])
    test_yml = tmp_path / 'mine' / 'clearer_gray_s30' / 'test.yml'
    assert str(test_yml) in written
    with open(test_yml, encoding='utf-8') as f:
        opt = yaml.safe_load(f)
    assert opt['path']['pretrain_network_g'] == str(tmp_path / 'mine' / 'clearer_gray_s30' / 'net_g.pth')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the copied file works from another folder
    test_pipeline(str(elsewhere), ['-opt', str(test_yml), '--force_yml', 'val:pbar=false'])
    with open(elsewhere / 'results' / 'clearer_gray_s30' / 'metrics.json', encoding='utf-8') as f:
        (scores,) = json.load(f)['datasets'].values()
    assert scores['average']['psnr'] > 19 + 5  # sigma 30 noise alone is about 19 dB


def test_zoo_refuses_an_unknown_entry_and_keeps_a_copy_already_there(tmp_path):
    from clearer_basicsr.errors import UserInputError
    from clearer_basicsr.tools.zoo import main

    with pytest.raises(UserInputError, match=r"'clearer_grey_s30'.*did you mean 'clearer_gray_s30'"):
        main(['copy', 'clearer_grey_s30', str(tmp_path)])
    main(['copy', 'clearer_gray_s30', str(tmp_path)])
    test_yml = tmp_path / 'clearer_gray_s30' / 'test.yml'
    test_yml.write_text('# mine\n')
    with pytest.raises(UserInputError, match='already there; kept'):
        main(['copy', 'clearer_gray_s30', str(tmp_path)])
    assert test_yml.read_text() == '# mine\n'
    main(['copy', 'clearer_gray_s30', str(tmp_path), '--force'])
    assert test_yml.read_text() != '# mine\n'
