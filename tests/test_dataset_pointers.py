"""A missing or empty dataset folder is refused before anything is built, with the command that makes it."""

import os
import shlex

import pytest
from conftest import REPO
from helpers import OPTION_FILES, dataset_entries, load_options, rel

from clearer_basicsr.data.data_util import require_data_roots
from clearer_basicsr.data.prepare_commands import PREPARE_COMMANDS, prepare_command
from clearer_basicsr.options_check import check_options
from clearer_basicsr.prepare import parsers


@pytest.mark.parametrize('path', OPTION_FILES, ids=rel)
def test_every_shipped_dataset_folder_has_a_command_that_makes_it(path):
    for where, _, dataset_opt in dataset_entries(load_options(path)):
        for key in ('dataroot_gt', 'dataroot_lq'):
            if key in dataset_opt:
                assert prepare_command(dataset_opt[key]), f'{rel(path)}: {where}: {key} = {dataset_opt[key]}'


@pytest.mark.parametrize('folder', [f for f in PREPARE_COMMANDS if f != 'datasets/demo'])
def test_each_pointer_is_the_installed_command_with_flags_it_takes(folder):
    """clearer-prepare COMMAND (the console script a pip install has) and arguments its parser reads."""
    words = shlex.split(PREPARE_COMMANDS[folder].split(' && ')[-1])
    assert words[0] == 'clearer-prepare'
    args = parsers()[0].parse_args(words[1:])
    assert args.command in ('bsd500', 'rain800', 'paired', 'photos')


def test_a_missing_dataset_names_its_preparation_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no datasets/ here
    opt = load_options(os.path.join(REPO, 'options', 'search_clearer_denoise.yml'))
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0)
    with pytest.raises(
        FileNotFoundError,
        match=r"^datasets: train: dataroot_gt = 'datasets/BSD500/gray/train.lmdb': no such folder; expected an LMDB "
        r'folder .*; make it with: clearer-prepare bsd500 BSR --gray$',
    ):
        check_options(opt)


def test_an_empty_image_folder_names_its_preparation_command(tmp_path):
    folder = tmp_path / 'datasets' / 'demo' / 'test'
    folder.mkdir(parents=True)
    (folder / 'notes.txt').write_text('not an image')
    with pytest.raises(
        FileNotFoundError,
        match=r"datasets: test_1: dataroot_gt = '.*demo/test': no image files in it; .*; make it with: "
        r'python -m clearer_basicsr.data.demo_data --out datasets/demo$',
    ):
        require_data_roots({'dataroot_gt': str(folder), 'io_backend': {'type': 'disk'}}, 'datasets: test_1')
    assert prepare_command(str(tmp_path / 'my_photos')) is None  # a folder of the user's own: no guess
