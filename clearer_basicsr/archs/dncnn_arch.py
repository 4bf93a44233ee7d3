"""DnCNN (Zhang et al., "Beyond a Gaussian Denoiser", TIP 2017): the classic denoising baseline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

from ..option_rules import ConstructorOptions, fail, key_path
from ..registration import register
from .arch_util import check_residual


@register(ARCH_REGISTRY, 'CLEARERDnCNN')
class DnCNN(ConstructorOptions, nn.Module):
    """A plain stack of 3x3 convolutions that learns the noise, not the clean image.

    Layer 1 is conv + ReLU, layers 2 .. num_layers-1 are conv + BN + ReLU, the last layer is a
    conv to ``out_channels``. The paper's settings: 17 layers (DnCNN-S, one noise level) or
    20 (DnCNN-B, blind), 64 features, weights initialised as He et al. 2015.

    Args:
        in_channels: channels of the noisy input (1 gray, 3 colour).
        out_channels: channels of the output; must equal ``in_channels`` when ``residual``.
        num_feat: features of the hidden layers.
        num_layers: convolution layers in all (at least 2).
        bn: batch normalisation in the hidden layers.
        residual: residual learning: the network predicts the noise and returns
            ``input - noise``; off, it returns the stack's output as the image.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        num_feat: int = 64,
        num_layers: int = 17,
        bn: bool = True,
        residual: bool = True,
    ) -> None:
        super().__init__()
        shape = dict(in_channels=in_channels, out_channels=out_channels, num_layers=num_layers, residual=residual)
        self.check_arguments(type(self).__name__, shape)
        self.residual = residual
        layers = [nn.Conv2d(in_channels, num_feat, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(num_layers - 2):
            # a bias before BN is cancelled by BN's mean subtraction
            layers.append(nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(num_feat))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(num_feat, out_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self._init_weights()

    @classmethod
    def check_arguments(cls, where: str, args: Mapping[str, Any]) -> None:
        if args['num_layers'] < 2:
            fail(key_path(where, 'num_layers'), args['num_layers'], 'at least 2 (first and last conv)')
        check_residual(where, args, 'subtracts the predicted noise from the input')

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_in', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x - out if self.residual else out
