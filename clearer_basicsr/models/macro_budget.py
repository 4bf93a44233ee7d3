"""The budget of a search in the macro space (:mod:`..archs.widths`): a :class:`.Budget` per shape
(number of cells and branch widths), whose columns' costs add up as in the paper's space, under
one target. Rows of genotypes are the space's digit rows; the largest network (widest, every
cell, the dearest candidate in each column) is the paper space's largest, so a target fraction
means the same in both spaces."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any

from .. import option_rules as rules
from ..archs.complexity import BUDGET_TOLERANCE
from ..archs.genotype import Genotype
from ..archs.widths import Digits, MacroSpace
from .budget import REPORT_SIZE, Bound, Budget


def shape_view(net: Any, widths: Sequence[int]) -> types.SimpleNamespace:
    """The preset numbers of ``net`` with branch channels ``widths``: what cost measuring reads."""
    return types.SimpleNamespace(
        in_channels=net.in_channels,
        out_channels=net.out_channels,
        branch_channels=tuple(widths),
        columns_per_cell=net.columns_per_cell,
        stem_blocks=net.stem_blocks,
        stem_width=net.stem_width,
        candidates=tuple(net.candidates),
        candidate_modules=tuple(getattr(net, 'candidate_modules', ())),
    )


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
    table = None  # no latency table: the macro space is costed in MACs or parameters

    @classmethod
    def measure(cls, net: Any, patch_size: int, metric: str = 'macs') -> MacroBudget:
        space = net.macro
        shapes = {}
        for cells_index, widths in space.shapes():
            channels = [space.channels(b, w) for b, w in enumerate(widths)]
            shapes[cells_index, widths] = Budget.measure(shape_view(net, channels), patch_size, metric)
        largest = max(b.largest for b in shapes.values())
        return cls(net, space, shapes, metric, int(patch_size), largest)

    @classmethod
    def from_section(cls, section: Mapping[str, Any], net: Any, patch_size: int, where: str) -> MacroBudget:
        """As :meth:`.Budget.from_section`, over every shape of ``net``'s macro space."""
        if section['metric'] == 'latency':
            raise rules.OptionError(
                f'{where}: metric = latency: the macro space (network_g: widths / num_cells) is costed in macs or '
                'params; its latency table is not built yet'
            )
        space = cls.measure(net, patch_size, section['metric'])
        if 'target_macs' in section:
            size = section.get('target_size', REPORT_SIZE)
            target = float(section['target_macs']) * (patch_size / size) ** 2
            given = f'target_macs = {section["target_macs"]:g} at {size}x{size}'
        else:
            target, given = float(section['target']) * space.largest, f'target = {section["target"]}'
        budget = dataclasses.replace(space, target=target, tolerance=float(section.get('tolerance', BUDGET_TOLERANCE)))
        smallest = min(b.fixed + float(b.costs.min(dim=1).values.sum()) for b in space.shapes.values())
        if not smallest <= target <= budget.largest:
            raise rules.OptionError(
                f"{where}: {given} is {budget.fraction:.3f} of the largest network's cost; expected a budget between "
                f'{smallest / budget.largest:.3f} (the cheapest subnet of the macro space) and 1'
            )
        return budget

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

    def cost(self, genotype: Genotype) -> float:
        shape = self._shape(genotype)
        return self.shapes[shape].cost(genotype)

    def _shape(self, genotype: Genotype) -> tuple[int, Digits]:
        space, cells = self.space, len(genotype.cells)
        widths = tuple(
            next(i for i in range(len(space.multipliers)) if space.channels(b, i) == c)
            for b, c in enumerate(genotype.branch_channels)
        )
        return space.num_cells.index(cells), widths

    def genotypes(self) -> list[Digits]:
        """The digit rows of every genotype of the window (the whole space without a target)."""
        rows = []
        for (cells_index, widths), part in self.shapes.items():
            bounded = dataclasses.replace(part, target=self.target, tolerance=self.tolerance)
            rows += [self.space.digits(cells_index, widths, path) for path in bounded.genotypes()]
        return rows
