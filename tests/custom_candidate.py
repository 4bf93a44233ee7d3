"""A candidate of a user's own, registered from outside the package (tests/test_candidates.py
names this module under network_g: candidate_modules, as a user would)."""

from torch import nn

from clearer_basicsr.archs.candidates import register_candidate


@register_candidate('double_conv', code='D', summary='two 3x3 convs per branch')
class DoubleConv(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1)) for c in channels
        )

    def forward(self, branches):
        return [x + conv(x) for conv, x in zip(self.convs, branches)]
