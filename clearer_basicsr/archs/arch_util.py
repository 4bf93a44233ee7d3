"""Generic network helpers (BasicSR's name for them): padding, buffer snapshots, parameter and
MAC counts, and the option names networks use for their input channels."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..option_rules import OptionError

# Option names of a network's input channels: the plugin's and BasicSR's own architectures.
IN_CHANNEL_KEYS = ('in_channels', 'num_in_ch', 'in_chans', 'in_nc')


def input_channels(net_opt: Mapping[str, Any], net_cls: type | None = None) -> tuple[str, int] | None:
    """``(option name, value)`` of the input channels ``net_opt`` gives (or ``net_cls``'s
    constructor defaults to); None when neither names them."""
    for key in IN_CHANNEL_KEYS:
        if key in net_opt:
            return key, net_opt[key]
    if net_cls is not None:
        try:
            params = inspect.signature(net_cls).parameters
        except (TypeError, ValueError):
            return None
        for key in IN_CHANNEL_KEYS:
            if key in params and params[key].default is not inspect.Parameter.empty:
                return key, params[key].default
    return None


def check_residual(where: str, args: Mapping[str, Any], how: str) -> None:
    """A global residual (``residual: true``) needs as many output as input channels."""
    if args['residual'] and args['in_channels'] != args['out_channels']:
        raise OptionError(
            f'{where}: residual = True {how}, so in_channels ({args["in_channels"]}) must equal out_channels '
            f'({args["out_channels"]})'
        )


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom/right to a multiple of ``multiple``: by reflection, and by replication for what
    reflection cannot reach (more than size - 1 pixels, on tiny images). The one padding of the
    plugin: the CLEARER networks, test-time padding, tiles and the exported graphs. Free of
    branches on the input's size, so it scripts and exports with dynamic height and width."""
    h, w = x.shape[-2], x.shape[-1]
    pad_h, pad_w = -h % multiple, -w % multiple
    reflect_h, reflect_w = min(pad_h, h - 1), min(pad_w, w - 1)
    x = F.pad(x, [0, reflect_w, 0, reflect_h], mode='reflect')
    return F.pad(x, [0, pad_w - reflect_w, 0, pad_h - reflect_h], mode='replicate')


def padded_call(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, multiple: int) -> torch.Tensor:
    """``fn`` on ``x`` padded by :func:`pad_to_multiple`, its output cropped back to the size of ``x``:
    the one pad-and-crop of the networks, whole-image restoring and the exported graphs."""
    h, w = x.shape[-2], x.shape[-1]
    return fn(pad_to_multiple(x, multiple))[..., :h, :w]


BufferSnapshot = list  # [(buffer, its saved copy)]


def snapshot_buffers(module: nn.Module) -> BufferSnapshot:
    """Copies of ``module``'s buffers (BatchNorm statistics), for :func:`restore_buffers`."""
    return [(b, b.detach().clone()) for b in module.buffers()]


def restore_buffers(snapshot: BufferSnapshot) -> None:
    """Puts the buffers of a :func:`snapshot_buffers` back as they were, in place."""
    with torch.no_grad():
        for buffer, saved in snapshot:
            buffer.copy_(saved)


def count_parameters(net: nn.Module) -> int:
    """Number of network weights (conv weights, BN affine), architecture logits excluded."""
    arch = {id(p) for p in net.arch_parameters()} if hasattr(net, 'arch_parameters') else set()
    return sum(p.numel() for p in net.parameters() if id(p) not in arch)


def mac_counter(net: nn.Module, input_shape: Sequence[int]) -> Any:
    """mmengine's ``FlopAnalyzer`` of one forward pass of ``net`` on zeros of ``input_shape``,
    warnings off; ask it ``.total()`` or ``.by_module()``. It counts multiply-accumulates
    (convolutions, matmuls, norms, nearest upsampling), not additions or ReLUs: call them MACs."""
    from mmengine.analysis import FlopAnalyzer

    analyzer = FlopAnalyzer(net, (torch.zeros(*input_shape),))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer
