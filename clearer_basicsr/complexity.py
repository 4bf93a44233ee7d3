"""Cost of every candidate of every column of the CLEARER search space, at a given patch size.

Costs are measured on the real modules (mmengine's ``FlopAnalyzer`` on a batch-1 forward of
the supernet at the patch size, so every candidate sees the branch shapes it sees in
training). ``FlopAnalyzer`` counts multiply-accumulates (convolutions; also one per element
of batch norm and nearest upsampling; additions, ReLUs and the supernet's mixing products are
not counted), so its numbers are labelled MACs here; the architecture-loss option naming this
metric is ``flops``.

CLI::

    python -m clearer_basicsr.complexity -opt options/X.yml [--genotype genotype.yml] [--patch-size N]

This module registers nothing: it runs as ``__main__`` under ``python -m``, and BasicSR's
registries refuse a name registered twice.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import yaml
from mmengine.analysis import FlopAnalyzer

from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet, count_parameters
from clearer_basicsr.archs.genotype import MODULES, Genotype

METRICS = {'flops': 'macs', 'macs': 'macs', 'params': 'params'}  # option name -> cost key


def _total(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    parts = list(parts)
    return {key: sum(part[key] for part in parts) for key in ('macs', 'params')}


@dataclass(frozen=True)
class Costs:
    """Measured costs of one preset at one patch size; every cost is ``{'macs': int, 'params': int}``.

    Attributes:
        patch_size: input height and width the MACs were measured at (batch 1).
        branch_channels, columns_per_cell: the preset measured.
        columns: per column (cell-major, the logit row order) a mapping module name -> cost.
        fixed: costs of the parts every architecture has: ``stem``, ``transition 1``..., ``head``.
    """

    patch_size: int
    branch_channels: tuple[int, ...]
    columns_per_cell: int
    columns: tuple[Mapping[str, Mapping[str, int]], ...]
    fixed: Mapping[str, Mapping[str, int]]

    @property
    def fixed_total(self) -> dict[str, int]:
        return _total(self.fixed.values())

    @property
    def supernet_total(self) -> dict[str, int]:
        """Fixed parts plus every candidate of every column."""
        return _total([self.fixed_total, *(cost for column in self.columns for cost in column.values())])


def _preset(net: CLEARERSearchNet | CLEARERNet) -> dict[str, Any]:
    """The constructor numbers that determine the costs (not the genotype, not residual)."""
    return dict(
        in_channels=net.in_channels,
        out_channels=net.out_channels,
        branch_channels=tuple(net.branch_channels),
        columns_per_cell=net.columns_per_cell,
        stem_blocks=net.stem_blocks,
        stem_width=net.stem_width,
    )


@functools.cache
def _measure(patch_size: int, **preset: Any) -> Costs:
    # A fresh CPU supernet in eval mode: measuring never touches a caller's weights or BN statistics,
    # nor the global RNG (its init would shift a training run's random stream, depending on
    # whether this cache was already warm).
    with torch.random.fork_rng(devices=[]):
        net = CLEARERSearchNet(**preset).eval()
    with torch.no_grad():
        analyzer = FlopAnalyzer(net, (torch.zeros(1, net.in_channels, patch_size, patch_size),))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        macs = analyzer.by_module()

    def cost(name: str, module: torch.nn.Module) -> dict[str, int]:
        return {'macs': int(macs[name]), 'params': count_parameters(module)}

    columns = tuple(
        {name: cost(f'cells.{c}.{k}.{name}', column[name]) for name in MODULES}
        for c, cell in enumerate(net.cells)
        for k, column in enumerate(cell)
    )
    fixed = {'stem': cost('stem', net.stem)}
    for t, transition in enumerate(net.transitions):
        fixed[f'transition {t + 1}'] = cost(f'transitions.{t}', transition)
    fixed['head'] = cost('head', net.head)
    return Costs(patch_size, net.branch_channels, net.columns_per_cell, columns, fixed)


def candidate_costs(net: CLEARERSearchNet | CLEARERNet, patch_size: int) -> Costs:
    """Costs of every candidate and the fixed parts for ``net``'s preset at ``patch_size``.

    Cached per (preset, patch size): measuring traces a supernet forward.
    """
    if patch_size < 1:
        raise ValueError(f'patch_size must be a positive int, got {patch_size}')
    return _measure(int(patch_size), **_preset(net))


def derived_cost(costs: Costs, genotype: Any) -> dict[str, int]:
    """Cost of a derived net: the fixed parts plus the chosen candidate of each column."""
    genotype = Genotype.from_any(genotype, costs.branch_channels, costs.columns_per_cell)
    genotype.validate(costs.branch_channels, costs.columns_per_cell)
    return _total([costs.fixed_total, *(column[name] for column, name in zip(costs.columns, genotype.choices))])


def cost_matrix(net: CLEARERSearchNet | CLEARERNet, patch_size: int, metric: str = 'flops') -> torch.Tensor:
    """Cost of candidate k in column c as a float32 CPU tensor (num_columns, len(MODULES)).

    ``metric``: ``'flops'`` (measured as MACs) or ``'params'``.
    """
    if metric not in METRICS:
        raise ValueError(f'complexity metric {metric!r} is not one of {list(METRICS)}')
    key = METRICS[metric]
    costs = candidate_costs(net, patch_size)
    return torch.tensor([[column[name][key] for name in MODULES] for column in costs.columns], dtype=torch.float32)


def format_table(costs: Costs, genotype: Genotype | None = None, title: str = '') -> str:
    """Human-readable table: per column the P/F costs, the fixed parts and the totals."""
    chosen = genotype.choices if genotype is not None else [''] * len(costs.columns)
    p, f = MODULES
    lines = [
        title
        or f'CLEARER costs at {costs.patch_size}x{costs.patch_size} (batch 1), branch_channels '
        f'{list(costs.branch_channels)}, {costs.columns_per_cell} columns per cell',
        'MACs = multiply-accumulates counted by mmengine FlopAnalyzer (convs, BN, upsampling; adds/ReLUs not counted)',
        '',
        f'{"column":<16}{"branches":>9}{"P MACs":>17}{"P params":>12}{"F MACs":>17}{"F params":>12}  chosen',
    ]
    for i, column in enumerate(costs.columns):
        c, k = divmod(i, costs.columns_per_cell)
        lines.append(
            f'{f"cell {c + 1} col {k + 1}":<16}{c + 2:>9}{column[p]["macs"]:>17,}{column[p]["params"]:>12,}'
            f'{column[f]["macs"]:>17,}{column[f]["params"]:>12,}  {chosen[i]}'
        )
    rows = [*costs.fixed.items(), ('fixed total', costs.fixed_total), ('supernet total', costs.supernet_total)]
    if genotype is not None:
        rows.append((f'derived total [{genotype}]', derived_cost(costs, genotype)))
    width = max(len(name) for name, _ in rows) + 2
    lines += ['', f'{"part":<{width}}{"MACs":>17}{"params":>14}']
    lines += [f'{name:<{width}}{cost["macs"]:>17,}{cost["params"]:>14,}' for name, cost in rows]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description='Per-candidate cost table of a CLEARER network option file.')
    parser.add_argument('-opt', required=True, help='BasicSR option YAML with a CLEARERSearchNet/CLEARERNet network_g')
    parser.add_argument('--genotype', help='genotype (genotype.yml path or compact string) for derived totals')
    parser.add_argument('--patch-size', type=int, help='patch size (default: datasets.train.gt_size)')
    args = parser.parse_args(argv)

    with open(args.opt, encoding='utf-8') as f:
        opt = yaml.safe_load(f)
    net_opt = dict(opt.get('network_g') or {})
    net_type = net_opt.pop('type', None)
    nets = {'CLEARERSearchNet': CLEARERSearchNet, 'CLEARERNet': CLEARERNet}
    if net_type not in nets:
        raise SystemExit(f'{args.opt}: network_g type is {net_type!r}, expected one of {list(nets)}')
    patch_size = args.patch_size or ((opt.get('datasets') or {}).get('train') or {}).get('gt_size')
    if not patch_size:
        raise SystemExit(f'{args.opt}: no datasets.train.gt_size; pass --patch-size')

    net = nets[net_type](**net_opt)
    costs = candidate_costs(net, int(patch_size))
    genotype = None
    if args.genotype:
        genotype = Genotype.from_any(args.genotype, net.branch_channels, net.columns_per_cell)
    elif isinstance(net, CLEARERNet):
        genotype = net.genotype()
    print(format_table(costs, genotype))


if __name__ == '__main__':
    main()
