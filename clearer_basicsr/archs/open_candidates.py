"""Built-in candidates beyond the paper's two (``parallel``, ``fusion``: :mod:`.clearer_arch`),
for an open search space such as ``candidates: [parallel, fusion, skip, naf, fusion_gate]``:

* ``skip`` (S): the identity, no cost; a cell whose columns all skip is its transition alone,
  so the depth of every cell becomes searchable;
* ``naf`` (N): a NAFNet block on every branch, no exchange between scales;
* ``fusion_gate`` (G): the fusion exchange with its sums weighted by attention.

Each is registered on import of the package (``archs/__init__.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .candidates import register_candidate
from .clearer_arch import Fusion, PerBranch, _sum


@register_candidate('skip', code='S', drawing='identity', summary='identity: the column is left out')
class Skip(nn.Module):
    """Candidate 'skip': every branch passes through unchanged; no weights, no MACs. With it, a
    search can drop columns, so it searches depth too (FBNet's "skip" block: Wu et al., CVPR 2019;
    DARTS' identity operation: Liu et al., ICLR 2019). A genotype whose columns all skip is
    valid: each of its cells is then its transition alone.

    Args:
        channels: channels of the branches (unused: there is nothing to learn).
    """

    def __init__(self, channels: Sequence[int]):
        super().__init__()

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        return list(branches)

    shares_widths = True  # nothing to narrow

    def branch_parts(self) -> tuple:
        return ()


class ChannelNorm(nn.Module):
    """Layer normalisation over the channels of every pixel, with a learnt scale and shift per
    channel (NAFNet's LayerNorm of feature maps)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    """NAFNet's SimpleGate: the channels split in two halves, multiplied element-wise."""
    a, b = x.chunk(2, dim=1)
    return a * b


class NAFBlock(nn.Module):
    """One NAFNet block (Chen et al., ECCV 2022, "Simple Baselines for Image Restoration", fig. 3c),
    as the paper describes it: no nonlinear activation, a gate instead.

    Two residual halves. Mixing: LayerNorm, 1x1 conv to ``expansion`` x channels, 3x3 depthwise
    conv, SimpleGate (halves the channels), simplified channel attention (global average pool,
    1x1 conv, multiply), 1x1 conv back; added with a learnt per-channel scale beta. Feed-forward:
    LayerNorm, 1x1 conv to ``ffn_expansion`` x channels, SimpleGate, 1x1 conv back; added with a
    learnt scale gamma. beta and gamma start at 0, so the block starts as the identity.

    Args:
        channels: channels of the branch.
        expansion: width of the depthwise stage, in multiples of ``channels`` (paper: 2).
        ffn_expansion: width of the feed-forward stage, in multiples of ``channels`` (paper: 2).
    """

    def __init__(self, channels: int, expansion: int = 2, ffn_expansion: int = 2):
        super().__init__()
        wide, ffn = channels * expansion, channels * ffn_expansion
        self.norm1 = ChannelNorm(channels)
        self.expand = nn.Conv2d(channels, wide, 1)
        self.depthwise = nn.Conv2d(wide, wide, 3, padding=1, groups=wide)
        self.attention = nn.Conv2d(wide // 2, wide // 2, 1)
        self.project = nn.Conv2d(wide // 2, channels, 1)
        self.norm2 = ChannelNorm(channels)
        self.ffn_expand = nn.Conv2d(channels, ffn, 1)
        self.ffn_project = nn.Conv2d(ffn // 2, channels, 1)
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def init_weights(self) -> None:
        """PyTorch's default conv init, not the network's N(0, init_std): with beta and gamma at 0,
        convs that small would leave the block's gradients near 0 and the block at the identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = simple_gate(self.depthwise(self.expand(self.norm1(x))))
        y = y * self.attention(y.mean((2, 3), keepdim=True))
        x = x + self.beta * self.project(y)
        z = simple_gate(self.ffn_expand(self.norm2(x)))
        return x + self.gamma * self.ffn_project(z)


@register_candidate('naf', code='N', summary='a NAFNet block per branch')
class NAF(PerBranch):
    """Candidate 'naf': each branch alone through one NAFNet block (:class:`NAFBlock`; Chen et al.,
    ECCV 2022), the ``parallel`` candidate with a modern block: no exchange between scales.

    Args:
        channels: channels of the branches, highest resolution first.
    """

    block = NAFBlock


@register_candidate('fusion_gate', code='G', drawing='exchange', summary='exchange across scales, attention-weighted')
class GatedFusion(Fusion):
    """Candidate 'fusion_gate': the fusion exchange with attention-weighted sums. For output branch
    i, with y_j = f_ij(x_j) the inputs brought to its scale (as :class:`.Fusion`):
    out_i = ReLU(n * sum_j a_j * y_j), a_j = softmax over j of per-channel scores computed from the
    pooled sum (global average pool of sum_j y_j, 1x1 conv, ReLU, 1x1 conv to one score per input
    and channel): the selective-kernel attention across branches (Li et al., CVPR 2019,
    "Selective Kernel Networks"). Weights a_j = 1/n give the plain fusion sum, so with the
    network's tiny initial weights it starts as ``fusion`` does.

    Args:
        channels: channels of the branches, highest resolution first.
        reduction: the pooled descriptor is squeezed to max(channels / reduction, 4) channels.
    """

    shares_widths = False  # its gates score every channel of every branch (archs/widths.py)

    def __init__(self, channels: Sequence[int], reduction: int = 4):
        super().__init__(channels)
        self.squeeze = nn.ModuleList(nn.Conv2d(c, max(c // reduction, 4), 1) for c in channels)
        self.scores = nn.ModuleList(nn.Conv2d(max(c // reduction, 4), len(channels) * c, 1) for c in channels)

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        n, outputs = len(branches), []
        for row, squeeze, scores in zip(self.paths, self.squeeze, self.scores):
            inputs = [f(x) for f, x in zip(row, branches)]
            pooled = _sum(inputs).mean((2, 3), keepdim=True)
            logits = scores(F.relu(squeeze(pooled)))  # (N, n * C, 1, 1)
            weights = logits.view(logits.shape[0], n, -1, 1, 1).softmax(dim=1)
            outputs.append(F.relu(n * _sum(weights[:, j] * y for j, y in enumerate(inputs))))
        return outputs
