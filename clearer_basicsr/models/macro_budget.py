"""The budget of a search in the macro space (:mod:`..archs.widths`): a :class:`.Budget` per shape
(number of cells and branch widths), whose columns' costs add up as in the paper's space, under
one target. Rows of genotypes are the space's digit rows; a target fraction is of the largest
network of the space (the widest with the most cells, the dearest candidate in each column: the
paper space's largest when 1 is among the widths and every cell is allowed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..archs.complexity import BUDGET_TOLERANCE
from ..archs.genotype import Genotype
from ..archs.latency import macro_latency_table, shape_name
from ..archs.widths import Digits, MacroSpace, shape_view
from .budget import REPORT_SIZE, Bound, Budget


@dataclasses.dataclass(frozen=True)
class MacroBudget(Bound):
    net: Any = dataclasses.field(repr=False)  # the supernet measured
    space: MacroSpace
    shapes: Mapping[tuple[int, Digits], Budget] = dataclasses.field(repr=False)  # (cells index, width digits)
    metric: str
    patch_size: int
    largest: float
    target: float | None = None
    tolerance: float = BUDGET_TOLERANCE
    table: dict[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)  # latency's
    # how a refusal names the space's largest and cheapest networks
    LARGEST = 'the widest with the most cells, the dearest candidate in every column'
    CHEAPEST = 'the cheapest subnet of the macro space'

    @classmethod
    def measure(
        cls, net: Any, patch_size: int, metric: str = 'macs', timing: Mapping[str, Any] | None = None
    ) -> MacroBudget:
        """Every shape's :class:`.Budget`; latency is timed per shape as ``timing`` says (see
        :meth:`.Budget.measure`), all shapes in one table."""
        space, shapes, table = net.macro, {}, None
        if metric == 'latency':
            timing = dict(timing or {})
            patch_size = int(timing.get('size') or REPORT_SIZE)
            device, channels_last = timing.get('device') or torch.device('cpu'), bool(timing.get('channels_last'))
            table = macro_latency_table(
                net, patch_size, device, channels_last, timing.get('folder'), bool(timing.get('keep'))
            )
        for cells_index, widths in space.shapes():
            view = shape_view(net, [space.channels(b, w) for b, w in enumerate(widths)])
            if table is None:
                shapes[cells_index, widths] = Budget.measure(view, patch_size, metric)
            else:
                timed = table['shapes'][shape_name(cells_index, widths)]
                shapes[cells_index, widths] = Budget.from_table(view, patch_size, timed)
        largest = max(b.largest for b in shapes.values())
        return cls(net, space, shapes, metric, int(patch_size), largest, table=table)

    @property
    def smallest(self) -> float:
        return min(b.smallest for b in self.shapes.values())

    def bounded(self, fraction: float) -> MacroBudget:
        """The same space bounded at ``fraction`` of its largest network's cost."""
        return dataclasses.replace(self, target=fraction * self.largest)

    @property
    def radix(self) -> list[int]:
        return self.space.radix

    def canonical(self, digits: Sequence[int]) -> Digits:
        return self.space.canonical(digits)

    def genotype(self, digits: Sequence[int]) -> Genotype:
        return self.space.genotype(digits)

    def row(self, genotype: Genotype) -> Digits:
        """The digits of ``genotype`` (the inverse of :meth:`genotype`)."""
        return self.space.digits(*self._shape(genotype), genotype.indices_in(self.space.candidates))

    def cost(self, genotype: Genotype) -> float:
        shape = self._shape(genotype)
        return self.shapes[shape].cost(genotype)

    def _shape(self, genotype: Genotype) -> tuple[int, Digits]:
        space = self.space
        choices = [
            [space.channels(b, i) for i in range(len(space.multipliers))] for b in range(len(space.branch_channels))
        ]
        channels = genotype.branch_channels
        if len(genotype.cells) not in space.num_cells or not all(c in choices[b] for b, c in enumerate(channels)):
            raise ValueError(
                f'genotype {genotype} is not in the macro space (branch widths {choices}, cells {space.num_cells})'
            )
        return space.num_cells.index(len(genotype.cells)), tuple(choices[b].index(c) for b, c in enumerate(channels))

    def genotypes(self) -> list[Digits]:
        """The digit rows of every genotype of the window (the whole space without a target)."""
        rows = []
        for (cells_index, widths), part in self.shapes.items():
            bounded = dataclasses.replace(part, target=self.target, tolerance=self.tolerance)
            rows += [self.space.digits(cells_index, widths, path) for path in bounded.genotypes()]
        return rows
