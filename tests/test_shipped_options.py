"""The option files ship inside the package; ``python -m clearer_basicsr.options`` lists and copies them.
(BasicSR's own train.py on a copied file: tests/test_entry_points.py.)"""

import filecmp
import os

import pytest
from conftest import REPO

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.tools.option_files import main, shipped_options

PACKAGE_OPTIONS = os.path.join(REPO, 'clearer_basicsr', 'options')


def test_every_option_file_of_the_package_is_listed(capsys):
    listed = main(['list'])
    on_disk = {
        os.path.relpath(os.path.join(folder, f), PACKAGE_OPTIONS)[: -len('.yml')]
        for folder, _, files in os.walk(PACKAGE_OPTIONS)
        for f in files
        if f.endswith('.yml')
    }
    assert set(listed) == on_disk
    assert {'search_clearer_denoise', 'baselines/train_dncnn_gray_s30', 'demo/test_clearer_color'} <= on_disk
    assert 'evaluate/demo/evaluate' in on_disk  # the example plan of clearer-evaluate
    assert not [name for name in listed if 'photos' in name]  # the project's own plans stay in lab/
    assert 'search_clearer_denoise  ' in capsys.readouterr().out


def test_copy_keeps_sub_folders_and_content(tmp_path):
    written = main(['copy', 'search_clearer_denoise.yml', 'baselines/demo/*_dncnn_gray', str(tmp_path / 'options')])
    expected = [
        'search_clearer_denoise.yml',
        'baselines/demo/test_dncnn_gray.yml',
        'baselines/demo/train_dncnn_gray.yml',
    ]
    assert sorted(os.path.relpath(p, tmp_path / 'options') for p in written) == sorted(expected)
    for name in expected:
        assert filecmp.cmp(tmp_path / 'options' / name, os.path.join(PACKAGE_OPTIONS, name), shallow=False)
    assert len(main(['copy', 'all', str(tmp_path / 'all')])) == len(shipped_options())


def test_copy_never_overwrites_a_different_file_without_force(tmp_path):
    mine = tmp_path / 'test_clearer_denoise.yml'
    mine.write_text('name: my_edited_copy\n')
    with pytest.raises(UserInputError, match='test_clearer_denoise.yml: already there with other content'):
        main(['copy', 'train_clearer_denoise', 'test_clearer_denoise', str(tmp_path)])
    assert mine.read_text() == 'name: my_edited_copy\n'
    assert not (tmp_path / 'train_clearer_denoise.yml').exists()  # nothing written unless everything can be
    main(['copy', 'test_clearer_denoise', str(tmp_path), '--force'])
    assert filecmp.cmp(mine, os.path.join(PACKAGE_OPTIONS, 'test_clearer_denoise.yml'), shallow=False)


def test_an_unknown_name_suggests_the_closest(tmp_path):
    with pytest.raises(UserInputError, match="'search_clearer_denoize'.*did you mean 'search_clearer_denoise'"):
        main(['copy', 'search_clearer_denoize', str(tmp_path)])
    assert not os.listdir(tmp_path)
