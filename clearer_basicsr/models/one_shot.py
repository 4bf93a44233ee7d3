"""One-shot search (single-path one-shot, SPOS: Guo et al., ECCV 2020) on a CLEARER supernet.

Training: every iteration trains one path drawn uniformly, one candidate per column; there are
no logits to learn and no architecture step. Selection, once training ends: every genotype inside
the cost window (the budget's window, target +- tolerance, or the whole space without a budget) is scored on fixed
arch-split batches with the weights it inherits from the supernet, after its BatchNorm statistics
were recalibrated on fixed train batches (inherited statistics belong to the mix of paths trained
and mislead the ranking: SPOS, section 3.3). A window holding more genotypes than ``cap`` is
searched by evolution (population, crossover, mutation) that scores at most ``cap`` of them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from basicsr.data import build_dataset
from basicsr.utils import get_root_logger
from torch import nn

from ..archs.arch_util import restore_buffers, snapshot_buffers
from ..archs.complexity import genotype_cost
from ..bn_recalibration import calibration_batches, drawn_batches, recalibrate_batchnorm
from ..search_result import SearchResult, write_search_outputs
from .budget import Budget
from .search_options import arch_dataset_options

Path = tuple[int, ...]  # candidate index per column, cell-major (the logits' row order)
Batch = Mapping[str, torch.Tensor]


def path_generator(seed: int, iteration: int) -> torch.Generator:
    """The generator of the paths trained at ``iteration``, from the seed and the iteration alone:
    every rank trains the same paths, and a resumed search the paths it would have."""
    return torch.Generator().manual_seed(seed * 1_000_003 + iteration)


def uniform_path(num_columns: int, candidates: int, seed: int, iteration: int) -> list[int]:
    """The path trained at ``iteration`` in the paper's space: one candidate per column, uniform."""
    return torch.randint(candidates, (num_columns,), generator=path_generator(seed, iteration)).tolist()


@torch.no_grad()
def mean_psnr(net: nn.Module, batches: Sequence[Batch]) -> float:
    """Mean PSNR (dB) of ``net``'s outputs, clamped to [0, 1], over every image of ``batches``."""
    values = []
    for batch in batches:
        error = (net(batch['lq']).float().clamp(0, 1) - batch['gt'].float()).pow(2).flatten(1).mean(1)
        values += (-10 * torch.log10(error.clamp_min(1e-10))).tolist()
    return sum(values) / len(values)


class PathScorer:
    """The one-shot score of a path: the supernet's PSNR on the scoring batches with that path
    fixed, its BatchNorm statistics first recalibrated on the calibration inputs. The supernet's
    own statistics, mode and path are put back after each score."""

    def __init__(self, net: nn.Module, calibration: Sequence[torch.Tensor], scoring: Sequence[Batch]):
        self.net, self.calibration, self.scoring = net, calibration, scoring
        self.seconds = 0.0  # spent scoring, for the time per genotype
        self.scored = 0

    def __call__(self, path: Sequence[int]) -> float:
        start, net = time.perf_counter(), self.net
        snapshot, mode = snapshot_buffers(net), net.training
        net.use_path(path)
        try:
            recalibrate_batchnorm(net, self.calibration)
            net.eval()
            return mean_psnr(net, self.scoring)
        finally:
            net.use_path(None)
            restore_buffers(snapshot)
            net.train(mode)
            self.seconds += time.perf_counter() - start
            self.scored += 1


def evolve(
    score: Callable[[Path], float],
    window: Sequence[Sequence[int]],
    space: Any,
    cap: int,
    population: int,
    mutation: float,
    rng: random.Random,
) -> dict[Path, float]:
    """Scores of at most ``cap`` genotypes of ``window``: a random population first, then children
    of the better half (uniform crossover, then each digit redrawn with chance ``mutation`` among
    its values, ``space.radix``); a child outside the window, or scored already, is drawn again.
    ``space`` (a budget) also makes each row canonical (:meth:`.widths.MacroSpace.canonical`)."""
    inside = {tuple(p) for p in window}
    scores: dict[Path, float] = {}
    budget = min(cap, len(inside))
    for path in rng.sample(sorted(inside), min(population, budget)):
        scores[path] = score(path)
    misses = 0
    while len(scores) < budget and misses < 1000 * population:
        parents = sorted(scores, key=scores.__getitem__, reverse=True)[: max(2, population // 2)]
        a, b = rng.choice(parents), rng.choice(parents)
        child = tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b))
        child = space.canonical(
            [rng.randrange(n) if rng.random() < mutation else c for c, n in zip(child, space.radix)]
        )
        if child in inside and child not in scores:
            scores[child] = score(child)
            misses = 0
        else:
            misses += 1
    return scores


def select(
    score: Callable[[Path], float],
    window: Sequence[Sequence[int]],
    space: Any,
    settings: Mapping[str, float],
    seed: int,
) -> list[tuple[Path, float]]:
    """Every genotype of ``window`` scored (or, beyond ``settings['cap']``, those evolution
    reached), best first; ties keep the window's order."""
    if len(window) <= settings['cap']:
        scores = {tuple(p): score(tuple(p)) for p in window}
    else:
        rng = random.Random(seed)
        scores = evolve(
            score, window, space, int(settings['cap']), int(settings['population']), settings['mutation'], rng
        )
    return sorted(scores.items(), key=lambda item: -item[1])


def selection_batches(
    opt: Mapping[str, Any], settings: Mapping[str, Any], seed: int, to_device: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """The fixed batches a selection uses: calibration inputs from ``datasets: train``, scoring
    batches (inputs and targets) from ``train: arch_dataset``, drawn from ``seed`` under the
    caller's random states left as they were (training's streams do not change)."""
    size = int(settings['batch_size'])
    train_set = build_dataset(opt['datasets']['train'])
    arch_set = build_dataset(arch_dataset_options(opt))
    calibration = calibration_batches(train_set, int(settings['calibration_batches']), size, seed)
    scoring = drawn_batches(arch_set, int(settings['score_batches']), size, seed)
    return [to_device(x) for x in calibration], [{k: to_device(v) for k, v in b.items()} for b in scoring]


def export_one_shot(
    net: nn.Module,
    budget: Budget,
    patch_size: int,
    iteration: int,
    settings: Mapping[str, Any],
    calibration: Sequence[torch.Tensor],
    scoring: Sequence[Batch],
    folder: str,
    seed: int,
) -> SearchResult:
    """Scores the genotypes of ``budget``'s window (the whole space without a target; :func:`select`),
    writes genotype.yml (the best genotype, the ranking and how it was made) and genotype.png into
    ``folder``, logs the best."""
    window = budget.genotypes()
    if not window:  # a budget no genotype meets (the option check refuses unreachable targets)
        raise ValueError(f'one-shot selection: no genotype of the space lies in the cost window {budget.describe()}')
    scorer = PathScorer(net, calibration, scoring)
    ranked = select(scorer, window, budget, settings, seed)
    best = budget.genotype(ranked[0][0])
    derived = genotype_cost(net, best, patch_size)  # MACs and parameters at the training patch
    result = SearchResult(
        best,
        macs=derived['macs'],
        params=derived['params'],
        patch_size=patch_size,
        iteration=iteration,
        budget=budget.report(best) if budget.target is not None else None,
        ranking=[
            {
                'genotype': str(budget.genotype(p)),
                'psnr': round(score, 4),
                'macs': genotype_cost(net, budget.genotype(p), patch_size)['macs'],
            }
            for p, score in ranked[: int(settings['ranking'])]
        ],
        selection={
            'method': 'one_shot',
            'window': budget.describe(),
            'in_window': len(window),
            'scored': scorer.scored,
            'seconds_per_genotype': round(scorer.seconds / max(scorer.scored, 1), 4),
            'calibration_batches': len(calibration),
            'score_batches': len(scoring),
        },
    )
    write_search_outputs(result, folder, [])
    get_root_logger().info(
        f'One-shot selection: {scorer.scored} of {len(window)} genotypes in the window scored '
        f'({result.selection["seconds_per_genotype"]:.3f} s each); best {best} at {ranked[0][1]:.3f} dB '
        f'({derived["macs"]:,} MACs at {patch_size}px)'
    )
    return result
