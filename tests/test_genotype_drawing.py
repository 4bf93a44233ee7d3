"""genotype.png: the search draws its derived network next to genotype.yml; the draw tool draws any genotype."""

import shutil

import numpy as np
import pytest
from PIL import Image

from clearer_basicsr.archs.genotype import Genotype
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.plots import genotype_blocks
from clearer_basicsr.tools.draw import main as draw


def drawn(path):
    """The picture as an array; it must hold more than a blank canvas."""
    pixels = np.asarray(Image.open(path).convert('L'))
    assert pixels.std() > 10 and min(pixels.shape) > 100, path
    return pixels


def test_the_search_writes_genotype_png_next_to_genotype_yml(tiny_search):
    assert (tiny_search['exp'] / 'genotype.yml').is_file()
    drawn(tiny_search['exp'] / 'genotype.png')


def test_blocks_follow_the_genotype():
    blocks = genotype_blocks(Genotype.parse('P F | F P', branch_channels=[4, 8, 16]))
    assert [kind for kind, _, _ in blocks] == [
        'stem',
        'transition',
        'parallel',
        'fusion',
        'transition',
        'fusion',
        'parallel',
        'head',
    ]
    assert [x for _, x, _ in blocks] == list(range(8))
    assert blocks[3][2] == (0, 1) and blocks[5][2] == (0, 1, 2)  # fusion exchanges across its cell's branches
    assert blocks[1][2] == (1,) and blocks[4][2] == (2,)  # each transition adds the next branch


def test_draw_tool_takes_a_genotype_file_or_a_compact_string(tiny_search, tmp_path):
    shutil.copy(tiny_search['exp'] / 'genotype.yml', tmp_path / 'genotype.yml')
    assert draw([str(tmp_path / 'genotype.yml')]) == str(tmp_path / 'genotype.png')  # next to the file
    drawn(tmp_path / 'genotype.png')
    draw(['P P | P P', '--branch_channels', '4', '8', '16', '--out', str(tmp_path / 'all_p.png')])
    draw(['F F | F F', '--branch_channels', '4', '8', '16', '--out', str(tmp_path / 'all_f.png')])
    all_p, all_f = drawn(tmp_path / 'all_p.png'), drawn(tmp_path / 'all_f.png')
    assert all_p.shape == all_f.shape and not np.array_equal(all_p, all_f)
    with pytest.raises(UserInputError, match=r"GENOTYPE 'P X': .*'X' is not one of"):
        draw(['P X', '--out', str(tmp_path / 'bad.png')])
    assert not (tmp_path / 'bad.png').exists()
