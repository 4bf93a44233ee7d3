"""python -m clearer_basicsr.infer -opt TEST_OPTION | --zoo NAME --input DIR_OR_FILE --output DIR
(console script clearer-infer): restore your own images with a trained network.

The network and its weights come from a test option file (network_g and path: pretrain_network_g,
as clearer-test reads them; its datasets are not read), or from an entry of the model zoo
installed with the package (--zoo, from any folder; clearer-zoo list shows them). Every image under --input (sub-folders
too) is restored at its own size and written as a PNG under --output, in the same sub-folders,
named after the input (a.png and a.jpg in one folder become a.png.png and a.jpg.png: no output
overwrites another). Images are converted to what the network takes: colour to gray (full-range
luma, as the training data) for a 1-channel network, gray to RGB for a 3-channel one; an alpha
channel is dropped. 16-bit images are read as 8-bit. With --keep_colour, a 1-channel network
restores colour images in colour: their three channels in an opponent colour space, each as a gray
image (the transform is orthonormal, so each keeps the noise's std, as in colour BM3D); on the
colour test photos, clearer_gray_s30 so scores above the colour entry (benchmarks/zoo_colour.py).

Large images: an image whose whole-image pass would not fit in free memory is restored in tiles
with the network's receptive radius as overlap, and one line says so (--tile 0 refuses it instead;
the rule: clearer_basicsr/memory.py). --tile N restores N x N blocks one at a time, each computed with --tile_overlap M
pixels of the image around it that are then discarded, so memory grows with (N + 2M)^2, not with
the image. Blocks start at multiples of the network's size multiple (2^cells for CLEARER nets), so
the strided convolutions see the pixel grid of the whole image: when M reaches the network's
receptive radius the tiled output equals the whole-image output up to float rounding (measured:
52 px for the demo's net, 103 px for the paper preset); a smaller M changes pixels near block edges
slightly. N and M are rounded up to the size multiple.

examples:
  python -m clearer_basicsr.infer -opt options/test_clearer_denoise.yml --input my_photos/ --output restored/
  python -m clearer_basicsr.infer -opt options/test_clearer_denoise.yml --input big.png --output out/ --tile 512
  clearer-infer --zoo clearer_gray_s30 --input noisy.png --output out/ --self_ensemble
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.tools.cli import add_network_source, doc_parser


def command_parser() -> argparse.ArgumentParser:
    """The command line (--help needs no torch: the work is :mod:`.restore_images`)."""
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.infer')
    add_network_source(parser)
    parser.add_argument('--input', required=True, metavar='DIR_OR_FILE', help='an image, or a folder of images')
    parser.add_argument('--output', required=True, metavar='DIR', help='where the restored PNGs go')
    parser.add_argument('--self_ensemble', action='store_true', help='mean over the 8 flips/rotations (8x the time)')
    parser.add_argument(
        '--tile',
        type=int,
        metavar='N',
        help='restore N x N blocks one at a time (bounded memory); without it, images too large for the free '
        'memory are tiled by themselves (one line says so); 0: never tile (refuse them instead)',
    )
    parser.add_argument(
        '--tile_overlap', type=int, default=32, metavar='M', help='pixels of context around each block (default 32)'
    )
    parser.add_argument(
        '--keep_colour',
        action='store_true',
        help='with a 1-channel network, restore colour images in colour (opponent channels, each as gray)',
    )
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:1, ... (default: cuda when available)')
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, str]:
    """Restores the images; returns ``{input path: output path}``."""
    args = command_parser().parse_args(argv)
    if args.tile is not None and args.tile < 0 or args.tile_overlap < 0:
        raise UserInputError(f'--tile {args.tile} --tile_overlap {args.tile_overlap}: expected N >= 0 and M >= 0')
    if os.path.isfile(args.output):
        raise UserInputError(f'--output {args.output!r} is a file; expected a folder')
    from clearer_basicsr.tools.restore_images import restore_images  # torch, from here on

    return restore_images(args)
