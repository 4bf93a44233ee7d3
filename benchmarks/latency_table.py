"""How well a latency table (clearer_basicsr/archs/latency.py) predicts whole networks, and how
well MACs rank latency.

For a preset (a search option file's network_g), the table is measured at ``--size`` on the CPU
with ``--threads`` threads (in the macro space, ``network_g: widths``, every shape's); then
``--genotypes`` genotypes of the space (all parallel and all fusion, or in the macro space the
narrowest and the widest, and random ones, fixed seed) are built as derived networks and timed
whole, the same way (batch 1, eval mode, the memory format the search trains in, the fastest of
``--repeats`` runs spread over as many passes over all of them as the table has, after it).
Prints per genotype the table's sum, the measured time and MACs, then the table's mean and
largest error and the Kendall tau between MACs and measured time. Run it on an idle machine.

    python benchmarks/latency_table.py [-opt OPTION_FILE] [--size 256] [--genotypes 16] [--threads 1]
        [--json benchmarks/results/latency_table.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402


def kendall_tau(a, b):
    """Kendall's tau-a of two equally long sequences."""
    pairs = [(i, j) for i in range(len(a)) for j in range(i + 1, len(a))]
    score = sum((a[i] - a[j]) * (b[i] - b[j]) > 0 for i, j in pairs) - sum(
        (a[i] - a[j]) * (b[i] - b[j]) < 0 for i, j in pairs
    )
    return score / len(pairs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-opt', default=os.path.join(ROOT, 'clearer_basicsr', 'options', 'search_clearer_denoise.yml'))
    parser.add_argument('--size', type=int, default=256, help='input side the parts and networks are timed at')
    parser.add_argument('--genotypes', type=int, default=16, help='genotypes timed whole (at least 3)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--json', help='write the figures here')
    args = parser.parse_args(argv)
    if args.genotypes < 3 or args.size < 16 or args.threads < 1 or args.repeats < 1:
        raise UserInputError('--genotypes >= 3, --size >= 16, --threads >= 1 and --repeats >= 1 expected')

    import torch

    from clearer_basicsr.archs import latency
    from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet
    from clearer_basicsr.archs.complexity import genotype_cost, preset_numbers
    from clearer_basicsr.models.budget import Budget
    from clearer_basicsr.models.macro_budget import MacroBudget
    from clearer_basicsr.option_file import read_option_file

    torch.set_num_threads(args.threads)
    net_opt = {k: v for k, v in read_option_file(args.opt)['network_g'].items() if k != 'type'}
    supernet = CLEARERSearchNet(**net_opt)
    cpu, channels_last = torch.device('cpu'), bool(supernet.prefers_channels_last)
    timing = {'size': args.size, 'device': cpu, 'channels_last': channels_last}
    space = (MacroBudget if supernet.macro else Budget).measure(supernet, args.size, 'latency', timing)
    table = space.table
    rng = random.Random(0)
    # every digit at its first and at its last value: the first and the last candidate in every column
    # (all parallel, all fusion in the paper's space), in the macro space also the narrowest and the widest
    first, last = [0] * len(space.radix), [n - 1 for n in space.radix]
    chosen = [space.canonical(first), space.canonical(last)]
    while len(chosen) < args.genotypes:
        row = space.canonical([rng.randrange(n) for n in space.radix])
        if row not in chosen:
            chosen.append(row)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    preset = {k: v for k, v in preset_numbers(supernet).items() if k not in ('branch_channels', 'columns_per_cell')}
    preset['residual'] = supernet.residual
    genotypes = [space.genotype(indices) for indices in chosen]
    nets = [CLEARERNet(g, **preset).eval().to(memory_format=fmt) for g in genotypes]
    x = torch.rand(1, supernet.in_channels, args.size, args.size).contiguous(memory_format=fmt)
    makers = [lambda net=net: {'whole': lambda: net.body(x)} for net in nets]  # in passes, as the table's parts
    fastest = latency.fastest_in_rounds(makers, cpu, math.ceil(args.repeats / latency.ROUNDS))
    rows = []
    for genotype, timed in zip(genotypes, fastest):
        rows.append(
            {
                'genotype': str(genotype),
                'table_ms': round(space.cost(genotype), 3),
                'measured_ms': round(timed['whole'], 3),
                'macs': genotype_cost(supernet, genotype, args.size)['macs'],
            }
        )
        r = rows[-1]
        both = f'table {r["table_ms"]:9.2f} ms  measured {r["measured_ms"]:9.2f} ms'
        print(f'{r["genotype"]:<42} {both}  {r["macs"]:>14,} MACs')
    errors = [abs(r['table_ms'] / r['measured_ms'] - 1) for r in rows]
    tau_macs = kendall_tau([r['macs'] for r in rows], [r['measured_ms'] for r in rows])
    tau_table = kendall_tau([r['table_ms'] for r in rows], [r['measured_ms'] for r in rows])
    summary = {
        'size': args.size,
        'threads': args.threads,
        'key': table['key'],
        'mean_error': round(sum(errors) / len(errors), 4),
        'max_error': round(max(errors), 4),
        'kendall_tau_macs_vs_measured': round(tau_macs, 3),
        'kendall_tau_table_vs_measured': round(tau_table, 3),
        'rows': rows,
    }
    print(
        f'table error: mean {summary["mean_error"]:.1%}, largest {summary["max_error"]:.1%}; Kendall tau with the '
        f'measured time: MACs {tau_macs:+.2f}, table {tau_table:+.2f} ({len(rows)} genotypes, {args.threads} thread(s))'
    )
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == '__main__':
    run(main)
