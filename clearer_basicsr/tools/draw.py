"""python -m clearer_basicsr.tools.draw GENOTYPE [--out PNG]: a picture of a derived CLEARER network.

Branches are rows (full resolution on top), the columns run left to right: a parallel column is
one residual block per branch, a fusion column exchanges features across every pair of branches,
a transition adds a half-resolution branch, and the head fuses everything into the full-resolution
branch. A search writes the same picture as genotype.png next to its genotype.yml.

GENOTYPE is a genotype.yml (a search's output or a zoo entry) or a compact string such as
'P F F P | F F P P | P P P P' (quote it; --branch_channels gives its channels, default 32, 64, ...).

examples:
  python -m clearer_basicsr.tools.draw experiments/CLEARER_search_denoise_gray_s30/genotype.yml
  python -m clearer_basicsr.tools.draw 'P P P F | P P P F' --branch_channels 8 16 32 --out hrnet_like.png
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from _clearer_basicsr_cli import run
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.plots import draw_genotype
from clearer_basicsr.search_result import genotype_of
from clearer_basicsr.tools.cli import doc_parser


def main(argv: Sequence[str] | None = None) -> str:
    """Draws the genotype; returns the path of the picture."""
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.tools.draw')
    parser.add_argument('genotype', metavar='GENOTYPE', help='a genotype.yml or a compact string (quoted)')
    parser.add_argument('--out', help='the PNG to write (default: genotype.png next to a genotype.yml, else here)')
    parser.add_argument(
        '--branch_channels', type=int, nargs='+', help='channels of a compact string (default: 32, 64, ...)'
    )
    args = parser.parse_args(argv)
    is_file = os.path.isfile(args.genotype)
    try:
        genotype = genotype_of(args.genotype, branch_channels=args.branch_channels)
    except (ValueError, OSError) as err:
        raise UserInputError(f'GENOTYPE {args.genotype!r}: {err}') from None
    out = args.out or os.path.join(os.path.dirname(args.genotype) if is_file else '', 'genotype.png')
    draw_genotype(genotype, out)
    print(f'{genotype}: drawn in {out}')
    return out


if __name__ == '__main__':
    run(main)
