"""The flags the preparation commands share: where to write (--out, --force) and how the arch
split is drawn (--arch-fraction, --seed)."""

from __future__ import annotations

import argparse


def add_output_args(parser: argparse.ArgumentParser, out_default: str | None = None) -> None:
    """--out and --force; without ``out_default`` (a text the command turns into the folder after
    parsing) --out is required."""
    parser.add_argument(
        '--out',
        required=out_default is None,
        help='output folder' + (f' (default: {out_default})' if out_default else ''),
    )
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace the outputs of an earlier run in --out (only what this command '
        'writes there; anything else in the folder is left alone)',
    )


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f'{text} is not in [0, 1)')
    return value


def add_arch_args(parser: argparse.ArgumentParser) -> None:
    """--arch-fraction and --seed of the arch split drawn from the training groups."""
    parser.add_argument(
        '--arch-fraction',
        type=fraction,
        default=0.1,
        help='fraction of the training groups held apart as the arch split, which '
        'the architecture search fits its logits on (default: 0.1; 0 = no arch split)',
    )
    parser.add_argument('--seed', type=int, default=0, help='seed of the arch split draw (default: 0)')
