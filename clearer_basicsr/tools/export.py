"""python -m clearer_basicsr.export -opt TEST_OPTION | --zoo NAME --onnx NET.onnx --torchscript NET.pt
(console script clearer-export): a trained network for deployment, any image height and width.

The network and its weights come from a test option file (network_g and path: pretrain_network_g,
as clearer-test reads them), or from a zoo entry (--zoo NAME). The exported model takes a float32
batch N x C x H x W of 0..1 intensities (C as the network: 1 = luma, 3 = RGB) and returns the
restored batch of the same size. Height, width and batch are dynamic: CLEARER nets work on sizes
that are multiples of 2^cells, so the exported graph pads the input at the bottom and right to that
multiple (reflecting what it can, replicating the rest), runs the network and crops back, all
computed from the input's shape at run time, as clearer-test does in PyTorch. Inputs must be at
least that multiple high and wide (8 px for the paper preset). No self-ensemble is exported.

Each export is checked against PyTorch on an input of odd size; the largest difference is printed
(the ONNX check needs onnxruntime, in the test extra). --device cuda traces the TorchScript model
on the GPU (it then runs there) and checks it there; ONNX is exported from the CPU.

examples:
  python -m clearer_basicsr.export -opt options/test_clearer_denoise.yml --onnx clearer_gray_s30.onnx
  python -m clearer_basicsr.export --zoo clearer_gray_s30 --onnx net.onnx --torchscript net.pt --device cuda
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.tools.cli import add_network_source, doc_parser


def command_parser() -> argparse.ArgumentParser:
    """The command line (--help needs no torch: the work is :mod:`.export_net`)."""
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.export')
    add_network_source(parser)
    parser.add_argument('--onnx', metavar='FILE', help='write an ONNX model here')
    parser.add_argument('--torchscript', metavar='FILE', help='write a TorchScript model here (torch.jit.load)')
    parser.add_argument('--device', default='cpu', help='where the TorchScript model is traced and runs (cpu, cuda)')
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, float | None]:
    """Exports; returns ``{path written: largest |exported - PyTorch| on an odd-sized input, or None
    where onnxruntime is missing}``."""
    args = command_parser().parse_args(argv)
    if not args.onnx and not args.torchscript:
        raise UserInputError('nothing to export: give --onnx FILE and/or --torchscript FILE')
    for path in (args.onnx, args.torchscript):
        if path and os.path.isdir(path):
            raise UserInputError(f'{path} is a folder; expected the file to write')
    from clearer_basicsr.tools.export_net import export_network  # torch, from here on

    return export_network(args)
