"""Genotype: parsing, printing, YAML round trip, every validation error."""

import re

import pytest
import torch
import yaml

from clearer_basicsr.archs.genotype import CANDIDATES, Genotype
from clearer_basicsr.search_result import SearchResult, genotype_of

PAPER = (32, 64, 128, 256)
TEXT = 'P F F P | F F P P | P P P P'


@pytest.fixture
def genotype():
    return Genotype.parse(TEXT)


def test_parse_and_print(genotype):
    assert CANDIDATES == ('parallel', 'fusion')
    assert str(genotype) == TEXT
    assert genotype.cells[0] == ('parallel', 'fusion', 'fusion', 'parallel')
    assert genotype.branch_channels == PAPER and genotype.columns_per_cell == 4
    assert genotype.choices[:5] == ['parallel', 'fusion', 'fusion', 'parallel', 'fusion']
    assert genotype.indices == [0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert genotype.num_columns == 12
    assert Genotype.parse('parallel fusion | fusion fusion', (4, 8, 16)) == Genotype(
        [['P', 'F'], ['F', 'F']], [4, 8, 16], 2
    )


def test_search_result_round_trips_its_file_and_refuses_keys_it_does_not_hold(genotype, tmp_path):
    path = tmp_path / 'genotype.yml'
    weights = torch.softmax(torch.randn(12, 2), -1)
    result = SearchResult(
        genotype,
        column_weights=weights,  # a tensor is written as lists
        decisions=[{'column': 'cell 1 column 1', 'choice': 'parallel', 'weight': 0.9, 'decided': True}],
        macs=1234,
        params=567,
        iteration=40,
        budget={'target_fraction': 0.5},
    )
    result.save(path)
    assert TEXT in path.read_text()  # readable: the compact form heads the file
    loaded = SearchResult.load(path)
    assert loaded.genotype == genotype and genotype_of(path) == genotype == genotype_of(str(path))
    assert (loaded.macs, loaded.params, loaded.iteration, loaded.budget) == (1234, 567, 40, {'target_fraction': 0.5})
    torch.testing.assert_close(torch.tensor(loaded.column_weights), weights)
    assert loaded.decided == 1 and loaded.weakest == 0.9
    data = yaml.safe_load(path.read_text())
    assert data['genotype'] == genotype.to_dict() and 'ranking' not in data  # None is left out

    data['alpha_history'] = [[0.5, 0.5]]  # a key of a file this version does not read
    old = tmp_path / 'old.yml'
    old.write_text(yaml.safe_dump(data))
    refused = rf"^{re.escape(str(old))}: 'alpha_history' is not a key of genotype.yml \(a file of another version\?\)"
    for read in (SearchResult.load, genotype_of):
        with pytest.raises(ValueError, match=refused):
            read(old)
    (tmp_path / 'broken.yml').write_text('genotype: [P, F\n')
    with pytest.raises(ValueError, match=r'broken.yml: not valid YAML'):
        SearchResult.load(tmp_path / 'broken.yml')


def test_genotype_of_accepts_every_form_an_option_may_hold(genotype, tmp_path):
    path = tmp_path / 'g.yaml'
    SearchResult(genotype).save(path)
    forms = [
        genotype,
        str(path),
        path,
        TEXT,
        genotype.to_dict(),
        {'genotype': genotype.to_dict()},
        [list(cell) for cell in genotype.cells],
        {'cells': TEXT},
    ]
    for form in forms:
        assert genotype_of(form) == genotype, form
    for form in forms[3:]:  # what needs no file: Genotype itself reads it
        if 'genotype' not in form:
            assert Genotype.from_any(form) == genotype, form
    # preset numbers fill in only what the source lacks
    tiny = Genotype.from_any('P F | F F', branch_channels=[4, 8, 16])
    assert tiny.branch_channels == (4, 8, 16) and tiny.columns_per_cell == 2
    assert Genotype.from_any(genotype.to_dict(), branch_channels=[4, 8, 16]).branch_channels == PAPER
    with pytest.raises(ValueError, match='cannot make a genotype'):
        Genotype.from_any(42)
    with pytest.raises(ValueError, match=r'missing.yml: cannot read it \(No such file or directory\)'):
        genotype_of(str(tmp_path / 'missing.yml'))


def test_unknown_module_names_the_cell_column_and_allowed_values():
    with pytest.raises(ValueError) as error:
        Genotype([['parallel'] * 4, ['parallel', 'fusion', 'fusoin', 'fusion'], ['fusion'] * 4], PAPER, 4)
    message = str(error.value)
    assert "cell 2, column 3: 'fusoin' is not one of the registered candidates: parallel (P), fusion (F)" in message


def test_wrong_number_of_cells():
    with pytest.raises(ValueError, match='2 cells .* needs 3'):
        Genotype.parse('P F F P | F F P P', PAPER)


def test_wrong_number_of_columns():
    with pytest.raises(ValueError, match='cell 3 has 3 columns, expected columns_per_cell=4'):
        Genotype.parse('P F F P | F F P P | P P P')


def test_mismatch_with_network_preset(genotype):
    genotype.validate(PAPER, 4)
    with pytest.raises(ValueError, match=r'branch_channels \[32, 64, 128, 256\] .* \[16, 32, 64, 128\]'):
        genotype.validate(branch_channels=(16, 32, 64, 128))
    with pytest.raises(ValueError, match='columns_per_cell=4 .* columns_per_cell=3'):
        genotype.validate(columns_per_cell=3)


def test_malformed_cells_and_preset():
    with pytest.raises(ValueError, match='cell 1: expected a list'):
        Genotype(['P F', 'F F'], (4, 8, 16), 2)
    with pytest.raises(ValueError, match='at least 2 positive'):
        Genotype([], (4,), 2)
    with pytest.raises(ValueError, match="'cells' key"):
        Genotype.from_dict({'columns': []})
