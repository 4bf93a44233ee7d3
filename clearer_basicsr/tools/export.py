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

import importlib.util
import math
import os
from collections.abc import Sequence

import torch
from torch import nn

from clearer_basicsr.archs.arch_util import pad_to_multiple
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.tools.cli import doc_parser
from clearer_basicsr.tools.trained_net import add_network_source, load_source_network, network_channels


class PaddedNet(nn.Module):
    """``body`` between a pad of the input's bottom and right (:func:`padded_call`) to a multiple of
    ``multiple`` and a crop back, plus the input with ``residual``; the pad is computed from the
    input's shape with tensor-shape arithmetic only, so exporters keep height and width dynamic."""

    def __init__(self, body: nn.Module, multiple: int, residual: bool) -> None:
        super().__init__()
        self.body, self.multiple, self.residual = body, multiple, residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # padded_call inlined: TorchScript cannot script a function passed as an argument
        h, w = x.shape[2], x.shape[3]
        y = self.body(pad_to_multiple(x, self.multiple))[:, :, :h, :w]
        if self.residual:
            return y + x
        return y


class Body(nn.Module):
    """A CLEARER net's ``body`` (no padding, crop or residual) as a module's forward."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.body(x)


def exportable(net: nn.Module, pad_multiple: int) -> tuple[PaddedNet, int]:
    """``(PaddedNet of net, its size multiple)``: a CLEARER net's body with its own padding, crop and
    residual; any other network whole, padded to ``pad_multiple`` (``val: pad_multiple``)."""
    if hasattr(net, 'body'):
        multiple = math.lcm(net.size_multiple, pad_multiple)
        return PaddedNet(Body(net), multiple, bool(net.residual)).eval(), multiple
    return PaddedNet(net, pad_multiple, False).eval(), pad_multiple


def export_onnx(model: PaddedNet, example: torch.Tensor, multiple: int, path: str) -> None:
    """ONNX (torch.export-based exporter), batch, height and width dynamic (at least ``multiple``)."""
    from torch.export import Dim

    dims = {0: Dim('batch'), 2: Dim('height', min=multiple), 3: Dim('width', min=multiple)}
    torch.onnx.export(
        model, (example,), path, dynamo=True, dynamic_shapes={'x': dims}, input_names=['input'], output_names=['output']
    )


def export_torchscript(model: PaddedNet, example: torch.Tensor, path: str) -> None:
    """TorchScript: the body traced (convolutions only, no shape logic), the padding scripted."""
    body = torch.jit.trace(model.body, example)
    torch.jit.script(PaddedNet(body, model.multiple, model.residual)).save(path)


def onnx_outputs(path: str, x: torch.Tensor) -> torch.Tensor:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


def torchscript_outputs(path: str, x: torch.Tensor) -> torch.Tensor:
    """The saved TorchScript model's output on ``x``, run where it was traced; on the CPU."""
    scripted = torch.jit.load(path)
    device = next(scripted.parameters()).device
    return scripted(x.to(device)).cpu()


def main(argv: Sequence[str] | None = None) -> dict[str, float | None]:
    """Exports; returns ``{path written: largest |exported - PyTorch| on an odd-sized input, or None
    where onnxruntime is missing}``."""
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.export')
    add_network_source(parser)
    parser.add_argument('--onnx', metavar='FILE', help='write an ONNX model here')
    parser.add_argument('--torchscript', metavar='FILE', help='write a TorchScript model here (torch.jit.load)')
    parser.add_argument('--device', default='cpu', help='where the TorchScript model is traced and runs (cpu, cuda)')
    args = parser.parse_args(argv)
    if not args.onnx and not args.torchscript:
        raise UserInputError('nothing to export: give --onnx FILE and/or --torchscript FILE')
    for path in (args.onnx, args.torchscript):
        if path and os.path.isdir(path):
            raise UserInputError(f'{path} is a folder; expected the file to write')
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UserInputError(f'--device {args.device}: no CUDA device here')
    net, opt = load_source_network(args)
    model, multiple = exportable(net, int((opt.get('val') or {}).get('pad_multiple') or 1))
    channels = network_channels(opt)
    example = torch.rand(2, channels, 4 * multiple, 4 * multiple)  # sizes of 1 would be fixed by the export
    check = torch.rand(2, channels, 3 * multiple + 3, 2 * multiple + 1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = net(check)
    differences = {}
    for path, export, run in (
        (args.onnx, lambda p: export_onnx(model, example, multiple, p), onnx_outputs),
        (args.torchscript, lambda p: export_torchscript(model.to(device), example.to(device), p), torchscript_outputs),
    ):
        if not path:
            continue
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        export(path)
        if run is onnx_outputs and importlib.util.find_spec('onnxruntime') is None:
            differences[path] = None
            print(f'wrote {path}; not checked: onnxruntime is not installed (pip install onnxruntime)')
            continue
        with torch.no_grad():
            differences[path] = float((run(path, check) - expected).abs().max())
        print(
            f'wrote {path}: input N x {channels} x H x W (H, W >= {multiple}), '
            f'max |exported - PyTorch| = {differences[path]:.2e} on a {"x".join(map(str, check.shape))} input'
        )
    return differences
