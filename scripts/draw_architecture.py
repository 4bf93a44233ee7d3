"""Draws docs/architecture.svg: the data flow from an option file to the comparison table.

    python scripts/draw_architecture.py [--out docs/architecture.svg]

Plain SVG written by hand (no plotting library): boxes in two rows, arrows between them.
"""

import argparse
import importlib.util
import os
import sys
from html import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec('_clearer_basicsr_cli') is None:  # not installed: the checkout's
    sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import run  # noqa: E402

# (title, where it lives, what it reads or writes), in the order of the flow
STEPS = [
    ('datasets', 'clearer-prepare', 'LMDBs: train / arch / test'),
    ('YAML option file', 'options/*.yml', 'search / train / test'),
    ('option check', 'options_check.py', 'each class: check_options'),
    ('BasicSR loop', 'train.py', 'train_pipeline, resume'),
    ('search model', 'DARTS or one-shot model', 'budget.py: the window'),
    ('genotype.yml', 'search_result.py', '+ genotype.png, weights'),
    ('derived net', 'archs/clearer_arch.py', 'CLEARERNet, retrained'),
    ('test', 'test.py', 'results/<name>/metrics.json'),
    ('compare', 'tools/compare.py', 'beside BasicSR baselines'),
    ('zoo entry', 'clearer-zoo', 'card.yml + weights'),
    ('your images', 'clearer-infer / -export', 'PNGs; ONNX, TorchScript'),
]
METHOD = (4, 5, 6)  # the CLEARER method itself, shaded
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN, PER_ROW = 190, 74, 46, 60, 20, 4


def box_origin(i):
    """Top-left corner of step i: the first row runs left to right, the second right to left."""
    row, col = divmod(i, PER_ROW)
    if row % 2:
        col = PER_ROW - 1 - col
    return MARGIN + col * (BOX_W + GAP_X), MARGIN + row * (BOX_H + GAP_Y)


def arrow(i):
    """From step i to step i + 1: sideways within a row, down between rows."""
    (x0, y0), (x1, y1) = box_origin(i), box_origin(i + 1)
    if y0 == y1:
        left_to_right = x1 > x0
        start = x0 + (BOX_W if left_to_right else 0)
        end = x1 + (0 if left_to_right else BOX_W)
        return start, y0 + BOX_H / 2, end, y1 + BOX_H / 2
    return x0 + BOX_W / 2, y0 + BOX_H, x1 + BOX_W / 2, y1


def svg():
    rows = (len(STEPS) + PER_ROW - 1) // PER_ROW
    width = 2 * MARGIN + PER_ROW * BOX_W + (PER_ROW - 1) * GAP_X
    height = 2 * MARGIN + rows * BOX_H + (rows - 1) * GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">',
        '<defs><marker id="head" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
        '<path d="M0,0 L10,4 L0,8 z" fill="#444"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, (title, where, what) in enumerate(STEPS):
        x, y = box_origin(i)
        fill = '#e8f0fb' if i in METHOD else '#f4f4f4'
        parts += [
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" stroke="#555"/>',
            f'<text x="{x + BOX_W / 2}" y="{y + 24}" text-anchor="middle" font-size="15" '
            f'font-weight="bold">{escape(title)}</text>',
            f'<text x="{x + BOX_W / 2}" y="{y + 44}" text-anchor="middle" font-size="11" '
            f'font-family="DejaVu Sans Mono, monospace" fill="#333">{escape(where)}</text>',
            f'<text x="{x + BOX_W / 2}" y="{y + 62}" text-anchor="middle" font-size="11" fill="#555">'
            f'{escape(what)}</text>',
        ]
    for i in range(len(STEPS) - 1):
        x0, y0, x1, y1 = arrow(i)
        parts.append(
            f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#444" stroke-width="1.6" marker-end="url(#head)"/>'
        )
    parts.append('</svg>')
    return '\n'.join(parts) + '\n'


def main(argv=None):
    """Writes the picture; returns its path."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=os.path.join(ROOT, 'docs', 'architecture.svg'), help='the SVG to write')
    args = parser.parse_args(argv)
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(svg())
    print(f'wrote {args.out}')
    return args.out


if __name__ == '__main__':
    run(main)
