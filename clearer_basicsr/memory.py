"""Whether a whole image fits in memory, and the tiles to restore it in where it does not.

The rule (docs/reliability.md): before a whole image is restored
(clearer-infer, clearer-test, validation), the memory the network's forward pass needs at that size
is estimated as the bytes of every layer's output per pixel, measured once on a small input and
scaled by the image's area: an upper bound, as if nothing were freed during the pass. Where that
exceeds what the device has free (the CPU: the system's available memory, or the address-space
limit of the process if lower; CUDA: the free device memory), the image is restored in tiles with
an overlap of the network's receptive radius, measured once per network, so the output equals the
whole-image output up to float rounding; one line says so. Where tiling is off, one line refuses.
"""

from __future__ import annotations

import math
import os
import resource
import weakref
from collections.abc import Callable

import torch
from torch import nn

from .errors import UserInputError

PROBE = 64  # side of the input the per-pixel bytes are measured on
HEADROOM = 0.8  # the share of the free memory a pass may plan to use
RADIUS_PROBE_MAX = 256  # the largest input the receptive radius is looked for on
_per_pixel: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # net -> bytes per pixel
_radius: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # net -> (radius, whether it was reached)


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def available_bytes(device: torch.device) -> int:
    """The memory a pass may use on ``device``: free CUDA memory, or the system's available
    memory capped by the process's address-space limit (``ulimit -v``) on the CPU."""
    if device.type == 'cuda':
        return int(torch.cuda.mem_get_info(device)[0])
    free = os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    try:
        with open('/proc/meminfo', encoding='ascii') as f:
            fields = dict(line.split(':', 1) for line in f)
        free = int(fields['MemAvailable'].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        try:
            with open('/proc/self/statm', encoding='ascii') as f:
                used = int(f.read().split()[0]) * os.sysconf('SC_PAGE_SIZE')
        except (OSError, ValueError):
            used = 0
        free = min(free, limit - used)
    return max(free, 0)


def weight_dtype(net: nn.Module) -> torch.dtype:
    """The dtype of the network's weights (the default one for a network without any)."""
    weight = next(net.parameters(), None)
    return torch.get_default_dtype() if weight is None else weight.dtype


def bytes_per_pixel(net: nn.Module, channels: int, multiple: int, device: torch.device) -> float:
    """The bytes of every layer output of ``net`` per input pixel (measured once per network)."""
    if net in _per_pixel:
        return _per_pixel[net]
    total = 0

    def count(_module: nn.Module, _inputs: tuple, output: object) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    leaves = [m for m in net.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    side, dtype = round_up(PROBE, multiple), weight_dtype(net)
    try:
        with torch.no_grad():
            net(torch.zeros(1, channels, side, side, device=device, dtype=dtype))
    finally:
        for hook in hooks:
            hook.remove()
    _per_pixel[net] = total / side**2
    return _per_pixel[net]


def receptive_radius(net: nn.Module, channels: int, multiple: int, device: torch.device) -> tuple[int, bool]:
    """``(radius, reached)``: how far from an output pixel the input still changes it, the extent
    of the gradient of the centre output pixel on an input doubled until it holds it (``reached``
    False where even RADIUS_PROBE_MAX does not: a network that sees the whole image)."""
    if net in _radius:
        return _radius[net]
    side, dtype = round_up(PROBE, multiple), weight_dtype(net)
    while True:
        x = torch.randn(1, channels, side, side, device=device, dtype=dtype, requires_grad=True)
        with torch.enable_grad():
            net(x)[..., side // 2, side // 2].sum().backward()
        net.zero_grad(set_to_none=True)
        rows, cols = torch.nonzero(x.grad.abs().sum((0, 1)), as_tuple=True)
        radius = int(max((rows - side // 2).abs().max(), (cols - side // 2).abs().max())) if len(rows) else 0
        if radius < side // 2 - 1 or side * 2 > RADIUS_PROBE_MAX:
            _radius[net] = radius, radius < side // 2 - 1
            return _radius[net]
        side *= 2


def restore_within_memory(
    restore: Callable[[torch.Tensor], torch.Tensor],
    net: nn.Module,
    x: torch.Tensor,
    multiple: int,
    tiling: bool,
    note: Callable[[str], None],
    name: str = 'the image',
    channels: int | None = None,
) -> torch.Tensor:
    """``restore(x)`` of the whole image where it fits in free memory; else in tiles (``tiling``)
    with one ``note``, or a :class:`UserInputError` naming ``--tile`` (tiling off). ``channels``:
    what ``net`` takes, where ``restore`` passes each of the image's channels through it apart."""
    from .inference import restore_tiled

    channels = channels or x.shape[1]
    per_pixel = bytes_per_pixel(net, channels, multiple, x.device) * x.shape[1] // channels
    h, w = x.shape[-2:]
    needed, free = per_pixel * h * w, HEADROOM * available_bytes(x.device)
    if needed <= free:
        return restore(x)
    gb = f'about {needed / 2**30:.1f} GB for a whole-image pass, {free / 2**30:.1f} GB usable'
    radius, reached = receptive_radius(net, channels, multiple, x.device) if tiling else (0, True)
    context = round_up(max(radius, 1), multiple)
    tile = (math.isqrt(int(free / per_pixel)) - 2 * context) // multiple * multiple
    if not tiling or tile < multiple:
        raise UserInputError(
            f'{name} ({w}x{h}) needs {gb}: '
            + ('restore it in tiles (--tile N, or val: tile: true)' if not tiling else 'not even one tile fits')
        )
    exact = (
        'the receptive radius: equal to the whole-image output up to float rounding'
        if reached
        else f'the network sees further than {radius} px: pixels near tile edges differ slightly'
    )
    note(f'{name} ({w}x{h}) needs {gb}: restored in {tile}x{tile} tiles with {context} px of context ({exact})')
    return restore_tiled(restore, x, tile, context)
