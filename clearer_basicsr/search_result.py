"""What a search found, as ``genotype.yml`` holds it: the one owner of that file's format.

A search writes ``experiments/<name>/genotype.yml`` (with ``genotype.png`` and
``column_weights.png`` beside it) at every validation and at its end; the evaluation, the demo,
the sweep, the zoo and an option file's ``network_g: genotype: <file>`` (resolved at the option
boundary, :func:`resolve_genotype_files`) read it back through :meth:`SearchResult.load`. A key
the format does not hold is refused with a line naming it, so a file from another version is
never read with part of it silently dropped.

The keys (all but ``genotype`` optional, so a file holding only a genotype is one too; a key
that is None is not written)::

    genotype:       cells, branch_channels, columns_per_cell
    column_weights: per column, each candidate's softmax weight
    decisions:      per column, its choice, weight, margin and whether it is decided
    undecided:      the names of the undecided columns
    macs, params:   the derived network's cost at patch_size
    patch_size:     the training patch the costs are measured at
    iteration:      the search iteration the genotype comes from
    budget:         the budget's target, window and what was reached (searches to a budget)
    ranking:        scored genotypes, best first (searches that score genotypes)
    selection:      how they were scored: the method, the window, how many it held and were scored
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from .archs.genotype import Genotype, names_a_file
from .errors import UserInputError
from .files import atomic_write
from .option_rules import MissingPathError

FILE = 'genotype.yml'


@dataclasses.dataclass
class SearchResult:
    genotype: Genotype
    column_weights: list[dict[str, float]] | None = None
    decisions: list[dict[str, Any]] | None = None
    undecided: list[str] | None = None
    macs: int | None = None
    params: int | None = None
    patch_size: int | None = None
    iteration: int | None = None
    budget: dict[str, Any] | None = None
    ranking: list[dict[str, Any]] | None = None
    selection: dict[str, Any] | None = None

    # ----------------------------------------------------------------- the file
    def save(self, path: str | os.PathLike) -> None:
        """Writes the file at once (a killed search leaves the previous one); keys that are None are left out."""
        data = {'genotype': self.genotype.to_dict()}
        for f in dataclasses.fields(self)[1:]:
            if getattr(self, f.name) is not None:
                data[f.name] = _plain(getattr(self, f.name))
        with atomic_write(path) as out:
            out.write(f'# CLEARER genotype: {self.genotype}\n')
            # flow style for the innermost lists: one cell, one weight row, one decision per line
            yaml.safe_dump(data, out, sort_keys=False, default_flow_style=None)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SearchResult:
        """Reads a genotype.yml; UserInputError naming the file and the key for anything else."""
        try:
            with open(path, encoding='utf-8') as f:
                data = yaml.safe_load(f)
        except OSError as e:
            raise UserInputError(f'{path}: cannot read it ({e.strerror or e})') from None
        except yaml.YAMLError as e:
            raise UserInputError(f'{path}: not valid YAML ({str(e).splitlines()[0]})') from None
        return cls.from_mapping(data, str(path))

    @classmethod
    def from_mapping(cls, data: Any, where: str = FILE) -> SearchResult:
        if isinstance(data, str):  # a compact genotype string alone
            data = {'genotype': data}
        if not isinstance(data, Mapping) or 'genotype' not in data:
            raise UserInputError(f'{where}: expected a mapping with a genotype key (a genotype.yml a search wrote)')
        check_keys(data, where)
        try:
            genotype = Genotype.from_any(data['genotype'])
            genotype.validate()
        except ValueError as e:
            raise UserInputError(f'{where}: genotype: {e}') from None
        fields = {k: v for k, v in data.items() if k != 'genotype' and v is not None}
        return cls(genotype=genotype, **fields)

    @classmethod
    def in_folder(cls, folder: str) -> SearchResult:
        """The result a search wrote into its experiment folder."""
        return cls.load(os.path.join(folder, FILE))

    # ----------------------------------------------------------------- views
    @property
    def decided(self) -> int:
        return sum(bool(d.get('decided')) for d in self.decisions or ())

    @property
    def weakest(self) -> float:
        """The lowest winning weight of any column (NaN without decisions)."""
        return min((float(d['weight']) for d in self.decisions or ()), default=float('nan'))


KEYS = tuple(f.name for f in dataclasses.fields(SearchResult))


def check_keys(data: Mapping[str, Any], where: str) -> None:
    """A key genotype.yml does not hold is refused, never dropped."""
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise UserInputError(
            f'{where}: {unknown[0]!r} is not a key of genotype.yml (a file of another version?); '
            f'expected {", ".join(KEYS)}'
        )


def _plain(value: Any) -> Any:
    """Tensors, arrays and tuples as plain YAML values."""
    if hasattr(value, 'tolist'):  # torch.Tensor, numpy arrays and scalars
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def genotype_of(
    source: Any, branch_channels: Sequence[int] | None = None, columns_per_cell: int | None = None
) -> Genotype:
    """The genotype an option names: a path to a genotype.yml, a whole genotype.yml as a mapping,
    or anything :meth:`.Genotype.from_any` takes (preset numbers fill in what the source lacks)."""
    if names_a_file(source):
        return SearchResult.load(source).genotype
    if isinstance(source, Mapping) and 'genotype' in source:
        check_keys(source, 'genotype')
        source = source['genotype']
    return Genotype.from_any(source, branch_channels, columns_per_cell)


def resolve_genotype_files(opt: dict) -> dict:
    """The option boundary: each ``network_*: genotype`` that names a genotype.yml (a path, or the
    whole file as a mapping) replaced, in place, by the genotype it holds (as a mapping that
    carries its preset), so networks are built from genotypes and never read files. A missing
    file is refused in one line naming the key. Returns ``opt``."""
    for key in [k for k in opt if str(k).startswith('network_')]:
        net_opt = opt[key]
        if not isinstance(net_opt, Mapping) or 'genotype' not in net_opt:
            continue
        source = net_opt['genotype']
        if names_a_file(source) and not os.path.isfile(source):
            raise MissingPathError(
                f'{key}: genotype = {str(source)!r}: no such file; expected the genotype.yml a search '
                'wrote (experiments/<search name>/genotype.yml)'
            )
        if names_a_file(source) or (isinstance(source, Mapping) and 'genotype' in source):
            net_opt['genotype'] = genotype_of(source).to_dict()
    return opt


def write_search_outputs(result: SearchResult, folder: str, history: Sequence[tuple[int, Any]]) -> None:
    """genotype.yml, genotype.png and column_weights.png (the weights over ``history``) into ``folder``."""
    from .plots import draw_genotype, plot_column_weights

    result.save(os.path.join(folder, FILE))
    if result.column_weights:  # its rows name the space's candidates in logit order
        per_cell, candidates = result.genotype.columns_per_cell, list(result.column_weights[0])
        plot_column_weights(history, os.path.join(folder, 'column_weights.png'), per_cell, candidates)
    draw_genotype(result.genotype, os.path.join(folder, 'genotype.png'))
