"""``python -m clearer_basicsr.complexity -opt X.yml``: the per-candidate cost table of a CLEARER
network option file (the costs themselves are measured by :mod:`clearer_basicsr.archs.complexity`).

    python -m clearer_basicsr.complexity -opt options/X.yml [--genotype genotype.yml] [--patch_size N]

This module registers nothing: it runs as ``__main__`` under ``python -m``, and BasicSR's
registries refuse a name registered twice.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from _clearer_basicsr_cli import run
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.option_file import read_option_file

if TYPE_CHECKING:  # the work imports torch; --help does not
    from clearer_basicsr.archs.complexity import Costs
    from clearer_basicsr.archs.genotype import Genotype


def format_table(costs: Costs, genotype: Genotype | None = None, title: str = '') -> str:
    """Human-readable table: per column the costs of every candidate (headed by its code), the
    fixed parts and the totals."""
    from clearer_basicsr.archs.candidates import code_of
    from clearer_basicsr.archs.complexity import derived_cost

    chosen = genotype.choices if genotype is not None else [''] * len(costs.columns)
    codes = [code_of(name) for name in costs.candidates]
    header = ''.join(f'{c + " MACs":>17}{c + " params":>12}' for c in codes)
    lines = [
        title
        or f'CLEARER costs at {costs.patch_size}x{costs.patch_size} (batch 1), branch_channels '
        f'{list(costs.branch_channels)}, {costs.columns_per_cell} columns per cell',
        'MACs = multiply-accumulates counted by mmengine FlopAnalyzer (convs, BN, upsampling; adds/ReLUs not counted)',
        '',
        f'{"column":<16}{"branches":>9}{header}  chosen',
    ]
    for i, column in enumerate(costs.columns):
        c, k = divmod(i, costs.columns_per_cell)
        lines.append(
            f'{f"cell {c + 1} col {k + 1}":<16}{c + 2:>9}'
            + ''.join(f'{column[n]["macs"]:>17,}{column[n]["params"]:>12,}' for n in costs.candidates)
            + f'  {chosen[i]}'
        )
    rows = [*costs.fixed.items(), ('fixed total', costs.fixed_total), ('supernet total', costs.supernet_total)]
    if genotype is not None:
        rows.append((f'derived total [{genotype}]', derived_cost(costs, genotype)))
    width = max(len(name) for name, _ in rows) + 2
    lines += ['', f'{"part":<{width}}{"MACs":>17}{"params":>14}']
    lines += [f'{name:<{width}}{cost["macs"]:>17,}{cost["params"]:>14,}' for name, cost in rows]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description='Per-candidate cost table of a CLEARER network option file.')
    parser.add_argument('-opt', required=True, help='BasicSR option YAML with a CLEARERSearchNet/CLEARERNet network_g')
    parser.add_argument('--genotype', help='genotype (genotype.yml path or compact string) for derived totals')
    parser.add_argument(
        '--patch_size', '--patch-size', type=int, metavar='N', help='patch size (default: datasets: train: gt_size)'
    )
    args = parser.parse_args(argv)

    from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet
    from clearer_basicsr.archs.complexity import candidate_costs
    from clearer_basicsr.search_result import genotype_of, resolve_genotype_files

    opt = resolve_genotype_files(read_option_file(args.opt))
    net_opt = dict(opt.get('network_g') or {})
    net_type = net_opt.pop('type', None)
    nets = {'CLEARERSearchNet': CLEARERSearchNet, 'CLEARERNet': CLEARERNet}
    if net_type not in nets:
        raise UserInputError(f'{args.opt}: network_g: type = {net_type!r}: expected one of {list(nets)}')
    patch_size = args.patch_size or ((opt.get('datasets') or {}).get('train') or {}).get('gt_size')
    if not patch_size:
        raise UserInputError(f'{args.opt}: no datasets: train: gt_size; pass --patch_size')

    net = nets[net_type](**net_opt)
    costs = candidate_costs(net, int(patch_size))
    genotype = None
    if args.genotype:
        try:
            genotype = genotype_of(args.genotype, net.branch_channels, net.columns_per_cell)
            genotype.validate(net.branch_channels, net.columns_per_cell, costs.candidates)
        except ValueError as err:
            raise UserInputError(f'--genotype {args.genotype!r}: {err}') from None
    elif isinstance(net, CLEARERNet):
        genotype = net.genotype()
    table = format_table(costs, genotype)
    print(table)
    return table


if __name__ == '__main__':
    run(main)
