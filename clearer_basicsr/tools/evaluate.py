"""Is the searched network any good? Searches to one or more budgets with several seeds, then
retrains, at the same budget and with the same seeds, the searched genotypes, random genotypes of
the same cost, the hand-designed patterns of the space and BasicSR's baselines, and compares
their test scores with each other and with BM3D:

    python -m clearer_basicsr.evaluate -opt options/evaluate/demo/evaluate.yml [--jobs 2] [--exhaustive]

The evaluation file (YAML) names three option files and the plan:

    name: evaluate_demo            runs are named <name>_..., the report goes to results/<name>/
    search: demo_search.yml        a CLEARER search (it gets train: budget: {metric: macs, target: <budget>})
    retrain: demo_train.yml        retrains a CLEARERNet (its genotype is replaced per run)
    test: demo_test.yml            tests it (genotype and checkpoint replaced; its first test set counts)
    budgets: [0.5, 0.75]           derived-network cost as a fraction of the all-parallel network's
    search_seeds: [0, 1]           one search per budget and seed
    retrain_seeds: [0, 1]          every network is retrained once per seed
    random: 8                      random genotypes per budget, within +-10 % of the budget's MACs,
    random_seed: 0                 never one a search found
    hand_designed: [hrnet, alternating, all_parallel, all_fusion]   retrained where they fit a budget
    baselines:                     BasicSR networks: a retrain and a test option file each; the
      - {name: DnCNN, train: train_dncnn.yml, test: test_dncnn.yml}     same name again with a
      - {name: DnCNN, recipe: identity start, train: ..., test: ...}     recipe suited to it
    bm3d: true                     BM3D on the test set (optional package bm3d; else a note)
    jobs: 1                        stages run at once, one thread each
    latency_size: 256              MACs and CPU latency are measured on this square input
    rank_against: earlier.csv      optional: an earlier evaluation's CSV, or a list of them; the report
                                   gives Kendall's tau between each one's ranking of the genotypes and
                                   this one's
    one_shot_search: oneshot.yml   optional: a one-shot search (model_type: CLEAREROneShotModel), run
                                   per budget and search seed beside the DARTS one; its genotypes
                                   are retrained alike and compared with the same random pool
    retrain_iterations: 20000      optional: every retrain and baseline recipe stretched to this
                                   many iterations (its scheduler's periods or milestones in
                                   proportion, validation and checkpoints every 5 %)
    retrain_ema_decay: 0.999       optional: every retrain and baseline validated, saved and tested
                                   on its weights averaged with this decay (train: ema_decay)
    most_parameters: true          optional: also retrain the genotype with the most parameters in
                                   each window, the free baseline a search score must beat

The search file may be a one-shot search of the macro space (network_g: widths, num_cells;
docs/search.md): its random genotypes are then drawn from that space's window, their channels with
them (the retrain and test files' branch_channels give way).

Paths are read from the current directory, else next to the evaluation file. Every stage is
the plugin's own ``clearer-train`` / ``clearer-test`` on an option file written to
results/<name>/options/, its log in results/<name>/logs/; a stage whose outputs exist is not
run again, so an interrupted evaluation continues where it stopped; each test runs as soon as
its retrain is done. ``--keep DIR`` also keeps each finished stage's records (metrics, curves,
genotypes, stage times; no weights, a few kB a run) under DIR: another machine or a fresh clone
given the same DIR continues from them. ``--exhaustive`` retrains
every genotype of the space once (first retrain seed), and ranks the searches against all of them.

Writes results/<name>/evaluation.md (tables: mean +- std PSNR/SSIM, MACs, parameters, latency,
the searched genotypes' rank among the random ones, loss convergence, stage times), .csv, and
the plots evaluation_psnr_macs.png, evaluation_loss.png and evaluation_val.png (the validation
curves); --out writes them again under another path prefix.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import os
import random
import sys
import time
from collections.abc import Mapping
from typing import Any

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.tools.cli import doc_parser
from clearer_basicsr.tools.evaluation_report import SHARED, baseline_label
from clearer_basicsr.tools.stages import TIMES_FILE

HAND_DESIGNED = ('hrnet', 'alternating', 'all_parallel', 'all_fusion')
DEFAULTS = {
    'search_seeds': [0, 1],
    'retrain_seeds': [0, 1],
    'random': 8,
    'random_seed': 0,
    'hand_designed': list(HAND_DESIGNED),
    'baselines': [],
    'bm3d': True,
    'jobs': 1,
    'latency_size': 256,
    'rank_against': None,
    'one_shot_search': None,
    'retrain_iterations': None,
    'retrain_ema_decay': None,
    'most_parameters': False,
}
REQUIRED = ('name', 'search', 'retrain', 'test', 'budgets')
# the plan's whole-number keys and their least value (retrain_iterations: the runs validate every 5 %)
WHOLE_NUMBERS = {'random': 0, 'random_seed': 0, 'jobs': 1, 'latency_size': 1, 'retrain_iterations': 20}
BASELINE_KEYS = {'name', 'recipe', 'train', 'test'}


# ------------------------------------------------------------------------------ the plan


def read_plan(path: str) -> dict[str, Any]:
    """The evaluation file with defaults filled in; UserInputError naming the key otherwise."""
    from clearer_basicsr.option_file import read_option_file

    plan = {**DEFAULTS, **read_option_file(path)}
    where = lambda key: f'{path}: {key}'  # noqa: E731
    unknown = sorted(set(plan) - set(DEFAULTS) - set(REQUIRED))
    if unknown:
        raise UserInputError(
            f'{where(unknown[0])}: not an evaluation key; expected {", ".join(REQUIRED + tuple(DEFAULTS))}'
        )
    for key in REQUIRED:
        if key not in plan:
            raise UserInputError(f'{where(key)} is missing')
    if not isinstance(plan['name'], str) or not plan['name'].replace('_', '').replace('-', '').isalnum():
        raise UserInputError(f'{where("name")} = {plan["name"]!r}: expected a name of letters, digits, _ and -')
    base = os.path.dirname(os.path.abspath(path))
    for key in ('search', 'retrain', 'test'):
        plan[key] = _find(plan[key], base, where(key))
    if plan['one_shot_search'] is not None:
        plan['one_shot_search'] = _find(plan['one_shot_search'], base, where('one_shot_search'))
    labels = set()
    for item in plan['baselines']:
        if not isinstance(item, Mapping) or not {'name', 'train', 'test'} <= set(item) <= BASELINE_KEYS:
            raise UserInputError(
                f'{where("baselines")}: {item!r}: expected {{name: ..., train: FILE, test: FILE}} '
                'and optionally recipe: TEXT'
            )
        item.setdefault('recipe', SHARED)
        if not isinstance(item['recipe'], str) or not _slug(item['recipe']):
            raise UserInputError(f'{where("baselines")}: recipe {item["recipe"]!r}: expected a few words')
        if baseline_label(item) in labels:
            raise UserInputError(f'{where("baselines")}: {baseline_label(item)!r} twice; give each a different recipe')
        labels.add(baseline_label(item))
        item['train'], item['test'] = (
            _find(item['train'], base, where('baselines')),
            _find(item['test'], base, where('baselines')),
        )
    budgets = plan['budgets']
    if not isinstance(budgets, list) or not budgets or not all(_number(b) and 0 < b <= 1 for b in budgets):
        raise UserInputError(
            f'{where("budgets")} = {budgets!r}: expected a list of fractions in (0, 1] of the all-parallel cost'
        )
    for key in ('search_seeds', 'retrain_seeds'):
        if not isinstance(plan[key], list) or not plan[key] or not all(isinstance(s, int) for s in plan[key]):
            raise UserInputError(f'{where(key)} = {plan[key]!r}: expected a non-empty list of integer seeds')
    for key, least in WHOLE_NUMBERS.items():
        value = plan[key]
        if value is None and DEFAULTS[key] is None:
            continue  # an optional key left out
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise UserInputError(f'{where(key)} = {value!r}: expected a whole number of at least {least}')
    if not isinstance(plan['most_parameters'], bool):
        raise UserInputError(f'{where("most_parameters")} = {plan["most_parameters"]!r}: expected true or false')
    decay = plan['retrain_ema_decay']
    if decay is not None and not (_number(decay) and 0 < decay < 1):
        raise UserInputError(f'{where("retrain_ema_decay")} = {decay!r}: expected a decay between 0 and 1, e.g. 0.999')
    earlier = plan['rank_against']
    earlier = [] if earlier is None else earlier if isinstance(earlier, list) else [earlier]
    plan['rank_against'] = [_earlier_csv(path, base, where('rank_against')) for path in earlier]
    bad = [h for h in plan['hand_designed'] if h not in HAND_DESIGNED]
    if bad:
        raise UserInputError(f'{where("hand_designed")}: {bad[0]!r} is not one of {list(HAND_DESIGNED)}')
    return plan


def _slug(text: str) -> str:
    return '-'.join(''.join(c if c.isalnum() else ' ' for c in text.lower()).split())


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _earlier_csv(path: Any, base: str, where: str) -> str:
    """An earlier evaluation's CSV, checked for the columns the ranking reads."""
    import csv

    found = _find(path, base, where, 'file')
    with open(found, newline='', encoding='utf-8') as f:
        columns = next(csv.reader(f), [])
    missing = [c for c in ('network', 'seed', 'psnr') if c not in columns]
    if missing:
        raise UserInputError(f'{where} = {path!r}: expected an evaluation CSV with a column {missing[0]!r}')
    return found


def _find(path: Any, base: str, where: str, what: str = 'option file') -> str:
    if isinstance(path, str):
        for candidate in (path, os.path.join(base, path)):
            if os.path.isfile(candidate):
                return candidate
    raise UserInputError(f'{where} = {path!r}: no such {what} (read from the current directory or {base})')


# ------------------------------------------------------------------------------ genotypes


@dataclasses.dataclass
class Space:
    """The search space of the search option file, with its measured MACs at the patch size (a
    :class:`~clearer_basicsr.models.budget.Budget` without a bound)."""

    budget: Any

    @classmethod
    def of(cls, search_opt: Mapping[str, Any]) -> Space:
        from clearer_basicsr.archs.clearer_arch import CLEARERSearchNet
        from clearer_basicsr.models.budget import Budget
        from clearer_basicsr.models.macro_budget import MacroBudget

        net = CLEARERSearchNet(**{k: v for k, v in search_opt['network_g'].items() if k != 'type'})
        patch = int(search_opt['datasets']['train'].get('gt_size') or 64)
        return cls((MacroBudget if net.macro else Budget).measure(net, patch, 'macs'))

    @property
    def net(self) -> Any:
        return self.budget.net

    @property
    def macro(self) -> Any:
        """The macro space (archs/widths.py) when the search file opens one, else None."""
        return getattr(self.budget, 'space', None)

    def genotype(self, indices: list[int]) -> Any:
        return self.budget.genotype(indices)

    def fraction(self, genotype: Any) -> float:
        return self.budget.cost(genotype) / self.budget.largest

    def within(self, budget: float) -> list[Any]:
        return [self.genotype(row) for row in self.budget.bounded(budget).genotypes()]

    def everything(self) -> list[Any]:
        return [self.genotype(row) for row in self.budget.genotypes()]

    def hand_designed(self, name: str) -> Any:
        """HRNet's pattern (blocks, then a fusion, per cell), alternating, all parallel, all fusion."""
        per_cell = self.net.columns_per_cell
        cell = {
            'hrnet': [0] * (per_cell - 1) + [1],
            'alternating': [k % 2 for k in range(per_cell)],
            'all_parallel': [0] * per_cell,
            'all_fusion': [1] * per_cell,
        }[name]
        if self.macro is None:
            return self.genotype(cell * self.net.num_cells)
        widest = (len(self.macro.multipliers) - 1,) * len(self.macro.branch_channels)  # every cell, full width
        return self.genotype(self.macro.digits(len(self.macro.num_cells) - 1, widest, cell * self.net.num_cells))

    def most_parameters(self, budget: float) -> Any:
        """The free baseline any search score must beat: the genotype with the most parameters in
        the window (a count of parameters ranks genotypes better than either search did)."""
        from clearer_basicsr.archs.complexity import genotype_cost

        window = self.within(budget)
        if not window:
            raise UserInputError(f'most_parameters: no genotype of the space lies within +-10 % of budget {budget}')
        return max(window, key=lambda g: genotype_cost(self.net, g, self.budget.patch_size)['params'])


def code(genotype: Any) -> str:
    """A name-safe form of a genotype: 'PPPF-PPPF', with searched channels 'PPPF-PPPF_c8-8-24'."""
    cells, _, channels = str(genotype).partition('@')
    name = cells.replace(' ', '').replace('|', '-')
    return f'{name}_c{"-".join(channels.split())}' if channels else name


# ------------------------------------------------------------------------------ stages


class Stages:
    """Builds the stages of an evaluation from its option-file templates."""

    def __init__(self, plan: dict[str, Any]) -> None:
        from clearer_basicsr.option_file import read_option_file

        self.plan, self.name = plan, plan['name']
        self.root = os.path.join('results', self.name)
        self.times_file = os.path.join(self.root, TIMES_FILE)
        keys = ('search', 'retrain', 'test') + (('one_shot_search',) if plan.get('one_shot_search') else ())
        self.templates = {key: read_option_file(plan[key]) for key in keys}

    def stage(self, name: str, entry: str, options: dict, done: Any, **more: Any) -> Any:
        from clearer_basicsr.tools.stages import Stage

        options['name'] = name
        return Stage(
            name,
            entry,
            options,
            os.path.join(self.root, 'options', f'{name}.yml'),
            os.path.join(self.root, 'logs', f'{name}.log'),
            done,
            **more,
        )

    def methods(self) -> tuple[str, ...]:
        """The searches of the plan: the search file's (DARTS, or one-shot where its model_type says
        so), and the one-shot search file's beside it."""
        first = 'one_shot' if self.templates['search'].get('model_type') == 'CLEAREROneShotModel' else 'darts'
        if first == 'one_shot' and 'one_shot_search' in self.templates:
            raise UserInputError(
                f'{self.plan["one_shot_search"]}: one_shot_search beside a search file that is itself one-shot '
                f'({self.plan["search"]}); expected a DARTS search file there, or no one_shot_search'
            )
        return (first, 'one_shot') if 'one_shot_search' in self.templates else (first,)

    def search(self, budget: float, seed: int, method: str = 'darts') -> Any:
        """A search to ``budget``: with the search file, or the one-shot search file beside a DARTS one."""
        own = method == 'darts' or 'one_shot_search' not in self.templates
        opt = copy.deepcopy(self.templates['search' if own else 'one_shot_search'])
        opt['manual_seed'] = seed
        from clearer_basicsr.models.budget import LEGACY_KEYS

        arch_loss = opt['train'].get('arch_loss') or {}
        for key in LEGACY_KEYS:  # a budget of the old spelling gives way
            arch_loss.pop(key, None)
        opt['train']['budget'] = {'metric': 'macs', 'target': budget}
        name = f'{self.name}_{"search" if method == "darts" else "oneshot"}_b{round(budget * 100)}_s{seed}'
        folder = os.path.join('experiments', name)
        done = lambda: _finished_search(folder, opt['train']['total_iter'])  # noqa: E731
        return self.stage(name, 'train', opt, done, records=(folder,))

    def retrain(self, genotype: Any, seed: int) -> tuple[Any, Any]:
        train = self.plan_recipe(copy.deepcopy(self.templates['retrain']))
        train['manual_seed'] = seed
        # The genotype as a mapping carries the search's preset (branch channels, columns per cell).
        train['network_g']['genotype'] = genotype.to_dict()
        if genotype.searched_channels:  # its own channels, not the template's
            train['network_g'].pop('branch_channels', None)
        name = f'{self.name}_{code(genotype)}_s{seed}'
        return self.pair(name, train, self.templates['test'], {'genotype': genotype.to_dict()})

    def baseline(self, item: Mapping[str, Any], seed: int) -> tuple[Any, Any]:
        from clearer_basicsr.option_file import read_option_file

        train = self.plan_recipe(read_option_file(item['train']))
        train['manual_seed'] = seed
        recipe = item.get('recipe', SHARED)
        name = item['name'] if recipe == SHARED else f'{item["name"]}-{_slug(recipe)}'
        return self.pair(f'{self.name}_{name}_s{seed}', train, read_option_file(item['test']), {})

    def plan_recipe(self, train: dict) -> dict:
        """The retrain recipe with the plan's ``retrain_ema_decay`` and over its
        ``retrain_iterations`` (unchanged without): the schedule scaled in proportion (the
        warm-up, an absolute guard, kept), validation and checkpoints every 5 %, so that every
        run's convergence is read off the same share."""
        if self.plan.get('retrain_ema_decay'):
            train['train']['ema_decay'] = self.plan['retrain_ema_decay']
        iterations = self.plan.get('retrain_iterations')
        if not iterations:
            return train
        opt = train['train']
        factor = iterations / opt['total_iter']
        scheduler = opt.get('scheduler') or {}
        for key in ('periods', 'milestones'):
            if key in scheduler:
                scheduler[key] = [max(1, round(v * factor)) for v in scheduler[key]]
        if 'periods' in scheduler:  # the periods add up to the run
            scheduler['periods'][-1] += iterations - sum(scheduler['periods'])
        opt['total_iter'] = iterations
        every = iterations // 20
        if 'val' in train:
            train['val']['val_freq'] = every
        logger = train.setdefault('logger', {})
        logger.update(save_checkpoint_freq=every, print_freq=min(logger.get('print_freq', every), every))
        return train

    def pair(self, name: str, train: dict, test_template: dict, network: dict) -> tuple[Any, Any]:
        checkpoint = os.path.join('experiments', name, 'models', 'net_g_latest.pth')
        test = copy.deepcopy(test_template)
        test['network_g'].update(network)
        if 'branch_channels' not in train['network_g']:  # a macro genotype states its channels
            test['network_g'].pop('branch_channels', None)
        test.setdefault('path', {})['pretrain_network_g'] = checkpoint
        if train['train'].get('ema_decay'):  # tested on the weights its curve was validated on
            test['path']['param_key_g'] = 'params_ema'
        results = os.path.join('results', f'{name}_test')
        tested = lambda: os.path.isfile(os.path.join(results, 'metrics.json'))  # noqa: E731
        # A tested retrain is done without its checkpoint (a clone with kept records has none).
        trained = self.stage(name, 'train', train, lambda: tested() or os.path.isfile(checkpoint))
        records = (os.path.join('experiments', name), results)
        return trained, self.stage(f'{name}_test', 'test', test, tested, after=trained, records=records)

    def bm3d(self) -> Any:
        test = copy.deepcopy(self.templates['test'])
        results = os.path.join('results', f'{self.name}_reference_bm3d')
        done = lambda: os.path.isfile(os.path.join(results, 'metrics.json'))  # noqa: E731
        return self.stage(f'{self.name}_reference', 'bm3d', test, done, records=(results,))


def _finished_search(folder: str, total_iter: int) -> bool:
    from clearer_basicsr.search_result import FILE, SearchResult

    path = os.path.join(folder, FILE)
    return os.path.isfile(path) and SearchResult.load(path).iteration == total_iter


# ------------------------------------------------------------------------------ running


def choose_genotypes(
    plan: dict[str, Any],
    space: Space,
    searched: dict[float, list[Any]],
    exhaustive: bool,
    one_shot: dict[float, list[Any]] | None = None,
) -> dict:
    """Per budget, the genotypes to retrain by kind: searched (DARTS), one-shot, random (never one
    the DARTS searches found), hand-designed. The random pool is drawn from the DARTS searches'
    results alone, so adding one-shot searches to a plan leaves it, and the retrains it has, as
    they were; a one-shot genotype may then also be one of the random ones."""
    chosen = {}
    one_shot = one_shot or {}
    for budget in plan['budgets']:
        found = {str(g) for g in searched[budget]}
        window = [g for g in space.within(budget) if str(g) not in found]
        rng = random.Random(plan['random_seed'] * 1000 + round(budget * 1000))
        randoms = window if exhaustive else rng.sample(window, min(plan['random'], len(window)))
        fits = {str(g) for g in space.within(budget)}
        hand = {h: space.hand_designed(h) for h in plan['hand_designed']}
        chosen[budget] = {
            'most parameters': [space.most_parameters(budget)] if plan['most_parameters'] else [],
            'searched': list({str(g): g for g in searched[budget]}.values()),
            'one-shot': list({str(g): g for g in one_shot.get(budget, [])}.values()),
            'random': randoms,
            'hand': {h: g for h, g in hand.items() if str(g) in fits},
        }
    if exhaustive:
        chosen['space'] = space.everything()
    return chosen


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs (or continues) the evaluation; returns the collected results."""
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.evaluate')
    parser.add_argument('-opt', required=True, help='evaluation file (YAML), see above')
    parser.add_argument('--jobs', type=int, help="stages run at once (default: the file's jobs)")
    parser.add_argument('--exhaustive', action='store_true', help='retrain every genotype of the space once')
    parser.add_argument(
        '--out', help='also write the report (md, csv, png) to this path prefix, e.g. docs/evaluation_10k'
    )
    parser.add_argument(
        '--keep',
        help="keep every finished stage's records (metrics, curves, genotypes; no weights) under this folder "
        'and continue from the records it holds, e.g. on a fresh clone that carries it',
    )
    parser.add_argument('--plan', action='store_true', help='print the stages and their state; run nothing')
    args = parser.parse_args(argv)
    plan = read_plan(args.opt)
    if args.jobs is not None:
        if args.jobs < 1:
            raise UserInputError(f'--jobs {args.jobs}: expected at least 1')
        plan['jobs'] = args.jobs

    from clearer_basicsr.files import folder_lock

    # one evaluation of a plan at a time (its stages, records and report); --plan only reads
    held = os.path.join('experiments', plan['name'])
    with contextlib.nullcontext() if args.plan else folder_lock(held, f'clearer-evaluate -opt {args.opt}'):
        return evaluate(args, plan, argv)


def evaluate(args: argparse.Namespace, plan: dict[str, Any], argv: list[str] | None) -> dict[str, Any]:
    """The evaluation of :func:`main` once its plan is read (and held, unless ``--plan``)."""
    import torch

    import clearer_basicsr  # noqa: F401  (registers the plugin before stages fork)
    from clearer_basicsr.tools import bm3d_reference, evaluation_report
    from clearer_basicsr.tools.stages import restore_records, run_stages

    torch.set_num_threads(1)
    if args.keep and os.path.isdir(args.keep):
        print(f'== {restore_records(args.keep)} records restored from {args.keep}', flush=True)
    stages = Stages(plan)
    space = Space.of(stages.templates['search'])
    started = time.time()
    methods = stages.methods()
    searches = {b: [stages.search(b, s, m) for m in methods for s in plan['search_seeds']] for b in plan['budgets']}
    all_searches = [s for group in searches.values() for s in group]
    if not args.plan:
        print(f'== {len(all_searches)} searches', flush=True)
        run_stages(all_searches, plan['jobs'], stages.times_file, args.keep)
    elif not all(s.done() for s in all_searches):
        return _print_plan(all_searches)  # the rest depends on what the searches find
    searched = {b: [evaluation_report.read_search(s.name) for s in group] for b, group in searches.items()}
    by_method = {m: {b: [r['genotype'] for r in rs if r['method'] == m] for b, rs in searched.items()} for m in methods}
    darts = by_method.get('darts') or {b: [] for b in plan['budgets']}
    chosen = choose_genotypes(plan, space, darts, args.exhaustive, by_method.get('one_shot'))

    seeds = plan['retrain_seeds'][:1] if args.exhaustive else plan['retrain_seeds']
    genotypes = {}  # str -> Genotype, each retrained once per seed whatever budgets it serves
    for budget in plan['budgets']:
        group = chosen[budget]
        for g in [
            *group['searched'],
            *group['one-shot'],
            *group['random'],
            *group['hand'].values(),
            *group['most parameters'],
        ]:
            genotypes[str(g)] = g
    for g in chosen.get('space', []):
        genotypes[str(g)] = g
    pairs = {(name, seed): stages.retrain(g, seed) for name, g in genotypes.items() for seed in seeds}
    pairs.update(
        {(baseline_label(item), seed): stages.baseline(item, seed) for item in plan['baselines'] for seed in seeds}
    )
    reference = [stages.bm3d()] if plan['bm3d'] and bm3d_reference.bm3d_available() else []
    runs = [stage for pair in pairs.values() for stage in pair] + reference  # a test right after its retrain
    if args.plan:
        return _print_plan(all_searches + runs)
    print(
        f'== {len(pairs)} retrains and tests ({len(genotypes)} genotypes, {len(plan["baselines"])} baselines, '
        f'seeds {seeds}){", BM3D" if reference else ""}',
        flush=True,
    )
    run_stages(runs, plan['jobs'], stages.times_file, args.keep)

    results = evaluation_report.collect(plan, space, stages, searched, chosen, pairs, reference, args.exhaustive)
    results['command'] = ' '.join(['python -m clearer_basicsr.evaluate', *(sys.argv[1:] if argv is None else argv)])
    results['wall_seconds'] = time.time() - started
    evaluation_report.write(results, os.path.join(stages.root, 'evaluation'))
    if args.out:  # written again, not copied, so that the report links the plots named after it
        evaluation_report.write(results, args.out)
    print(evaluation_report.summary(results), flush=True)
    return results


def _print_plan(stages: list[Any]) -> dict[str, Any]:
    for stage in stages:
        print(f'{"done" if stage.done() else "todo"}  {stage.name}  (clearer-{stage.entry} -opt {stage.option_file})')
    return {'stages': [s.name for s in stages]}


if __name__ == '__main__':
    from _clearer_basicsr_cli import run

    run(main)
