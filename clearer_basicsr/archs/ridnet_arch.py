"""BasicSR's RIDNet for gray and colour denoising on [0, 1] data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from basicsr.archs.ridnet_arch import RIDNet
from basicsr.utils.registry import ARCH_REGISTRY

from ..option_rules import ConstructorOptions, fail, key_path
from ..registration import register


@register(ARCH_REGISTRY, 'CLEARERRIDNet')
class CLEARERRIDNet(ConstructorOptions, RIDNet):
    """RIDNet (Anwar & Barnes, "Real Image Denoising with Feature Attention", ICCV 2019): BasicSR's
    class (``basicsr.archs.ridnet_arch.RIDNet``: head conv, ``num_block`` EAM blocks, tail conv,
    global residual), with its mean shift made to work on any channel count.

    BasicSR's RIDNet subtracts a fixed 3-channel RGB mean from its input (so it takes colour only)
    and adds that mean back to the predicted *residual*, not to the image: on [0, 1] data its
    output starts 0.44 above the input. Here the mean is subtracted from the input only, and the
    output is ``input + tail(...)``: with the tail zeroed (``train: identity_start: tail``) the
    network starts as the identity, as a residual denoiser should.

    Args:
        in_channels: channels of the noisy input (1 gray, 3 colour).
        mid_channels: features of the EAM blocks.
        out_channels: channels of the output (equal to ``in_channels``: the residual is added).
        num_block: EAM blocks.
        mean: the value subtracted from each input channel before the head (one per channel,
            or one for all); 0.5 centres [0, 1] data.
    """

    def __init__(
        self,
        in_channels: int = 3,
        mid_channels: int = 64,
        out_channels: int = 3,
        num_block: int = 4,
        mean: float | Sequence[float] = 0.5,
    ) -> None:
        args = dict(in_channels=in_channels, out_channels=out_channels, mean=mean)
        self.check_arguments(type(self).__name__, args)
        super().__init__(in_channels, mid_channels, out_channels, num_block, img_range=1.0)
        del self.sub_mean, self.add_mean  # BasicSR's 3-channel shifts
        values = [float(mean)] * in_channels if isinstance(mean, (int, float)) else [float(m) for m in mean]
        self.register_buffer('mean', torch.tensor(values).view(1, -1, 1, 1), persistent=False)

    @classmethod
    def check_arguments(cls, where: str, args: Mapping[str, Any]) -> None:
        if args['out_channels'] != args['in_channels']:
            fail(key_path(where, 'out_channels'), args['out_channels'], f'{args["in_channels"]}, as in_channels')
        mean = args['mean']
        if not isinstance(mean, (int, float)) and len(mean) != args['in_channels']:
            fail(key_path(where, 'mean'), mean, f'one number, or {args["in_channels"]} (one per input channel)')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.tail(self.body(self.relu(self.head(x - self.mean))))
