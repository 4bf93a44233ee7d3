"""The work of clearer-export (:mod:`.export`, whose docstring is the user's manual): the network
between a pad to its size multiple and a crop back, exported to ONNX and TorchScript, each checked
against PyTorch on an input of odd size."""

from __future__ import annotations

import argparse
import importlib.util
import math
import os

import torch
from torch import nn

from clearer_basicsr.archs.arch_util import pad_to_multiple
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.tools.trained_net import load_source_network, network_channels


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


def export_network(args: argparse.Namespace) -> dict[str, float | None]:
    """:func:`.export.main`'s work on its parsed, checked arguments."""
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
