"""The macro space (opt-in, ``network_g: widths`` / ``num_cells`` of a CLEARERSearchNet): besides
each column's candidate, a subnet chooses the channel width of every branch and how many cells
(resolution levels) it runs.

Weight sharing over widths follows slimmable networks (Yu et al., ICLR 2019; once-for-all, BigNAS):
a subnet keeps the first ``w_b`` channels of every feature map of branch ``b``. Every BatchNorm of
branch ``b`` zeroes its output beyond its share of them, so the conv after it sees exactly the
sliced input; the subnet then computes what the derived network with branch channels
``(w_0, w_1, ...)`` computes with the supernet's weights sliced to its shapes
(:func:`inherit_weights`). Which branch a BatchNorm works on is said by the module holding it
(``branch_parts()``: a transition, a candidate, the head); a candidate without that method (or
with a normalisation other than BatchNorm after its convs) cannot share widths and is refused.

A subnet is a row of digits (:class:`MacroSpace`): the index of its number of cells, a width
index per branch, a candidate index per column; digits the subnet does not use (branches and
columns beyond its cells) are 0, so each subnet has one row.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..option_rules import OptionError, key_path
from .candidates import candidate
from .genotype import Genotype

Digits = tuple[int, ...]


@dataclass(frozen=True)
class Subnet:
    """What one path of the macro space runs: its number of cells, the channels of each of its
    branches (one more than cells) and a candidate index per column of those cells."""

    cells: int
    widths: tuple[int, ...]
    path: tuple[int, ...]


@dataclass(frozen=True)
class MacroSpace:
    """The choices of the macro space over a supernet preset.

    Args:
        branch_channels: the supernet's (widest) channels per branch.
        multipliers: the width choices, fractions of each branch's channels (sorted).
        num_cells: the choices of the number of cells (sorted), at most ``len(branch_channels) - 1``.
        columns_per_cell, candidates: the supernet's.
    """

    branch_channels: tuple[int, ...]
    multipliers: tuple[float, ...]
    num_cells: tuple[int, ...]
    columns_per_cell: int
    candidates: tuple[str, ...]

    @property
    def radix(self) -> list[int]:
        """How many values each digit takes: cells choice, a width per branch, a candidate per column."""
        columns = (len(self.branch_channels) - 1) * self.columns_per_cell
        return (
            [len(self.num_cells)]
            + [len(self.multipliers)] * len(self.branch_channels)
            + [len(self.candidates)] * columns
        )

    def channels(self, branch: int, index: int) -> int:
        return max(1, round(self.multipliers[index] * self.branch_channels[branch]))

    def canonical(self, digits: Sequence[int]) -> Digits:
        """``digits`` with the digits its subnet does not use set to 0."""
        cells = self.num_cells[digits[0]]
        branches = len(self.branch_channels)
        used_widths = list(digits[1 : 2 + cells]) + [0] * (branches - 1 - cells)
        columns = list(digits[1 + branches :])
        used = cells * self.columns_per_cell
        return (digits[0], *used_widths, *columns[:used], *[0] * (len(columns) - used))

    def subnet(self, digits: Sequence[int]) -> Subnet:
        cells = self.num_cells[digits[0]]
        widths = tuple(self.channels(b, digits[1 + b]) for b in range(cells + 1))
        start = 1 + len(self.branch_channels)
        return Subnet(cells, widths, tuple(digits[start : start + cells * self.columns_per_cell]))

    def genotype(self, digits: Sequence[int]) -> Genotype:
        net = self.subnet(digits)
        found = Genotype.from_indices(list(net.path), net.widths, self.columns_per_cell, self.candidates)
        return dataclasses.replace(found, searched_channels=True)

    def shapes(self) -> Iterator[tuple[int, Digits]]:
        """Every (cells choice index, width digits of its branches) of the space."""
        for c, cells in enumerate(self.num_cells):
            for widths in itertools.product(range(len(self.multipliers)), repeat=cells + 1):
                yield c, widths

    def digits(self, cells_index: int, widths: Sequence[int], path: Sequence[int]) -> Digits:
        """The row of a shape and the candidate indices of its columns."""
        branches, columns = len(self.branch_channels), (len(self.branch_channels) - 1) * self.columns_per_cell
        return (
            cells_index,
            *widths,
            *[0] * (branches - len(widths)),
            *path,
            *[0] * (columns - len(path)),
        )

    def sandwich(self, generator: torch.Generator, random_ones: int = 2) -> list[Digits]:
        """The subnets one training step trains (the sandwich rule of BigNAS): the widest with the
        most cells, the narrowest with the fewest, and ``random_ones`` drawn uniformly; every
        column's candidate uniform in each."""
        columns = (len(self.branch_channels) - 1) * self.columns_per_cell
        branches, widths = len(self.branch_channels), len(self.multipliers)

        def draw(high: int, n: int) -> list[int]:
            return torch.randint(high, (n,), generator=generator).tolist()

        rows = [
            (len(self.num_cells) - 1, *[widths - 1] * branches, *draw(len(self.candidates), columns)),
            (0, *[0] * branches, *draw(len(self.candidates), columns)),
        ]
        for _ in range(random_ones):
            rows.append((*draw(len(self.num_cells), 1), *draw(widths, branches), *draw(len(self.candidates), columns)))
        return [self.canonical(row) for row in rows]


def check_macro_options(where: str, args: Mapping[str, Any], candidates: Sequence[str]) -> None:
    """``network_g: widths`` and ``num_cells`` of a supernet: lists of distinct choices, each width
    a distinct channel count on every branch; every candidate one that shares widths
    (``shares_widths``); the stem's output a channel count neither branch 0 nor any of its widths
    takes (the first transition's projection is then a conv the widths can slice); no
    ``checkpoint_columns`` (its recomputation would run without the subnet's masks)."""
    widths, num_cells = list(args.get('widths') or ()), list(args.get('num_cells') or ())
    if not widths and not num_cells:
        return
    cells = len(args['branch_channels']) - 1
    if len(set(widths)) != len(widths) or not all(
        isinstance(m, (int, float)) and not isinstance(m, bool) and 0 < m <= 1 for m in widths
    ):
        raise OptionError(
            f'{key_path(where, "widths")} = {widths!r}: expected distinct fractions in (0, 1], e.g. [0.5, 0.75, 1]'
        )
    if len(set(num_cells)) != len(num_cells) or not all(
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= cells for n in num_cells
    ):
        raise OptionError(
            f'{key_path(where, "num_cells")} = {num_cells!r}: expected distinct numbers of cells between 1 and '
            f'{cells} (len(branch_channels) - 1)'
        )
    for name in candidates:
        if not getattr(candidate(name).build, 'shares_widths', False):
            raise OptionError(
                f'{key_path(where, "candidates")}: {name!r} cannot share weights over widths (it does not say '
                'shares_widths: its normalisation or gates mix channels); with widths, use parallel, fusion and skip'
            )
    if args.get('checkpoint_columns'):
        raise OptionError(
            f'{key_path(where, "checkpoint_columns")}: not with widths / num_cells (the recomputed columns would '
            "run without the subnet's channel masks); remove it"
        )
    space = macro_space(args, candidates)
    for b, full in enumerate(space.branch_channels):
        counts = [space.channels(b, i) for i in range(len(space.multipliers))]
        if len(set(counts)) != len(counts):
            raise OptionError(
                f'{key_path(where, "widths")} = {widths!r}: on branch {b} ({full} channels) they round to the same '
                f'channel counts {counts}; expected a distinct count per width'
            )
    stem_out = 4 * args['stem_width'] if args['stem_blocks'] else args['in_channels']
    branch0 = {space.branch_channels[0], *(space.channels(0, i) for i in range(len(space.multipliers)))}
    if stem_out in branch0:
        raise OptionError(
            f"{key_path(where, 'widths')}: branch 0 (or one of its widths) has {stem_out} channels, the stem's output "
            '(4 x stem_width), where the network needs no projection to narrow; choose other widths or stem_width'
        )


def macro_space(args: Mapping[str, Any], candidates: Sequence[str]) -> MacroSpace:
    channels = tuple(args['branch_channels'])
    return MacroSpace(
        channels,
        tuple(sorted(float(m) for m in (args.get('widths') or (1.0,)))),
        tuple(sorted(args.get('num_cells') or (len(channels) - 1,))),
        args['columns_per_cell'],
        tuple(candidates),
    )


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


# ----------------------------------------------------------------------------- masks
def install_masks(net: nn.Module) -> None:
    """Tags every BatchNorm of ``net``'s transitions, columns and head with the branch it works on
    and hooks it to keep only the subnet's share of its channels (``net.active_widths``)."""
    parts = [p for t in net.transitions for p in t.branch_parts()]
    parts += [p for column in net.columns for module in column.values() for p in module.branch_parts()]
    parts += list(net.head.branch_parts())
    for branch, part in parts:
        for module in part.modules():
            if isinstance(module, nn.BatchNorm2d):
                if module.num_features != net.branch_channels[branch]:  # a part working at another width
                    raise ValueError(
                        f'{type(part).__name__}: a BatchNorm of {module.num_features} channels on branch '
                        f'{branch} of {net.branch_channels[branch]}: it cannot share widths'
                    )
                module.width_branch = branch
                module.register_forward_hook(functools.partial(_keep_channels, net))


def _keep_channels(net: nn.Module, bn: nn.BatchNorm2d, _: Any, out: torch.Tensor) -> torch.Tensor | None:
    widths = net.active_widths
    if widths is None:
        return None
    keep = widths[bn.width_branch]
    if keep >= bn.num_features:
        return None
    mask = torch.arange(bn.num_features, device=out.device) < keep
    return out * mask.view(1, -1, 1, 1).to(out.dtype)


def inherit_weights(derived: nn.Module, supernet_state: Mapping[str, torch.Tensor]) -> None:
    """Loads into ``derived`` (a CLEARERNet of a macro genotype) the supernet's weights and
    statistics sliced to its shapes: the first channels of every dimension."""
    state = {}
    for name, value in derived.state_dict().items():
        source = supernet_state[name]
        state[name] = source[tuple(slice(0, n) for n in value.shape)] if value.dim() else source
    derived.load_state_dict(state)
