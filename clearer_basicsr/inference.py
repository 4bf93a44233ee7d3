"""Restoring a whole image with a trained network, apart from training: test-time padding, the
8-way self-ensemble, tiling, and colour images restored by a gray network. The model's
validation, ``clearer-infer`` and the tools use these (and import no training model); the padding
itself is :func:`.arch_util.pad_to_multiple`, the one the CLEARER networks and the exported ones
use."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from tqdm import tqdm

from .archs.arch_util import padded_call

Restorer = Callable[[torch.Tensor], torch.Tensor]

# An orthonormal opponent colour transform (rows: luminance, red - blue, red + blue - green), the
# one colour BM3D works in: Gaussian noise of std sigma in each of R, G, B stays white with std
# sigma in each opponent channel, so a network trained on gray images at sigma restores each one.
OPPONENT = (
    (1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)),
    (1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)),
    (1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)),
)
CHROMA_OFFSET = (0.0, 0.5, 0.5)  # the colour differences centred in the [0, 1] range of gray images


def by_opponent_channel(net: Restorer) -> Restorer:
    """A colour restorer (B x 3 x H x W, either channel order) made of a 1-channel ``net``: each
    image's three opponent channels go through ``net`` as gray images, then back to colour."""

    def restore(x: torch.Tensor) -> torch.Tensor:
        matrix = torch.tensor(OPPONENT, dtype=x.dtype, device=x.device)
        offset = torch.tensor(CHROMA_OFFSET, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        channels = torch.einsum('ij,bjhw->bihw', matrix, x) + offset
        b, c, h, w = channels.shape
        restored = net(channels.reshape(b * c, 1, h, w)).reshape(b, c, h, w) - offset
        return torch.einsum('ji,bjhw->bihw', matrix, restored)

    return restore


def self_ensemble(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Mean of ``fn`` over the 8 flips/rotations of ``x``, each mapped back."""
    outputs = []
    for flip in (False, True):
        xf = x.flip(-1) if flip else x
        for k in range(4):
            y = fn(torch.rot90(xf, k, dims=(-2, -1)))
            y = torch.rot90(y, -k, dims=(-2, -1))
            outputs.append(y.flip(-1) if flip else y)
    return torch.stack(outputs).mean(0)


def restore_whole(
    net: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, multiple: int = 1, ensemble: bool = False
) -> torch.Tensor:
    """Whole-image inference: ``x`` padded at the bottom/right to a multiple of ``multiple``, ``net``
    (or its 8-way self-ensemble), the output cropped back to the size of ``x``."""
    return padded_call(functools.partial(self_ensemble, net) if ensemble else net, x, multiple).float()


def score_images(
    dataset: Iterable[dict[str, Any]], restore: Callable[[dict[str, Any]], torch.Tensor], metrics: dict[str, dict]
) -> dict[str, dict[str, float]]:
    """Per image ``metrics`` (a ``val: metrics`` mapping) of ``restore`` on a paired dataset, as the
    model's validation computes them. ``restore`` maps a dataset item to its 1 x C x H x W restoration;
    images are keyed by their ground truth's file stem."""
    from basicsr.metrics import calculate_metric
    from basicsr.utils import tensor2img

    images = {}
    for item in dataset:
        with torch.no_grad():
            data = {'img': tensor2img([restore(item)]), 'img2': tensor2img([item['gt'][None]])}
        name = os.path.splitext(os.path.basename(item['gt_path']))[0]
        images[name] = {key: float(calculate_metric(data, dict(opt))) for key, opt in metrics.items()}
    return images


def mean_scores(images: Mapping[str, Mapping[str, Any]], metrics: Iterable[str]) -> dict[str, float]:
    """The average over ``images`` (per image scores, as :func:`score_images` gives them) of each
    metric named in ``metrics``; other keys of an image (a saved output's path) are not scores."""
    return {name: sum(scores[name] for scores in images.values()) / len(images) for name in metrics}


def restore_tiled(restore: Restorer, x: torch.Tensor, tile: int, context: int, bar: tqdm | None = None) -> torch.Tensor:
    """``restore`` block by block: each ``tile`` x ``tile`` block of ``x`` is computed from the block
    with ``context`` pixels of the image around it (fewer at the image's edges), and only the block
    is kept. Memory grows with (tile + 2 context)^2."""
    h, w = x.shape[-2:]
    out = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            y0, x0 = max(top - context, 0), max(left - context, 0)  # the region computed
            y = restore(x[..., y0 : min(top + tile + context, h), x0 : min(left + tile + context, w)])
            if out is None:
                out = y.new_empty(*y.shape[:2], h, w)
            bh, bw = min(tile, h - top), min(tile, w - left)
            out[..., top : top + bh, left : left + bw] = y[..., top - y0 : top - y0 + bh, left - x0 : left - x0 + bw]
            if bar is not None:
                bar.update(1)
    return out
