"""CLEARER multi-scale search space: supernet (``CLEARERSearchNet``) and derived net (``CLEARERNet``).

Layout (paper preset): a full-resolution stem of bottleneck blocks, then before each cell a
fixed transition that adds one half-resolution branch, then cells of searchable columns over
all current branches, and a head that fuses every branch into the full-resolution one.
Each column chooses one of the candidates of the space (``candidates``, a list of names from
the table in :mod:`.candidates`; the paper's space, the default, has two):

* ``parallel``: every branch through its own residual block, no exchange between scales;
* ``fusion``: HRNet-style exchange, out_i = ReLU(sum_j f_ij(x_j)).

Both networks are :class:`_MultiScaleNet` with different columns: the supernet's columns hold
every candidate and mix them with softmax weights of the architecture logits; the derived
net's columns hold only the chosen candidate. Their state_dict keys therefore coincide, and
the derived net's keys are a subset of the supernet's.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..option_rules import ConstructorOptions, OptionError, constructor_arguments, fail, key_path
from .arch_util import check_residual, padded_call, restore_buffers, snapshot_buffers
from .candidates import DEFAULT_CANDIDATES, candidate, check_candidates, import_candidate_modules, register_candidate
from .genotype import Genotype, names_a_file, preset_problem
from .widths import MacroSpace, check_macro_options, install_masks, macro_space

PAPER_BRANCH_CHANNELS = (32, 64, 128, 256)


# --------------------------------------------------------------------------- blocks
def _sum(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """Sum of tensors; Python's sum() would start with 0 + the first, one more full-size add."""
    return functools.reduce(operator.add, tensors)


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, relu: bool = False
) -> nn.Sequential:
    """Bias-free conv (padding keeps the size at stride 1) + BN, optionally + ReLU."""
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """3x3 conv-BN-ReLU-3x3 conv-BN, plus identity, then ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels, 3, relu=True), conv_bn(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x, inplace=True)  # in place on the temporary sum


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 residual bottleneck with expansion 4; 1x1 projection when channels change."""

    expansion = 4

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        out_channels = width * self.expansion
        self.body = nn.Sequential(
            conv_bn(in_channels, width, 1, relu=True),
            conv_bn(width, width, 3, relu=True),
            conv_bn(width, out_channels, 1),
        )
        self.shortcut = nn.Identity() if in_channels == out_channels else conv_bn(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x), inplace=True)


class Transition(nn.Module):
    """Fixed module before each cell: keeps the branches (3x3 conv-BN-ReLU only where the
    channel count changes) and adds a half-resolution branch from the lowest-resolution one."""

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int]):
        super().__init__()
        if len(out_channels) != len(in_channels) + 1:
            raise ValueError(f'Transition adds one branch: got {len(in_channels)} -> {len(out_channels)} branches')
        self.keep = nn.ModuleList(
            nn.Identity() if c_in == c_out else conv_bn(c_in, c_out, 3, relu=True)
            for c_in, c_out in zip(in_channels, out_channels)
        )
        self.new = conv_bn(in_channels[-1], out_channels[-1], 3, stride=2, relu=True)

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        return [f(x) for f, x in zip(self.keep, branches)] + [self.new(branches[-1])]

    def branch_parts(self) -> Iterator[tuple[int, nn.Module]]:
        """(branch, module) of every part, by the branch its outputs belong to (:mod:`.widths`)."""
        yield from enumerate(self.keep)
        yield len(self.keep), self.new


class PerBranch(nn.Module):
    """Each branch alone through a block of its own (``block(channels)``): no exchange between scales."""

    block: type[nn.Module]

    def __init__(self, channels: Sequence[int]):
        super().__init__()
        self.blocks = nn.ModuleList(self.block(c) for c in channels)

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        return [block(x) for block, x in zip(self.blocks, branches)]

    def branch_parts(self) -> Iterator[tuple[int, nn.Module]]:
        return enumerate(self.blocks)


@register_candidate('parallel', code='P', summary='a residual block per branch')
class Parallel(PerBranch):
    """Candidate 'parallel': each branch alone through one residual block."""

    shares_widths = True  # BatchNorm after every conv, channels kept apart: archs/widths.py
    block = BasicBlock


@register_candidate('fusion', code='F', drawing='exchange', summary='exchange across scales')
class Fusion(nn.Module):
    """Candidate 'fusion' (HRNet exchange): output i = ReLU(sum_j f_ij(x_j)).

    f_ii is the identity; from a lower resolution (j > i) a 1x1 conv-BN then nearest
    upsampling by 2^(j-i); from a higher resolution (j < i) i-j stride-2 3x3 conv-BN with
    ReLU between them. ``num_outputs`` limits the outputs to the highest resolutions (the
    head fuses into branch 0 only).
    """

    shares_widths = True  # BatchNorm after every conv, channels kept apart: archs/widths.py

    def __init__(self, channels: Sequence[int], num_outputs: int | None = None):
        super().__init__()
        num_outputs = len(channels) if num_outputs is None else num_outputs
        self.paths = nn.ModuleList(
            nn.ModuleList(self._path(channels, j, i) for j in range(len(channels))) for i in range(num_outputs)
        )

    @staticmethod
    def _path(channels: Sequence[int], j: int, i: int) -> nn.Module:
        if j == i:
            return nn.Identity()
        if j > i:
            return nn.Sequential(*conv_bn(channels[j], channels[i], 1), nn.Upsample(scale_factor=2 ** (j - i)))
        steps = [conv_bn(channels[j], channels[j], 3, stride=2, relu=True) for _ in range(i - j - 1)]
        return nn.Sequential(*steps, conv_bn(channels[j], channels[i], 3, stride=2))

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        return [F.relu(_sum(f(x) for f, x in zip(row, branches))) for row in self.paths]

    def branch_parts(self) -> Iterator[tuple[int, nn.Module]]:
        """A path into branch i is branch i's but for its stride steps, which run at branch j's width."""
        for i, row in enumerate(self.paths):
            for j, path in enumerate(row):
                if j > i:
                    yield i, path
                elif j < i:
                    yield from ((j, step) for step in path[:-1])
                    yield i, path[-1]


class Column(nn.ModuleDict):
    """A column over all branches holding its candidates by name (in the order of the space,
    the logits' order), each built from the candidate table.

    The supernet's column holds every candidate and mixes their outputs branch by branch;
    a resolved (derived) column holds only its chosen candidate.
    """

    def __init__(self, channels: Sequence[int], candidates: Sequence[str] = DEFAULT_CANDIDATES):
        super().__init__({name: candidate(name).build(tuple(channels)) for name in candidates})

    def forward(
        self, branches: list[torch.Tensor], weights: Sequence[torch.Tensor | None] | None = None
    ) -> list[torch.Tensor]:
        """``weights``: one mixing weight per candidate, or None for a resolved column. A
        candidate whose weight is None is not computed (single-path sampling)."""
        if weights is None:
            (module,) = self.values()
            return module(branches)
        mixed = None
        for module, w in zip(self.values(), weights):
            if w is None:
                continue
            out = module(branches)
            mixed = (
                [w * y for y in out] if mixed is None else [torch.addcmul(m, w, y) for m, y in zip(mixed, out)]
            )  # m + w * y in one pass
        return mixed


class Head(nn.Module):
    """Final fusion of all branches into the full-resolution branch, then a bias-free 1x1 conv."""

    def __init__(self, channels: Sequence[int], out_channels: int):
        super().__init__()
        self.fuse = Fusion(channels, num_outputs=1)
        self.conv = nn.Conv2d(channels[0], out_channels, 1, bias=False)

    def forward(self, branches: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(self.fuse(branches)[0])

    def branch_parts(self) -> Iterator[tuple[int, nn.Module]]:
        return self.fuse.branch_parts()


@contextlib.contextmanager
def unchanged_buffers(module: nn.Module) -> Iterator[None]:
    """Puts ``module``'s buffers back as they were on exit. Checkpointing runs a column's forward
    again in backward; in training mode its BatchNorms would update their running statistics
    a second time."""
    snapshot = snapshot_buffers(module)
    try:
        yield
    finally:
        restore_buffers(snapshot)


def _checkpoint_contexts(module: nn.Module) -> tuple[contextlib.AbstractContextManager, ...]:
    """torch.utils.checkpoint's (forward, recompute) contexts: the recomputation leaves the
    BatchNorm statistics as the forward left them."""
    return contextlib.nullcontext(), unchanged_buffers(module)


# --------------------------------------------------------------------------- networks
class _MultiScaleNet(ConstructorOptions, nn.Module):
    """Stem, transitions, cells of columns and head; ``column_candidates`` says, per column
    (cell-major), which candidates the column holds."""

    checkpoint_columns = False  # recompute each column in backward instead of keeping its activations
    active_cells: int | None = None  # a macro-space subnet's number of cells (archs/widths.py); None: all
    active_widths: tuple[int, ...] | None = None  # its channels per branch; None: every channel
    prefers_channels_last = True  # faster on the CPU (benchmarks/bench_search.py): the models' channels_last: auto

    def __init__(
        self,
        column_candidates: Sequence[Sequence[str]],
        in_channels: int,
        out_channels: int,
        branch_channels: Sequence[int],
        columns_per_cell: int,
        stem_blocks: int,
        stem_width: int,
        residual: bool,
        init_std: float,
    ) -> None:
        super().__init__()
        branch_channels = tuple(int(c) for c in branch_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.branch_channels, self.columns_per_cell = branch_channels, columns_per_cell
        self.stem_blocks, self.stem_width = stem_blocks, stem_width
        self.residual = residual
        self.check_preset(type(self).__name__, vars(self))  # the numbers just kept
        self.num_cells = len(branch_channels) - 1
        self.num_columns = self.num_cells * columns_per_cell
        # The lowest-resolution branch is 2^num_cells times smaller than the (padded) input.
        self.size_multiple = 2**self.num_cells

        stem_out = Bottleneck.expansion * stem_width if stem_blocks else in_channels
        self.stem = nn.Sequential(
            *(Bottleneck(in_channels if b == 0 else stem_out, stem_width) for b in range(stem_blocks))
        )
        self.transitions = nn.ModuleList()
        self.cells = nn.ModuleList()
        previous = (stem_out,)
        for c in range(self.num_cells):
            channels = branch_channels[: c + 2]
            self.transitions.append(Transition(previous, channels))
            first = c * columns_per_cell
            self.cells.append(
                nn.ModuleList(Column(channels, column_candidates[first + k]) for k in range(columns_per_cell))
            )
            previous = channels
        self.head = Head(branch_channels, out_channels)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, init_std)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():  # a candidate with its own scheme (candidates.py) keeps it
            if m is not self and callable(getattr(m, 'init_weights', None)):
                m.init_weights()

    @staticmethod
    def check_preset(where: str, preset: Mapping[str, Any]) -> None:
        """The constructor numbers of the search space (``where``: the class, or the option key)."""
        problem = preset_problem(preset['branch_channels'], preset['columns_per_cell'])
        if problem:
            key, value, expected = problem
            fail(key_path(where, key), value, expected)
        if preset['stem_blocks'] < 0 or preset['stem_width'] < 1:
            raise OptionError(
                f'{where}: stem_blocks = {preset["stem_blocks"]}, stem_width = {preset["stem_width"]}: expected '
                'stem_blocks >= 0 and stem_width >= 1'
            )
        check_residual(where, preset, 'adds the input to the output')

    @staticmethod
    def space(where: str, candidates: Any, candidate_modules: Any) -> tuple[str, ...]:
        """The candidate names of ``network_g: candidates``, after importing ``candidate_modules``."""
        import_candidate_modules(key_path(where, 'candidate_modules'), candidate_modules)
        return check_candidates(key_path(where, 'candidates'), candidates)

    @classmethod
    def check_arguments(cls, where: str, args: Mapping[str, Any]) -> None:
        channels, per_cell = cls.preset_of(args, where)
        cls.check_preset(where, {**args, 'branch_channels': channels, 'columns_per_cell': per_cell})

    @classmethod
    def preset_of(cls, args: Mapping[str, Any], where: str) -> tuple[Sequence[int], int]:
        """``(branch_channels, columns_per_cell)`` of the constructor arguments ``args``."""
        return args['branch_channels'], args['columns_per_cell']

    @classmethod
    def check_patch_size(cls, opt: Mapping[str, Any], net_where: str, gt_size: int, where: str) -> None:
        """Training patches must be multiples of 2^(branches - 1): the lowest branch halves it that often."""
        channels, _ = cls.preset_of(constructor_arguments(cls, opt, net_where), net_where)
        multiple = 2 ** (len(channels) - 1)
        if gt_size % multiple:
            below = gt_size // multiple * multiple
            example = f'{below} or {below + multiple}' if below else f'{multiple}'
            raise OptionError(
                f'{key_path(where, "gt_size")} = {gt_size}: expected a multiple of {multiple} = 2^(branches - 1) '
                f'for the {len(channels)} branches of {net_where} (e.g. {example})'
            )

    @property
    def columns(self) -> list[Column]:
        """All columns, cell-major (the row order of the architecture logits)."""
        return [column for cell in self.cells for column in cell]

    def mixing_weights(self) -> Sequence[Sequence[torch.Tensor | None]] | None:
        """Per-column candidate weights, (num_columns, len(candidates)), None where a candidate is not
        computed; None: columns are resolved."""
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        multiple = self.size_multiple if self.active_cells is None else 2**self.active_cells  # a subnet's own
        aligned = h % multiple == 0 and w % multiple == 0  # training patches: no copy
        out = self.body(x) if aligned else padded_call(self.body, x, multiple)
        return out + x if self.residual else out

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """The network on an input whose height and width are multiples of ``size_multiple``, before
        the crop and the global residual (exporters run it between padding and cropping of their own)."""
        branches = [self.stem(x)]
        weights = self.mixing_weights()  # once per forward: a checkpointed column recomputes with the same
        cells = zip(self.transitions, self.cells)
        for c, (transition, cell) in enumerate(itertools.islice(cells, self.active_cells)):
            branches = transition(branches)
            for k, column in enumerate(cell, c * self.columns_per_cell):
                column_weights = None if weights is None else weights[k]
                if self.checkpoint_columns and torch.is_grad_enabled():
                    branches = checkpoint(
                        column,
                        branches,
                        column_weights,
                        use_reentrant=False,
                        preserve_rng_state=False,
                        context_fn=functools.partial(_checkpoint_contexts, column),
                    )
                else:
                    branches = column(branches, column_weights)
        return self.head(branches)


@ARCH_REGISTRY.register()
class CLEARERSearchNet(_MultiScaleNet):
    """CLEARER supernet: every column mixes the candidates of the space with the softmax of its
    architecture logits. Defaults are the paper preset (12,558,144 weights for 1 channel).

    Args:
        in_channels: input image channels (1 for gray denoising, 3 for deraining).
        out_channels: output image channels.
        branch_channels: channels of the branches, highest resolution first; cell c runs over
            the first c + 2 of them, so there are len(branch_channels) - 1 cells.
        columns_per_cell: searchable columns per cell.
        stem_blocks: bottleneck blocks of the full-resolution stem (0: no stem).
        stem_width: bottleneck width of the stem; the stem outputs 4 * stem_width channels.
        residual: predict the residual and add the input (needs in_channels == out_channels).
        init_std: std of the normal init of every conv weight (BN: weight 1, bias 0).
        arch_init_std: std of the normal init of the architecture logits.
        checkpoint_columns: activation checkpointing per column: a training forward keeps only
            the columns' inputs and recomputes each column in backward (less memory, about one
            more forward of the columns in time). BatchNorm statistics are updated once.
        candidates: the search space: the names (or codes) of what every column chooses among,
            at least 2, from the candidate table (:mod:`.candidates`); the index of a name here is
            its logit index. Default ``[parallel, fusion]``, the paper's space.
        candidate_modules: modules to import first, which register candidates of your own
            (``register_candidate``), e.g. ``[my_package.my_candidates]``.
        widths: the macro space (:mod:`.widths`, one-shot search only): the width choices of every
            branch, as fractions of ``branch_channels``, e.g. ``[0.5, 0.75, 1]``. Empty: every
            branch at its full width, the paper's space.
        num_cells: the macro space's choices of the number of cells (resolution levels), e.g.
            ``[2, 3]``. Empty: all of them.

    Single-path sampling (GDAS) is switched on by the search model (``train: arch_sampling:
    gumbel``) through ``gumbel_tau`` and ``gumbel_generator``, a fixed single path (one-shot
    search) through ``path``; see :meth:`mixing_weights`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        branch_channels: Sequence[int] = PAPER_BRANCH_CHANNELS,
        columns_per_cell: int = 4,
        stem_blocks: int = 2,
        stem_width: int = 32,
        residual: bool = False,
        init_std: float = 1e-3,
        arch_init_std: float = 1e-3,
        checkpoint_columns: bool = False,
        candidates: Sequence[str] = DEFAULT_CANDIDATES,
        candidate_modules: Sequence[str] = (),
        widths: Sequence[float] = (),
        num_cells: Sequence[int] = (),
    ):
        candidates = self.space(type(self).__name__, candidates, candidate_modules)
        num_columns = (len(branch_channels) - 1) * columns_per_cell
        super().__init__(
            [candidates] * num_columns,
            in_channels,
            out_channels,
            branch_channels,
            columns_per_cell,
            stem_blocks,
            stem_width,
            residual,
            init_std,
        )
        self.candidates = candidates
        self.candidate_modules = tuple(candidate_modules)
        # One row per column (cell-major), one logit per candidate in the order of the space.
        self.arch_logits = nn.Parameter(torch.randn(self.num_columns, len(candidates)) * arch_init_std)
        self.checkpoint_columns = bool(checkpoint_columns)
        self.gumbel_tau: float | None = None  # a temperature: sample one candidate per column
        self.gumbel_generator: torch.Generator | None = None  # CPU generator of the Gumbel noise
        self.path: list[int] | None = None  # one candidate index per column: that path alone (one-shot search)
        self.macro: MacroSpace | None = None  # the macro space, with widths or num_cells
        self.subnets: list[Any] | None = None  # macro-space rows trained at once, one per part of the batch
        if widths or num_cells:
            args = dict(
                branch_channels=branch_channels,
                columns_per_cell=columns_per_cell,
                stem_blocks=stem_blocks,
                stem_width=stem_width,
                in_channels=in_channels,
                checkpoint_columns=checkpoint_columns,
            )
            check_macro_options(type(self).__name__, {**args, 'widths': widths, 'num_cells': num_cells}, candidates)
            self.macro = macro_space(
                dict(
                    branch_channels=branch_channels,
                    widths=widths,
                    num_cells=num_cells,
                    columns_per_cell=columns_per_cell,
                ),
                candidates,
            )
            install_masks(self)

    def use_path(self, digits: Sequence[int] | None) -> None:
        """Fixes the path a forward runs (one-shot search): a candidate index per column, or in the
        macro space a row of :class:`.widths.MacroSpace`; None: back to the whole supernet."""
        if self.macro is None or digits is None:
            self.path = None if digits is None else list(digits)
            self.active_cells = self.active_widths = None
            return
        subnet = self.macro.subnet(digits)
        padded = list(subnet.path) + [0] * (self.num_columns - len(subnet.path))  # columns it never reaches
        self.path, self.active_cells, self.active_widths = padded, subnet.cells, subnet.widths

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.subnets:
            return super().forward(x)
        outputs = []  # one subnet per part of the batch (the sandwich rule, archs/widths.py)
        try:
            for digits, part in zip(self.subnets, x.chunk(len(self.subnets)), strict=True):
                self.use_path(digits)
                outputs.append(super().forward(part))
        finally:
            self.use_path(None)
        return torch.cat(outputs)

    @classmethod
    def check_arguments(cls, where: str, args: Mapping[str, Any]) -> None:
        candidates = cls.space(where, args['candidates'], args['candidate_modules'])
        super().check_arguments(where, args)
        check_macro_options(where, args, candidates)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.arch_logits]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p is not self.arch_logits]

    def column_weights(self) -> torch.Tensor:
        """Softmax of the logits per column, shape (num_columns, len(candidates))."""
        return F.softmax(self.arch_logits, dim=-1)

    def mixing_weights(self) -> torch.Tensor | list[list[torch.Tensor | float | None]]:
        """The weights forward mixes the candidates with: the softmax of the logits, or, when
        ``gumbel_tau`` is set, a single path.

        Single path (GDAS): a training forward samples one candidate per column,
        argmax(logits + g) with g ~ Gumbel(0, 1) drawn on the CPU from ``gumbel_generator``
        (the search model seeds it alike on every rank), and weights it straight-through: 1 in
        value, the gradient of softmax((logits + g) / tau). Only the sampled candidate is
        computed, so the data gradient reaches the logits through its weight alone. An eval
        forward (validation) runs the argmax of the logits, i.e. the derived network.

        A fixed ``path`` (one-shot search) computes its candidates alone, at weight 1."""
        if self.path is not None:
            return [[1.0 if k == i else None for k in range(len(self.candidates))] for i in self.path]
        if self.gumbel_tau is None:
            return self.column_weights()
        logits = self.arch_logits
        if self.training:
            gumbel = torch.empty(logits.shape).exponential_(generator=self.gumbel_generator).log_().neg_()
            soft = F.softmax((logits + gumbel.to(logits)) / self.gumbel_tau, dim=-1)
            index = soft.argmax(dim=-1)
            weights = soft + (F.one_hot(index, soft.shape[-1]).to(soft) - soft).detach()
        else:
            index = logits.argmax(dim=-1)
            weights = F.one_hot(index, logits.shape[-1]).to(logits)
        return [[row[k] if k == i else None for k in range(len(row))] for row, i in zip(weights, index.tolist())]

    def genotype(self) -> Genotype:
        """Argmax per column."""
        return Genotype.from_indices(
            self.arch_logits.argmax(dim=-1).tolist(), self.branch_channels, self.columns_per_cell, self.candidates
        )


@ARCH_REGISTRY.register()
class CLEARERNet(_MultiScaleNet):
    """Derived CLEARER network: the supernet with each column resolved to its chosen candidate.

    Its state_dict keys are a subset of the supernet's (same names and shapes), so supernet
    weights of the chosen candidates load directly.

    Args:
        genotype: the architecture: a mapping (``{cells: [[...]], branch_channels: [...],
            columns_per_cell: N}``), a compact string like ``'P F F P | F F P P | P P P P'``, or a
            :class:`Genotype`. In an option file it may name a ``genotype.yml`` a search wrote: the
            option layer reads it (:func:`clearer_basicsr.search_result.resolve_genotype_files`).
        in_channels, out_channels, stem_blocks, stem_width, residual, init_std: as in
            :class:`CLEARERSearchNet`.
        branch_channels, columns_per_cell: taken from the genotype when None; when given,
            they must match the genotype (ValueError otherwise).
        candidates: the search space the genotype comes from (the search's ``candidates``); every
            candidate the genotype names must be in it. None: the default space plus whatever
            registered candidates the genotype names.
        candidate_modules: as in :class:`CLEARERSearchNet`.
    """

    def __init__(
        self,
        genotype: Any,
        in_channels: int = 1,
        out_channels: int = 1,
        branch_channels: Sequence[int] | None = None,
        columns_per_cell: int | None = None,
        stem_blocks: int = 2,
        stem_width: int = 32,
        residual: bool = False,
        init_std: float = 1e-3,
        candidates: Sequence[str] | None = None,
        candidate_modules: Sequence[str] = (),
    ):
        where = type(self).__name__
        space = None if candidates is None else self.space(where, candidates, candidate_modules)
        if space is None:
            import_candidate_modules(key_path(where, 'candidate_modules'), candidate_modules)
        genotype = self.resolve_genotype(
            genotype, branch_channels, columns_per_cell, key_path(where, 'genotype'), space
        )
        super().__init__(
            [(name,) for name in genotype.choices],
            in_channels,
            out_channels,
            genotype.branch_channels,
            genotype.columns_per_cell,
            stem_blocks,
            stem_width,
            residual,
            init_std,
        )
        self._genotype = genotype
        self.candidates = space or DEFAULT_CANDIDATES + tuple(
            dict.fromkeys(n for n in genotype.choices if n not in DEFAULT_CANDIDATES)
        )
        self.candidate_modules = tuple(candidate_modules)

    def genotype(self) -> Genotype:
        return self._genotype

    @classmethod
    def preset_of(cls, args: Mapping[str, Any], where: str) -> tuple[Sequence[int], int]:
        space = None
        if args['candidates'] is not None:
            space = cls.space(where, args['candidates'], args['candidate_modules'])
        else:
            import_candidate_modules(key_path(where, 'candidate_modules'), args['candidate_modules'])
        genotype = cls.resolve_genotype(
            args['genotype'], args['branch_channels'], args['columns_per_cell'], key_path(where, 'genotype'), space
        )
        return genotype.branch_channels, genotype.columns_per_cell

    @staticmethod
    def resolve_genotype(
        source: Any,
        branch_channels: Sequence[int] | None,
        columns_per_cell: int | None,
        where: str,
        candidates: Sequence[str] | None = None,
    ) -> Genotype:
        """The genotype ``source`` names (:meth:`.Genotype.from_any`), checked against the preset
        numbers given next to it; one OptionError naming ``where`` otherwise."""
        if source is None:
            fail(
                where,
                source,
                'a genotype: a genotype.yml written by a search, a compact string like '
                '"P F F P | F F P P | P P P P", or a mapping with cells',
            )
        if names_a_file(source):
            raise OptionError(
                f'{where} = {str(source)!r}: a genotype file; a network is built from the genotype it holds, '
                'which the option layer reads (clearer_basicsr.search_result.resolve_genotype_files, or '
                'SearchResult.load(path).genotype)'
            )
        try:
            genotype = Genotype.from_any(source, branch_channels, columns_per_cell)
            genotype.validate(branch_channels, columns_per_cell, candidates)
        except (ValueError, TypeError, KeyError) as err:
            given = (('branch_channels', branch_channels), ('columns_per_cell', columns_per_cell))
            preset = ', '.join(f'{k} {list(v) if isinstance(v, Sequence) else v}' for k, v in given if v is not None)
            raise OptionError(
                f'{where} = {source!r} does not fit the network{f" ({preset})" if preset else ""}: {err}'
            ) from None
        return genotype

    def extra_repr(self) -> str:
        return f'genotype={self._genotype}'
