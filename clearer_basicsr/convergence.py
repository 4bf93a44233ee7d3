"""Has a training run converged? Read off its validation curve, never its training loss.

A run is converged when its validation PSNR gained less than :data:`CONVERGED_DB` over the last
:data:`LAST_SHARE` of its iterations: the value at its last validation minus the value at the
last validation at or before ``(1 - LAST_SHARE) * total_iter``. A curve with no validation in
that earlier part cannot say, and counts as unconverged. This module imports nothing of the
package and no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LAST_SHARE = 0.2  # the share of the run the gain is measured over
CONVERGED_DB = 0.05  # a smaller gain over that share: converged


def gain_last_share(curve: Sequence[tuple[int, float]], total_iter: int, share: float = LAST_SHARE) -> float:
    """PSNR gained over the last ``share`` of ``total_iter`` iterations (NaN when the curve has no
    point at or before the start of that share, or none after it)."""
    points = sorted((int(it), float(v)) for it, v in curve if not math.isnan(v))
    start = (1 - share) * total_iter
    before = [v for it, v in points if it <= start]
    if not before or points[-1][0] <= start:
        return math.nan
    return points[-1][1] - before[-1]


def convergence(curve: Sequence[tuple[int, float]], total_iter: int) -> dict:
    """What ``metrics.json`` and the evaluation report keep of a run's curve."""
    gain = gain_last_share(curve, total_iter)
    return {
        'gain_last20_db': None if math.isnan(gain) else round(gain, 4),
        'converged': not math.isnan(gain) and gain < CONVERGED_DB,
        'total_iter': int(total_iter),
        'curve': [[int(it), round(float(v), 4)] for it, v in sorted(curve)],
    }


def is_converged(gain: float | None) -> bool:
    return gain is not None and not math.isnan(gain) and gain < CONVERGED_DB
