"""The budget of a search, one value: the cost metric, each candidate's cost and the costs every
network has, the target and its window, at the patch size the search trains on. Built once at
setup from ``train: budget`` and handed to whoever needs it: the regulariser (its relative costs),
derivation (the most likely genotype inside the window), one-shot selection (the window it scores),
the evaluation (random genotypes of the window) and genotype.yml's report (read by the zoo cards).

``train: budget`` keys::

    metric: macs          # macs (multiply-adds, counted as compare's tables), params, or latency
                          # (measured on this device: archs/latency.py, latency_table.json beside the run)
    target: 0.6           # the derived network's cost as a fraction of the largest network's, or
    target_macs: 1.3e9    # the same as MACs on a target_size x target_size input (metric macs), or
    target_ms_per_mp: 40  # milliseconds per megapixel (metric latency)
    target_size: 256      # the input side target_macs counts at
    latency_size: 256     # the input side candidates are timed at (metric latency)
    tolerance: 0.1        # the window: target +- 10 %

The spelling of earlier versions, ``target`` / ``target_macs`` / ``target_size`` on
``train: arch_loss`` with ``complexity: flops|params``, is read as the same budget with a warning.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .. import option_rules as rules
from ..archs.complexity import (
    BUDGET_TOLERANCE,
    COMPLEXITY_METRICS,
    candidate_costs,
    derive_within_budget,
    enumerate_genotypes,
    genotypes_within,
)
from ..archs.genotype import Genotype
from ..archs.latency import latency_table

METRICS = ('macs', 'params', 'latency')
TARGETS = {'target': None, 'target_macs': 'macs', 'target_ms_per_mp': 'latency'}  # each target key, its metric
LEGACY_METRICS = COMPLEXITY_METRICS  # arch_loss: complexity -> budget metric
LEGACY_KEYS = ('target', 'target_macs', 'target_size')  # the budget once spelled on arch_loss
KEYS = {
    'metric': rules.Choice(*METRICS),
    'target': rules.Real(positive=True),
    'target_macs': rules.Real(positive=True),
    'target_ms_per_mp': rules.Real(positive=True),
    'target_size': rules.Integer(1),
    'latency_size': rules.Integer(16),
    'tolerance': rules.Real(positive=True, below=1),
}
REPORT_SIZE = 256  # MACs are also reported at this input side, as compare's tables


def budget_section(train: Mapping[str, Any], where: str = 'train') -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``train: budget`` (or the old spelling on ``arch_loss``) and the arch loss's options without
    the budget keys, so the regulariser stays a loss. Checks the section's keys and values."""
    key = functools.partial(rules.key_path, where)
    loss = dict(rules.mapping(key('arch_loss'), train.get('arch_loss') or {'type': 'CLEARERArchLoss'}, 'a loss'))
    legacy = {k: loss.pop(k) for k in LEGACY_KEYS if k in loss}
    section = train.get('budget')
    if legacy and section is not None:
        raise rules.OptionError(
            f'{key("arch_loss")}: {", ".join(legacy)} and {key("budget")} both given: expected the budget once, '
            f'under {key("budget")}'
        )
    if legacy.keys() - {'target_size'}:
        metric = LEGACY_METRICS.get(loss.get('complexity'))
        if metric is None:
            name = 'target' if 'target' in legacy else 'target_macs'
            raise rules.OptionError(
                f'{key("arch_loss: " + name)} = {legacy[name]!r} needs a complexity metric, but complexity = '
                f'{loss.get("complexity")!r}; expected one of {list(LEGACY_METRICS)} (or the budget under '
                f'{key("budget")} with a metric)'
            )
        section, where_budget = {**legacy, 'metric': metric}, key('arch_loss')
    elif section is None:
        return None, loss
    else:
        where_budget = key('budget')
        section = dict(rules.mapping(where_budget, section, 'a mapping: metric, target or target_macs'))
    check_section(section, where_budget)
    return section, loss


def legacy_warning(train: Mapping[str, Any]) -> str | None:
    """One line for a budget still spelled on ``arch_loss``."""
    given = [k for k in LEGACY_KEYS if k in (train.get('arch_loss') or {})]
    if not given:
        return None
    return (
        f'train: arch_loss: {", ".join(given)} is the old spelling of the budget; it is read as train: budget '
        '(metric from complexity), where it belongs from now on'
    )


def check_section(section: Mapping[str, Any], where: str) -> None:
    for name in section:
        if name not in KEYS:
            raise rules.OptionError(
                f'{rules.key_path(where, str(name))} is not a budget key; {rules.suggest(name, KEYS)}'
            )
    rules.check_keys(section, KEYS, where)
    if 'metric' not in section:
        rules.fail(
            rules.key_path(where, 'metric'), None, f'one of {list(METRICS)} (complexity: flops|params on arch_loss)'
        )
    given = [k for k in TARGETS if k in section]
    if len(given) != 1:
        raise rules.OptionError(
            f'{where}: expected one target: target (a fraction), target_macs or target_ms_per_mp; got {given or "none"}'
        )
    if section.get('target', 0) > 1:
        rules.fail(
            rules.key_path(where, 'target'), section['target'], "a fraction in (0, 1] of the largest network's cost"
        )
    needs = TARGETS[given[0]]
    if needs and section['metric'] != needs:
        raise rules.OptionError(
            f'{rules.key_path(where, given[0])} needs metric: {needs}, got metric = {section["metric"]!r}'
        )
    for name, goes_with in (('target_size', 'target_macs'), ('latency_size', 'metric: latency')):
        if name in section and goes_with not in (given[0], f'metric: {section["metric"]}'):
            raise rules.OptionError(f'{rules.key_path(where, name)}: applies with {goes_with} only; remove it')


class Bound:
    """What every budget says about its target: the fraction of the largest network, the window,
    and genotype.yml's lines, and how a budget section becomes one. Needs ``measure``, ``metric``,
    ``patch_size``, ``largest``, ``smallest``, ``target``, ``tolerance``, ``cost(genotype)`` and
    the words ``LARGEST`` and ``CHEAPEST`` naming those networks."""

    @property
    def fraction(self) -> float | None:
        return None if self.target is None else self.target / self.largest

    @property
    def window(self) -> tuple[float, float] | None:
        if self.target is None:
            return None
        return self.target * (1 - self.tolerance), self.target * (1 + self.tolerance)

    @classmethod
    def from_section(
        cls, section: Mapping[str, Any], net: Any, patch_size: int, where: str, timing: Mapping[str, Any] | None = None
    ) -> Bound:
        """The budget ``section`` (checked by :func:`budget_section`) asks for over the space
        ``cls.measure`` measures, refused in one line when no genotype of the space can meet it.
        ``timing``: as :meth:`Budget.measure` (metric latency)."""
        timing = {**(timing or {}), 'size': section.get('latency_size', REPORT_SIZE)}
        space = cls.measure(net, patch_size, section['metric'], timing)
        if 'target_ms_per_mp' in section:
            target = float(section['target_ms_per_mp']) * space.patch_size**2 / 1e6
            given = f'target_ms_per_mp = {section["target_ms_per_mp"]:g}'
        elif 'target_macs' in section:
            size = section.get('target_size', REPORT_SIZE)
            target = float(section['target_macs']) * (patch_size / size) ** 2
            given = f'target_macs = {section["target_macs"]:g} at {size}x{size}'
        else:
            target, given = float(section['target']) * space.largest, f'target = {section["target"]}'
        budget = dataclasses.replace(space, target=target, tolerance=float(section.get('tolerance', BUDGET_TOLERANCE)))
        if not space.smallest <= target <= budget.largest:
            raise rules.OptionError(
                f"{where}: {given} is {budget.fraction:.3f} of the largest network's cost ({cls.LARGEST}); expected "
                f'a budget between {space.smallest / budget.largest:.3f} ({cls.CHEAPEST}) and 1'
            )
        return budget

    def describe(self) -> dict[str, Any]:
        """The window as genotype.yml's one-shot selection states it."""
        if self.target is None:
            return {'budget': None}
        lo, hi = self.window
        return {
            'metric': self.metric,
            'target': round(self.target),
            'low': round(lo),
            'high': round(hi),
            'patch_size': self.patch_size,
        }

    def report(self, genotype: Genotype, multiplier: float | None = None, changed: list[str] = ()) -> dict[str, Any]:
        """The budget searched for and what the derived ``genotype`` reached, for genotype.yml:
        fractions of the largest network's cost, and MACs at 256x256 when the metric is MACs."""
        reached = self.cost(genotype)
        report = {
            'metric': self.metric,
            'target_fraction': round(self.fraction, 4),
            'reached_fraction': round(reached / self.largest, 4),
            'tolerance': self.tolerance,
        }
        if multiplier is not None:
            report['multiplier'] = round(float(multiplier), 6)
            # columns where the argmax did not fit the window and a less likely candidate was derived
            report['changed_from_argmax'] = list(changed)
        if self.metric == 'macs':  # MACs grow with the input area: also at a 256x256 input
            area = (REPORT_SIZE / self.patch_size) ** 2
            report.update(target_macs_256=round(self.target * area), reached_macs_256=round(reached * area))
        if self.metric == 'latency':  # the sum of the table's parts, per megapixel
            per_mp = 1e6 / self.patch_size**2
            report.update(target_ms_per_mp=round(self.target * per_mp, 2), reached_ms_per_mp=round(reached * per_mp, 2))
        return report


@dataclasses.dataclass(frozen=True)
class Budget(Bound):
    """Costs of a search space at one patch size, and the bound a search keeps to.

    ``costs`` (num_columns, K) is each candidate's cost in logit order; ``fixed`` the parts every
    network has (stem, transitions, head); ``largest`` the dearest network (the dearest candidate in
    every column). ``target`` is an absolute cost at ``patch_size``; None: no bound, the whole space
    is the window (a one-shot search without a budget, the evaluation's view of a space)."""

    net: Any = dataclasses.field(repr=False)  # the supernet (or a derived net of the same preset) measured
    metric: str
    patch_size: int
    costs: torch.Tensor = dataclasses.field(repr=False)
    fixed: float
    largest: float
    target: float | None = None
    tolerance: float = BUDGET_TOLERANCE
    table: dict[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)  # latency's
    # how a refusal names the space's largest and cheapest networks
    LARGEST = "the dearest candidate in every column: all parallel in the paper's space"
    CHEAPEST = 'the cheapest network of this search space'

    @classmethod
    def measure(
        cls, net: Any, patch_size: int, metric: str = 'macs', timing: Mapping[str, Any] | None = None
    ) -> Budget:
        """The space of ``net``'s preset at ``patch_size``, without a bound. Latency is timed as
        ``timing`` says (``device``, ``channels_last``, ``folder`` of the table, ``keep`` a resumed
        run's table, ``size``), at ``size`` x ``size``, which is then the budget's ``patch_size``."""
        if metric == 'latency':
            timing = dict(timing or {})
            size = int(timing.get('size') or REPORT_SIZE)
            device, channels_last = timing.get('device') or torch.device('cpu'), bool(timing.get('channels_last'))
            table = latency_table(net, size, device, channels_last, timing.get('folder'), bool(timing.get('keep')))
            return dataclasses.replace(cls.from_table(net, size, table), table=table)
        measured = candidate_costs(net, patch_size)
        costs = torch.tensor([[column[n][metric] for n in net.candidates] for column in measured.columns])
        return cls(
            net,
            metric,
            int(patch_size),
            costs.float(),
            float(measured.fixed_total[metric]),
            float(measured.largest_total[metric]),
        )

    @classmethod
    def from_table(cls, net: Any, size: int, timed: Mapping[str, Any]) -> Budget:
        """The latency budget of ``timed`` (a table's ``columns`` and ``fixed`` parts, ms at ``size``)."""
        costs = torch.tensor(timed['columns'], dtype=torch.float32)
        fixed = float(sum(timed['fixed'].values()))
        return cls(net, 'latency', int(size), costs, fixed, fixed + float(costs.max(dim=1).values.sum()))

    @property
    def smallest(self) -> float:
        """The cost of the cheapest network: the cheapest candidate in every column."""
        return self.fixed + float(self.costs.min(dim=1).values.sum())

    def bounded(self, fraction: float) -> Budget:
        """The same space bounded at ``fraction`` of its largest network's cost."""
        return dataclasses.replace(self, target=fraction * self.largest)

    @property
    def radix(self) -> list[int]:
        """How many values each digit of a genotype's row takes: a candidate per column."""
        return [self.costs.shape[1]] * self.costs.shape[0]

    def canonical(self, indices: Sequence[int]) -> tuple[int, ...]:
        return tuple(indices)

    def row(self, genotype: Genotype) -> list[int]:
        """The digits of ``genotype`` (the inverse of :meth:`genotype`): its candidate indices."""
        return genotype.indices_in(self.net.candidates)

    def genotype(self, indices: list[int]) -> Genotype:
        net = self.net
        return Genotype.from_indices(list(indices), net.branch_channels, net.columns_per_cell, net.candidates)

    def cost(self, genotype: Genotype) -> float:
        indices = genotype.indices_in(self.net.candidates)
        return self.fixed + sum(float(self.costs[c, k]) for c, k in enumerate(indices))

    def genotypes(self) -> list[list[int]]:
        """Candidate indices of every genotype of the window (the whole space without a target)."""
        if self.target is None:
            return [row for digits, _ in enumerate_genotypes(self.costs, self.fixed) for row in digits.tolist()]
        return genotypes_within(self.costs, self.fixed, self.target, self.tolerance)

    def derive(self, weights: torch.Tensor) -> list[int] | None:
        """The most likely genotype under column ``weights`` inside the window; None when none fits."""
        return derive_within_budget(weights, self.costs, self.fixed, self.target, self.tolerance)
