"""The one description of a CLEARER architecture: which candidate each column uses.

A genotype lists, per cell, the candidate chosen for each column (a name from the candidate
table, :mod:`.candidates`: ``'parallel'``, ``'fusion'``, ``'skip'``, ...), together with the
preset numbers it belongs to (branch channels, columns per cell). The same format is used
everywhere: search output (``genotype.yml``), retrain input (``CLEARERNet``), logs and
comparison tables. Compact form: each candidate's code, ``'P F F P | F F P P | P P P P'``.
A genotype of the macro space (a width search: ``network_g: widths``) also chose the channels
of its branches and how many cells it has; its compact form carries the channels after ``@``:
``'P F F P | F F P P @ 6 16 24'``.

A genotype names candidates, not logit indices; the indices depend on the search space (the
list ``network_g: candidates``), see :meth:`Genotype.indices_in`.

In a file, a genotype sits under the ``genotype`` key of a ``genotype.yml``, whose format
:class:`clearer_basicsr.search_result.SearchResult` owns (``genotype_of`` there reads a path).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .candidates import DEFAULT_CANDIDATES, code_of, known, name_of, registered

CANDIDATES = DEFAULT_CANDIDATES
"""The default (paper) space; a candidate's index here is its logit index in a default supernet."""


def _split_compact(text: str) -> tuple[list[list[str]], tuple[int, ...] | None]:
    """Cells of the compact form ``'P F F P | F F P P'`` ('|' between cells, spaces or commas
    between columns) and the branch channels after an ``@``, None without one."""
    cells, at, channels = text.partition('@')
    if at:
        try:
            numbers = tuple(int(c) for c in channels.replace(',', ' ').split())
        except ValueError:
            raise ValueError(f'genotype {text!r}: expected whole channel counts after "@"') from None
    return [cell.replace(',', ' ').split() for cell in cells.strip().split('|')], numbers if at else None


def names_a_file(source: Any) -> bool:
    """Whether a genotype option names a file (a genotype.yml) rather than holding a genotype."""
    return isinstance(source, os.PathLike) or (
        isinstance(source, str) and (source.strip().endswith(('.yml', '.yaml')) or os.path.isfile(source))
    )


def default_branch_channels(num_cells: int) -> tuple[int, ...]:
    """Channels doubling from 32, one branch more than cells: the paper preset for 3 cells."""
    return tuple(32 * 2**k for k in range(num_cells + 1))


def preset_problem(branch_channels: Any, columns_per_cell: Any) -> tuple[str, Any, str] | None:
    """``(key, value, what was expected)`` of the first of a space's numbers that cannot make one
    (a network's options, a genotype file's), None when both can."""
    channels = list(branch_channels) if isinstance(branch_channels, (list, tuple)) else branch_channels
    if not isinstance(channels, list) or len(channels) < 2 or not all(isinstance(c, int) and c > 0 for c in channels):
        return 'branch_channels', channels, 'a list of at least 2 positive channel counts'
    if not isinstance(columns_per_cell, int) or columns_per_cell < 1:
        return 'columns_per_cell', columns_per_cell, 'a whole number, at least 1'
    return None


@dataclass(frozen=True)
class Genotype:
    """A derived CLEARER architecture.

    Args:
        cells: per cell, the candidate name of each column (``'parallel'``, ``'fusion'``, ...;
            codes such as ``'P'``/``'F'`` are accepted and normalised).
        branch_channels: channels of the branches; cell ``c`` (0-based) runs over the first
            ``c + 2`` of them, so there are ``len(branch_channels) - 1`` cells.
        columns_per_cell: number of searchable columns in each cell.
        searched_channels: the branch channels (and the number of cells) were chosen by a
            width search, so the compact form states them; not part of equality.

    Raises:
        ValueError: if the description is inconsistent (see :meth:`validate`).
    """

    cells: tuple[tuple[str, ...], ...]
    branch_channels: tuple[int, ...]
    columns_per_cell: int
    searched_channels: bool = dataclasses.field(default=False, compare=False)

    def __post_init__(self) -> None:
        # Normalise containers/names so that equal architectures compare (and hash) equal.
        if isinstance(self.cells, (str, bytes)) or not isinstance(self.cells, Iterable):
            raise ValueError(f'genotype cells must be a list of lists of candidate names, got {self.cells!r}')
        cells = []
        for c, cell in enumerate(self.cells, 1):
            if isinstance(cell, (str, bytes)) or not isinstance(cell, Iterable):
                raise ValueError(f'genotype cell {c}: expected a list of candidate names, got {cell!r}')
            cells.append(tuple(name_of(name) for name in cell))
        object.__setattr__(self, 'cells', tuple(cells))
        object.__setattr__(self, 'branch_channels', tuple(self.branch_channels))
        self.validate()

    # ----------------------------------------------------------------- construction
    @classmethod
    def parse(
        cls, text: str, branch_channels: Sequence[int] | None = None, columns_per_cell: int | None = None
    ) -> Genotype:
        """Parse the compact form ``'P F F P | F F P P | P P P P'`` (full names work too).

        Without ``@ channels`` the compact form carries no preset: ``branch_channels`` defaults to
        channels doubling from 32 (the paper preset for 3 cells), ``columns_per_cell`` to the
        first cell's length.
        """
        cells, channels = _split_compact(text)
        if channels is None:
            return cls.from_cells(cells, branch_channels, columns_per_cell)
        return dataclasses.replace(cls.from_cells(cells, channels, columns_per_cell), searched_channels=True)

    @classmethod
    def from_cells(
        cls,
        cells: Sequence[Sequence[str]],
        branch_channels: Sequence[int] | None = None,
        columns_per_cell: int | None = None,
    ) -> Genotype:
        """Genotype from a list of lists of candidate names, with defaults as in :meth:`parse`."""
        if branch_channels is None:
            branch_channels = default_branch_channels(len(cells))
        if columns_per_cell is None:
            columns_per_cell = len(cells[0]) if len(cells) else 0
        return cls(cells=cells, branch_channels=branch_channels, columns_per_cell=columns_per_cell)

    @classmethod
    def from_indices(
        cls,
        indices: Sequence[int],
        branch_channels: Sequence[int],
        columns_per_cell: int,
        candidates: Sequence[str] = DEFAULT_CANDIDATES,
    ) -> Genotype:
        """Genotype from flat, cell-major indices into the space ``candidates`` (e.g. argmax of the logits)."""
        names = [candidates[int(i)] for i in indices]
        k = columns_per_cell
        cells = [names[i : i + k] for i in range(0, len(names), k)]
        return cls(cells=cells, branch_channels=branch_channels, columns_per_cell=columns_per_cell)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], branch_channels: Sequence[int] | None = None, columns_per_cell: int | None = None
    ) -> Genotype:
        """From ``{'cells': ..., 'branch_channels': ..., 'columns_per_cell': ...}``. Preset numbers
        missing from ``data`` are taken from the arguments (then the defaults of :meth:`parse`)."""
        if 'cells' not in data:
            raise ValueError(f"genotype mapping needs a 'cells' key, got keys {list(data)}")
        cells, channels = data['cells'], None
        if isinstance(cells, str):
            cells, channels = _split_compact(cells)
        searched = data.get('searched_channels', channels is not None)
        if not isinstance(searched, bool):
            raise ValueError(f'genotype searched_channels = {searched!r}: expected true or false')
        genotype = cls.from_cells(
            cells,
            data.get('branch_channels', channels or branch_channels),
            data.get('columns_per_cell', columns_per_cell),
        )
        return dataclasses.replace(genotype, searched_channels=searched)

    @classmethod
    def from_any(
        cls, obj: Any, branch_channels: Sequence[int] | None = None, columns_per_cell: int | None = None
    ) -> Genotype:
        """Genotype from a Genotype, a compact string, a mapping or a list of lists of names (a
        ``genotype.yml`` is read by :func:`clearer_basicsr.search_result.genotype_of`).

        ``branch_channels`` / ``columns_per_cell`` fill in preset numbers the source does not
        carry; they do not override numbers it does carry (use :meth:`validate` to compare).
        """
        if isinstance(obj, Genotype):
            return obj
        if isinstance(obj, str):
            return cls.parse(obj, branch_channels, columns_per_cell)
        if isinstance(obj, Mapping):
            return cls.from_dict(obj, branch_channels, columns_per_cell)
        if isinstance(obj, Sequence):
            return cls.from_cells(obj, branch_channels, columns_per_cell)
        raise ValueError(
            f'cannot make a genotype from {type(obj).__name__} {obj!r}; expected '
            'a compact string like "P F F P | F F P P | P P P P", a mapping or a list of lists'
        )

    # ----------------------------------------------------------------- checks and views
    def validate(
        self,
        branch_channels: Sequence[int] | None = None,
        columns_per_cell: int | None = None,
        candidates: Sequence[str] | None = None,
    ) -> None:
        """Check consistency, and against a network's preset (and its space ``candidates``) when given.

        Raises:
            ValueError: naming the cell and column (1-based) and the allowed values.
        """
        channels = self.branch_channels
        problem = preset_problem(channels, self.columns_per_cell)
        if problem:
            key, value, expected = problem
            raise ValueError(f'genotype {key} = {value!r}: expected {expected}')
        if branch_channels is not None and tuple(branch_channels) != channels:
            raise ValueError(
                f'genotype is for branch_channels {list(channels)} but the network has '
                f'branch_channels {list(branch_channels)}'
                + ('; a width search chose them: leave branch_channels out' if self.searched_channels else '')
            )
        if columns_per_cell is not None and columns_per_cell != self.columns_per_cell:
            raise ValueError(
                f'genotype is for columns_per_cell={self.columns_per_cell} but the network has '
                f'columns_per_cell={columns_per_cell}'
            )
        if len(self.cells) != len(channels) - 1:
            raise ValueError(
                f'genotype has {len(self.cells)} cells but branch_channels {list(channels)} '
                f'({len(channels)} branches) needs {len(channels) - 1} (one per added branch)'
            )
        for c, cell in enumerate(self.cells, 1):
            if len(cell) != self.columns_per_cell:
                raise ValueError(
                    f'genotype cell {c} has {len(cell)} columns, expected columns_per_cell={self.columns_per_cell}'
                )
            for k, name in enumerate(cell, 1):
                if name not in registered():
                    raise ValueError(
                        f'genotype cell {c}, column {k}: {name!r} is not one of the registered candidates: {known()}'
                    )
                if candidates is not None and name not in candidates:
                    raise ValueError(
                        f"genotype cell {c}, column {k}: {name!r} is not among the network's candidates "
                        f'{list(candidates)}'
                    )

    @property
    def choices(self) -> list[str]:
        """Module name of every column, cell-major (the supernet's logit row order)."""
        return [name for cell in self.cells for name in cell]

    @property
    def indices(self) -> list[int]:
        """Index into the default space :data:`CANDIDATES` of every column, cell-major."""
        return self.indices_in(DEFAULT_CANDIDATES)

    def indices_in(self, candidates: Sequence[str]) -> list[int]:
        """Index into the space ``candidates`` of every column, cell-major (its logit rows)."""
        return [list(candidates).index(name) for name in self.choices]

    @property
    def num_columns(self) -> int:
        return len(self.cells) * self.columns_per_cell

    def __str__(self) -> str:
        text = ' | '.join(' '.join(code_of(name) for name in cell) for cell in self.cells)
        return f'{text} @ {" ".join(map(str, self.branch_channels))}' if self.searched_channels else text

    def to_dict(self) -> dict[str, Any]:
        data = {
            'cells': [list(cell) for cell in self.cells],
            'branch_channels': list(self.branch_channels),
            'columns_per_cell': self.columns_per_cell,
        }
        return {**data, 'searched_channels': True} if self.searched_channels else data
