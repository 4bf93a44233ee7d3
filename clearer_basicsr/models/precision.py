"""The number format and memory layout a model computes in: ``train: amp`` / ``val: amp``
(``auto`` | ``bf16`` | ``fp16``; ``auto`` is bf16 where the device computes it natively, fp32
elsewhere) and ``channels_last`` (``auto``: on for networks measured faster so, on the CPU)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
AMP_CHOICES = (None, False, 'auto', *AMP_DTYPES)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: a CUDA GPU of compute capability 8 or more, a
    CPU with AVX512-BF16 or AMX. Elsewhere bf16 is emulated, slower than fp32."""
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported(including_emulation=False)
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')  # private, hence looked up
    return device.type == 'cpu' and any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def amp_dtype(amp: Any, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of an ``amp`` option on ``device``; None: fp32 (``auto`` without native bf16)."""
    if amp == 'auto':
        return torch.bfloat16 if native_bf16(device) else None
    return AMP_DTYPES.get(amp)


def autocast(amp: Any, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast to the ``amp`` option's dtype on ``device``, or nothing (fp32)."""
    dtype = amp_dtype(amp, device)
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def use_channels_last(value: Any, net: nn.Module, device: torch.device) -> bool:
    """The ``channels_last`` option; ``auto`` or absent: on for networks that run faster so
    (``prefers_channels_last``, measured by benchmarks/bench_search.py) on the CPU, where it was measured."""
    if value in (None, 'auto'):
        return device.type == 'cpu' and getattr(net, 'prefers_channels_last', False)
    return bool(value)
