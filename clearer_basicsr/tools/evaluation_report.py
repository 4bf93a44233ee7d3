"""The evaluation's figures: collected from the runs' own files (genotype.yml, metrics.json,
train_log.jsonl, stage_times.json), then written as a Markdown report, a CSV and two plots."""

from __future__ import annotations

import csv
import datetime
import math
import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

KINDS = ('searched', 'one-shot', 'random', 'hand-designed', 'most parameters', 'baseline')
SHARED = 'shared'  # a baseline trained with the recipe every network shares


def recipe_changes(plan: Mapping[str, Any]) -> str:
    """What the plan changes in every retrain and baseline recipe, as sentences (or nothing)."""
    text = ''
    if plan.get('retrain_iterations'):
        text += f' Every recipe is stretched to {plan["retrain_iterations"]} iterations (`retrain_iterations`).'
    if plan.get('retrain_ema_decay'):
        text += (
            f' Every run is validated, saved and tested on its weights averaged over the steps with decay '
            f'{plan["retrain_ema_decay"]} (`retrain_ema_decay`); the trained weights are those of a run without.'
        )
    return text


def baseline_label(item: Mapping[str, Any]) -> str:
    """A baseline's network in the report: its name, and its recipe unless that is the shared one."""
    recipe = item.get('recipe', SHARED)
    return item['name'] if recipe == SHARED else f'{item["name"]} ({recipe})'


# ------------------------------------------------------------------------------ reading


def read_search(name: str) -> dict[str, Any]:
    """What one search found: its genotype, how firmly, and the budget it reached."""
    from clearer_basicsr.search_result import SearchResult

    found = SearchResult.in_folder(os.path.join('experiments', name))
    return {
        'name': name,
        'method': (found.selection or {}).get('method', 'darts'),
        'genotype': found.genotype,
        'decided': found.decided,
        'columns': len(found.decisions or ()),
        'weakest': found.weakest,
        'budget': found.budget or {},
    }


def loss_curve(train_name: str) -> list[tuple[int, float]]:
    from clearer_basicsr.run_files import read_train_log

    folder = os.path.join('experiments', train_name)
    if not os.path.isfile(os.path.join(folder, 'train_log.jsonl')):
        return []
    return [(e['iter'], sum(v for k, v in e.items() if k.startswith('l_'))) for e in read_train_log(folder)]


def pooled_fifths(curves: Sequence[Sequence[tuple[int, float]]]) -> list[float]:
    """Mean training loss in each fifth of the run, over all ``curves`` pooled. Networks retrained
    with one seed see the same batches, so their curves rise and fall together with the batches;
    each logged value is the mean since the previous log line (logs written before that change
    hold one batch's loss), and pooling the seeds evens out what is left."""
    by_iter: dict[int, list[float]] = {}
    for curve in curves:
        for it, value in curve:
            by_iter.setdefault(it, []).append(value)
    points = [statistics.fmean(by_iter[it]) for it in sorted(by_iter)]
    if len(points) < 5:
        return []
    k = len(points) / 5
    return [statistics.fmean(points[round(i * k) : round((i + 1) * k)]) for i in range(5)]


def convergence_line(curves: Sequence[Sequence[tuple[int, float]]], what: str) -> str:
    fifths = pooled_fifths(curves)
    if not fifths:
        return f'- {what}: too few logged losses to tell.'
    change = fifths[-1] / fifths[-2] - 1
    return (
        f'- {what} ({len(curves)} retrains pooled): mean training loss per fifth of the run '
        + ', '.join(f'{v:.3g}' for v in fifths)
        + f'; the last fifth against the one before: {change * 100:+.1f} %'
        + (' (flat: within 5 %).' if abs(change) <= 0.05 else ' (still moving).')
    )


def collect(
    plan: Mapping[str, Any],
    space: Any,
    stages: Any,
    searched: Mapping[float, list[dict]],
    chosen: Mapping[Any, Any],
    pairs: Mapping[tuple[str, int], tuple[Any, Any]],
    reference: list[Any],
    exhaustive: bool,
) -> dict[str, Any]:
    """Every network's test scores per seed, costs, latency and loss curves, and per budget which
    networks compete there."""
    from clearer_basicsr.convergence import gain_last_share
    from clearer_basicsr.run_files import read_metrics, val_curve
    from clearer_basicsr.tools.compare import collect as measure
    from clearer_basicsr.tools.compare import cpu_name
    from clearer_basicsr.tools.stages import read_times

    networks = {}
    for (name, seed), (train, test) in pairs.items():
        first = name not in networks  # latency once per network: the seeds share its shape
        # the test's scores from its metrics.json; costs from the net's shape (kept records hold no weights)
        (row,) = measure([os.path.join('results', test.name)], plan['latency_size'], latency=first, weights=False)[:1]
        entry = networks.setdefault(name, {'name': name, 'runs': {}, 'curves': {}})
        total_iter = int(train.options['train']['total_iter'])
        curve = val_curve(os.path.join('experiments', train.name))
        entry['runs'][seed] = {
            'psnr': row['psnr'],
            'ssim': row['ssim'],
            'iterations': total_iter,
            'gain_last20_db': gain_last_share(curve, total_iter),
        }
        entry['curves'][seed] = loss_curve(train.name)
        entry.setdefault('val_curves', {})[seed] = curve
        if first:
            entry.update(macs=row['macs'], params=row['params'], ms_per_mp=row['cpu_ms_per_mp'])
    for item in plan['baselines']:
        networks[baseline_label(item)].update(kind='baseline', baseline=item['name'], recipe=item['recipe'])
    bm3d = None
    for stage in reference:
        report = read_metrics(os.path.join('results', f'{stage.options["name"]}_bm3d'))
        bm3d = next(iter(report['datasets'].values()))['average']
    test_set = next(d for k, d in stages.templates['test']['datasets'].items())
    budgets = []
    for budget in plan['budgets']:
        group = chosen[budget]
        kinds = [('searched', g) for g in group['searched']] + [('one-shot', g) for g in group.get('one-shot', [])]
        kinds += [('random', g) for g in group['random']]
        kinds += [('hand-designed', g) for g in group['hand'].values()]
        kinds += [('most parameters', g) for g in group.get('most parameters', [])]
        budgets.append(
            {
                'budget': budget,
                'window_macs': [round(budget * (1 - f) * space.budget.largest) for f in (0.1, -0.1)],
                'centre_macs': budget * space.budget.largest * (plan['latency_size'] / space.budget.patch_size) ** 2,
                'members': [(kind, str(g)) for kind, g in kinds],
                'hand_names': {str(g): h for h, g in group['hand'].items()},
                'searches': [s for s in searched[budget] if s.get('method', 'darts') == 'darts'],
                'one_shot_searches': [s for s in searched[budget] if s.get('method') == 'one_shot'],
            }
        )
    return {
        'plan': dict(plan),
        'earlier': {path: read_earlier(path) for path in plan.get('rank_against') or []},
        'exhaustive': exhaustive,
        'space_genotypes': [str(g) for g in chosen.get('space', [])],
        'patch_size': space.budget.patch_size,
        'networks': networks,
        'budgets': budgets,
        'bm3d': bm3d,
        'test_set': test_set.get('name', 'test'),
        'times': read_times(stages.times_file),
        'machine': f'{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}',
        'date': datetime.date.today().isoformat(),
    }


def read_earlier(path: str) -> dict[str, float]:
    """An earlier evaluation's CSV (this report's own format): each network's mean PSNR over its seeds."""
    by_net: dict[str, dict[str, float]] = {}
    with open(path, newline='', encoding='utf-8') as f:
        for row in csv.DictReader(f):
            by_net.setdefault(row['network'], {})[row['seed']] = float(row['psnr'])  # a seed once per budget
    return {name: statistics.fmean(seeds.values()) for name, seeds in by_net.items()}


# ------------------------------------------------------------------------------ statistics


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return float('nan'), float('nan')
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def score(network: Mapping[str, Any], metric: str = 'psnr') -> tuple[float, float]:
    return mean_std([run[metric] for run in network['runs'].values()])


def worst_gain(network: Mapping[str, Any]) -> float:
    """The largest validation gain over the last 20 % among the network's runs (NaN: a run has no curve)."""
    gains = [run.get('gain_last20_db', math.nan) for run in network['runs'].values()]
    return math.nan if any(math.isnan(g) for g in gains) else max(gains)


def converged(network: Mapping[str, Any]) -> bool:
    from clearer_basicsr.convergence import is_converged

    return is_converged(worst_gain(network))


def budget_verdict(results: Mapping[str, Any], budget: Mapping[str, Any], searches: str = 'searches') -> dict[str, Any]:
    """The networks a search method found (``budget[searches]``: the DARTS searches, or
    ``one_shot_searches``) against the random ones of this budget: the search's mean score (over
    search seeds), the random mean, its standard error, the difference in standard errors, each
    found genotype's rank among the random ones (1: best) and the gap to BM3D."""
    nets = results['networks']
    random_means = [score(nets[g])[0] for kind, g in budget['members'] if kind == 'random']
    found = [str(s['genotype']) for s in budget[searches]]
    search_mean = statistics.fmean(score(nets[g])[0] for g in found)
    random_mean, random_std = mean_std(random_means)
    se = random_std / math.sqrt(len(random_means)) if len(random_means) > 1 else float('nan')
    ranks = {g: 1 + sum(m > score(nets[g])[0] for m in random_means) for g in dict.fromkeys(found)}
    verdict = {
        'search_mean': search_mean,
        'random_mean': random_mean,
        'random_std': random_std,
        'random_se': se,
        'random_count': len(random_means),
        'z': (search_mean - random_mean) / se if se and not math.isnan(se) and se > 0 else float('nan'),
        'ranks': ranks,
        'bm3d_gap': search_mean - results['bm3d']['psnr'] if results.get('bm3d') else float('nan'),
        'unconverged': sorted({g for kind, g in budget['members'] if not converged(nets[g])}),
    }
    if results['space_genotypes']:
        space_means = sorted((score(nets[g])[0] for g in results['space_genotypes']), reverse=True)
        verdict['space_ranks'] = {g: 1 + sum(m > score(nets[g])[0] for m in space_means) for g in ranks}
        verdict['space_size'] = len(space_means)
    return verdict


METHODS = (('searches', 'Search', 'searched'), ('one_shot_searches', 'One-shot search', 'one-shot'))


def verdicts(results: Mapping[str, Any], budget: Mapping[str, Any]) -> list[tuple[str, str, int, dict[str, Any]]]:
    """(label, kind, number of searches, :func:`budget_verdict`) of each search method the budget has."""
    return [
        (label, kind, len(budget[key]), budget_verdict(results, budget, key))
        for key, label, kind in METHODS
        if budget.get(key)
    ]


def free_baseline_line(results: Mapping[str, Any], budget: Mapping[str, Any], found: Sequence[tuple]) -> list[str]:
    """The searches against the genotype with the most parameters in the window, when it was retrained."""
    free = [g for kind, g in budget['members'] if kind == 'most parameters']
    if not free:
        return []
    psnr = score(results['networks'][free[0]])[0]
    return [
        f'- Against the free baseline, the genotype with the most parameters in the window (`{free[0]}`, '
        f'{psnr:.2f} dB): '
        + ', '.join(f'{label.lower()} {verdict["search_mean"] - psnr:+.3f} dB' for label, _, _, verdict in found)
    ]


BASELINE_REACH = 0.25  # a baseline is compared at a budget when its MACs are within 25 % of the budget's


def baselines_near(results: Mapping[str, Any], budget: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """Per BasicSR baseline within :data:`BASELINE_REACH` of the budget's MACs, its best recipe:
    ``(network, its relative MACs, its mean PSNR)``, best first."""
    best: dict[str, tuple[str, float, float]] = {}
    for name, net in results['networks'].items():
        if net.get('kind') != 'baseline':
            continue
        relative = net['macs'] / budget['centre_macs'] - 1
        psnr = score(net)[0]
        if abs(relative) <= BASELINE_REACH and (net['baseline'] not in best or psnr > best[net['baseline']][2]):
            best[net['baseline']] = (name, relative, psnr)
    return sorted(best.values(), key=lambda b: -b[2])


def rank_agreement(earlier: Mapping[str, float], networks: Mapping[str, Any]) -> dict[str, Any] | None:
    """Kendall's tau-b between an earlier evaluation's mean PSNR (:func:`read_earlier`) and this
    one's, over the genotypes both retrained (None with fewer than 3 shared)."""
    from scipy.stats import kendalltau

    shared = [n for n, net in networks.items() if n in earlier and net.get('kind') != 'baseline']
    if len(shared) < 3:
        return None
    tau = kendalltau([earlier[n] for n in shared], [score(networks[n])[0] for n in shared])
    return {'tau': float(tau.statistic), 'p': float(tau.pvalue), 'count': len(shared)}


# ------------------------------------------------------------------------------ writing


def _pm(mean: float, std: float, digits: int) -> str:
    return '–' if math.isnan(mean) else f'{mean:.{digits}f} ± {std:.{digits}f}'


def network_row(results: Mapping[str, Any], kind: str, name: str, label: str = '') -> list[str]:
    net = results['networks'][name]
    psnr, ssim = score(net, 'psnr'), score(net, 'ssim')
    return [
        kind,
        label or name,
        f'{net["macs"] / 1e9:.3f}',
        f'{net["params"]:,}',
        f'{net["ms_per_mp"]:.0f}',
        _pm(*psnr, 2),
        _pm(*ssim, 4),
        f'{len(net["runs"])}',
        gain_cell(net),
    ]


def gain_cell(net: Mapping[str, Any]) -> str:
    """The worst seed's validation gain over the last 20 %, marked when that is not converged. A
    seed whose curve fell by the threshold or more is named too: by the rule it has converged,
    yet it ended below where it stood 20 % before the end."""
    from clearer_basicsr.convergence import CONVERGED_DB

    gain = worst_gain(net)
    if math.isnan(gain):
        return 'no curve (unconverged)'
    seed, fell = min(((seed, run['gain_last20_db']) for seed, run in net['runs'].items()), key=lambda s: s[1])
    falling = f'; seed {seed} fell {fell:+.3f}' if fell <= -CONVERGED_DB else ''
    return f'{gain:+.3f}' + ('' if converged(net) else ' (unconverged)') + falling


HEADER = ['kind', 'network', 'GMACs', 'params', 'CPU ms/MP', 'PSNR (dB)', 'SSIM', 'seeds', 'gain last 20 % (dB)']


def cell(text: str) -> str:
    """A Markdown table cell: a genotype's '|' would end the cell."""
    return text.replace('|', '\\|')


def _table(rows: list[list[str]]) -> list[str]:
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|' + '---|' * len(HEADER)]
    return lines + ['| ' + ' | '.join(cell(c) for c in r) + ' |' for r in rows]


def markdown(results: Mapping[str, Any], plot_names: Mapping[str, str]) -> str:
    from clearer_basicsr.tools.compare import REPEATS

    plan, nets = results['plan'], results['networks']
    size = plan['latency_size']
    stage_total = sum(results['times'].values())
    lines = [
        f'# Evaluation: {plan["name"]}',
        '',
        f'Written by `{results["command"]}` on {results["date"]} ({results["machine"]}). The stages '
        f'took {stage_total / 60:.0f} min in all, about {stage_total / plan["jobs"] / 60:.0f} min of wall clock '
        f'with {plan["jobs"]} at a time (this last invocation: {results["wall_seconds"] / 60:.0f} min; stages '
        'whose outputs exist are skipped).',
        '',
        f'Search `{os.path.relpath(plan["search"])}`, retrain `{os.path.relpath(plan["retrain"])}`, test '
        f'`{os.path.relpath(plan["test"])}` (test set '
        f'`{results["test_set"]}`). Every network is retrained with the same recipe and seeds '
        f'{plan["retrain_seeds"] if not results["exhaustive"] else plan["retrain_seeds"][:1]}; PSNR/SSIM are '
        f'mean ± std over those seeds. MACs and CPU latency (one thread, ms per megapixel, the fastest of up to '
        f'{REPEATS} passes) are measured on a {size}x{size} input. Convergence: a run is converged when its validation '
        "PSNR gained less than 0.05 dB over the last 20 % of its iterations; the table gives the worst seed's gain "
        '(and names a seed whose curve fell by 0.05 dB or more: converged by the rule, below its own earlier '
        'value), and a verdict is stated only where every network compared has converged.' + recipe_changes(plan),
        '',
        '## Searches',
        '',
        '| budget | seed | genotype | decided columns | weakest winning weight | cost reached (target) |',
        '|---|---|---|---|---|---|',
    ]
    for budget in results['budgets']:
        for search in budget['searches'] + budget.get('one_shot_searches', []):
            b = search['budget']
            decided = (
                f'{search["decided"]}/{search["columns"]} | {search["weakest"]:.3f}'
                if search['method'] == 'darts'
                else '– (one-shot) | –'
            )
            lines.append(
                f'| {budget["budget"]:g} | {search["name"].rsplit("_s", 1)[1]} | `{cell(str(search["genotype"]))}` | '
                f'{decided} | '
                f'{b.get("reached_fraction", float("nan")):.3f} ({b.get("target_fraction", float("nan")):.3f}) |'
            )
    for budget in results['budgets']:
        found = verdicts(results, budget)
        verdict = found[0][3]  # the first search method's: DARTS where the plan has it
        lo, hi = (m * (size / results['patch_size']) ** 2 / 1e9 for m in budget['window_macs'])
        rows = []
        for kind, name in budget['members']:
            label = f'`{name}`' + (f' ({budget["hand_names"][name]})' if name in budget['hand_names'] else '')
            rows.append(network_row(results, kind, name, label))
        rows.sort(key=lambda r: (KINDS.index(r[0]), -float(r[5].split(' ')[0]) if r[5] != '–' else 0))
        lines += [
            '',
            f"## Budget {budget['budget']:g} of the largest network's cost "
            f'({lo:.3f} – {hi:.3f} GMACs at {size}x{size})',
            '',
            *_table(rows),
            '',
        ]
        for label, kind, count, method in found:
            lines += against_random(label, kind, method, count, len(budget['members']))
        lines += free_baseline_line(results, budget, found)
        if 'space_ranks' in verdict:
            lines.append(
                f'- Rank in the whole space ({verdict["space_size"]} genotypes, one seed each): '
                + ', '.join(f'`{g}` {r}' for g, r in verdict['space_ranks'].items())
            )
        if results.get('bm3d'):
            against = '(**beats BM3D**)' if verdict['bm3d_gap'] > 0 else '(**below BM3D**)'
            if verdict['unconverged']:
                against = '(not a verdict: unconverged runs)'
            lines.append(f'- Against BM3D ({results["bm3d"]["psnr"]:.2f} dB): {verdict["bm3d_gap"]:+.2f} dB {against}')
        near = baselines_near(results, budget)
        if near:
            best_name, _, best_psnr = near[0]
            unconverged = verdict['unconverged'] or not converged(results['networks'][best_name])
            lines.append(
                f"- BasicSR's baselines within ±{BASELINE_REACH:.0%} of this budget's MACs "
                f'({budget["centre_macs"] / 1e9:.2f} GMACs), the better recipe of each: '
                + ', '.join(f'{n} {p:.2f} dB ({r:+.0%} MACs)' for n, r, p in near)
                + f'. Search minus the best of them: {verdict["search_mean"] - best_psnr:+.2f} dB'
                + (' (not a verdict: unconverged runs).' if unconverged else '.')
            )
        missing = [h for h in plan['hand_designed'] if h not in budget['hand_names'].values()]
        if missing:
            lines.append(
                f"- Hand-designed patterns outside this budget's window, not in its table: {', '.join(missing)}."
            )
    lines += ['', '## References', '']
    refs = [
        network_row(results, 'baseline', n['name'], n['name'] if n['recipe'] != SHARED else f'{n["name"]} (shared)')
        for n in nets.values()
        if n.get('kind') == 'baseline'
    ]
    lines += _table(refs) if refs else ['No BasicSR baseline in this evaluation.']
    if refs:
        lines += [
            '',
            "Each baseline is BasicSR's class (or the plugin's DnCNN) trained with the shared recipe and, "
            'where listed, with a recipe suited to it; the budget sections compare the better of the two.',
        ]
    for path, earlier in results['earlier'].items():
        agreement = rank_agreement(earlier, nets)
        if agreement:
            lines += [
                '',
                f'Ranking against the earlier evaluation `{os.path.relpath(path)}`: Kendall tau-b '
                f'{agreement["tau"]:+.2f} (p = {agreement["p"]:.2f}) over the {agreement["count"]} genotypes both '
                'retrained (1: the same order, 0: unrelated).',
            ]
    if results.get('bm3d'):
        lines += [
            '',
            f'BM3D (classic, not learned) on the same noisy test images: {results["bm3d"]["psnr"]:.2f} dB '
            f'PSNR, {results["bm3d"].get("ssim", float("nan")):.4f} SSIM.',
        ]
    elif plan['bm3d']:
        lines += ['', 'BM3D row skipped: the optional package `bm3d` is not installed (`pip install bm3d`).']
    curves = {'searched, random and hand-designed networks': [], 'baselines': []}
    for net in nets.values():
        group = 'baselines' if net.get('kind') == 'baseline' else 'searched, random and hand-designed networks'
        curves[group] += [c for c in net['curves'].values() if c]
    lines += ['', '## Training loss', '']
    lines += [convergence_line(c, what) for what, c in curves.items() if c]
    lines += [
        '',
        '## Plots',
        '',
        f'![PSNR against MACs]({plot_names["psnr"]})',
        '',
        f'![Training loss of every retrain]({plot_names["loss"]})',
        '',
        f'![Validation PSNR of every retrain]({plot_names["val"]})',
        '',
        '## Stage times',
        '',
    ]
    lines += stage_times(results)
    return '\n'.join(lines) + '\n'


def against_random(label: str, kind: str, verdict: Mapping[str, Any], seeds: int, members: int) -> list[str]:
    """The report's lines comparing one search method's genotypes with the random ones."""
    return [
        f'- {label} (mean over its {seeds} seeds): {verdict["search_mean"]:.2f} dB; '
        f'random genotypes of the same cost: {verdict["random_mean"]:.2f} ± {verdict["random_std"]:.2f} dB '
        f'({verdict["random_count"]} genotypes, standard error {verdict["random_se"]:.3f} dB).',
        f'- {label} minus random mean: {verdict["search_mean"] - verdict["random_mean"]:+.3f} dB = '
        f'{verdict["z"]:+.1f} standard errors: ' + verdict_words(verdict, members),
        f'- Rank of each {kind} genotype among the random ones (1 = best): '
        + ', '.join(f'`{g}` {r} of {verdict["random_count"] + 1}' for g, r in verdict['ranks'].items()),
    ]


def verdict_words(verdict: Mapping[str, Any], members: int) -> str:
    """The verdict, given only when every network of the comparison has converged."""
    if verdict['unconverged']:
        return (
            f'**no verdict: {len(verdict["unconverged"])} of the {members} networks compared here are not '
            'converged** (validation gain of 0.05 dB or more over the last 20 % of a run, or no validation curve)'
        )
    if verdict['z'] > 2:
        return '**beats the random mean by more than 2 standard errors**'
    return '**does not beat the random mean by more than 2 standard errors**'


def stage_times(results: Mapping[str, Any]) -> list[str]:
    groups = {}
    for name, seconds in results['times'].items():
        kind = (
            'search'
            if '_search_' in name or '_oneshot_' in name
            else 'BM3D'
            if name.endswith('_reference')
            else 'test'
            if name.endswith('_test')
            else 'retrain'
        )
        groups.setdefault(kind, []).append(seconds)
    lines = ['| stage | runs | mean (s) | total (min) |', '|---|---|---|---|']
    for kind, values in groups.items():
        lines.append(f'| {kind} | {len(values)} | {statistics.fmean(values):.0f} | {sum(values) / 60:.1f} |')
    return lines


def write(results: Mapping[str, Any], prefix: str) -> list[str]:
    """Writes PREFIX.md, PREFIX.csv and the plots PREFIX_psnr_macs.png, _loss.png and _val.png; returns the paths."""
    os.makedirs(os.path.dirname(prefix) or '.', exist_ok=True)
    base = os.path.basename(prefix)
    plots = {'psnr': f'{base}_psnr_macs.png', 'loss': f'{base}_loss.png', 'val': f'{base}_val.png'}
    plot_psnr_macs(results, f'{prefix}_psnr_macs.png')
    plot_losses(results, f'{prefix}_loss.png')
    plot_val_curves(results, f'{prefix}_val.png')
    with open(f'{prefix}.md', 'w', encoding='utf-8') as f:
        f.write(markdown(results, plots))
    with open(f'{prefix}.csv', 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerows(csv_rows(results))
    return [f'{prefix}.md', f'{prefix}.csv', *(prefix + name[len(base) :] for name in plots.values())]


CSV_HEADER = ['network', 'kind', 'budget', 'seed', 'iterations', 'psnr', 'ssim', 'gain_last20_db', 'converged',
              'macs', 'params', 'cpu_ms_per_mp']  # fmt: skip


def csv_rows(results: Mapping[str, Any]) -> list[list[Any]]:
    """One row per network, seed and budget it competes in (baselines and the whole space: no budget)."""
    from clearer_basicsr.convergence import is_converged

    rows = [CSV_HEADER]
    for name, net in results['networks'].items():
        places = [(b['budget'], kind) for b in results['budgets'] for kind, g in b['members'] if g == name]
        for budget, kind in places or [('', net.get('kind') or 'space')]:
            for seed, run in net['runs'].items():
                gain = run.get('gain_last20_db', math.nan)
                rows.append(
                    [name, kind, budget, seed, run.get('iterations', ''), run['psnr'], run['ssim'],
                     '' if math.isnan(gain) else round(gain, 4), is_converged(gain),
                     net['macs'], net['params'], net['ms_per_mp']]
                )  # fmt: skip
    return rows


def plot_psnr_macs(results: Mapping[str, Any], path: str) -> None:
    from clearer_basicsr.plots import pyplot, save_figure

    plt = pyplot()
    nets = results['networks']
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    size = results['plan']['latency_size']

    def points(names: Sequence[str], **style: Any) -> None:
        names = list(dict.fromkeys(names))
        if names:
            xs = [nets[n]['macs'] / 1e9 for n in names]
            ys, es = zip(*(score(nets[n]) for n in names))
            ax.errorbar(xs, ys, yerr=es, linestyle='none', capsize=2, **style)

    points(results['space_genotypes'], marker='.', color='0.75', label='whole space (1 seed)')
    for budget in results['budgets']:
        lo, hi = (m * (size / results['patch_size']) ** 2 / 1e9 for m in budget['window_macs'])
        ax.axvspan(lo, hi, color='0.93', zorder=0)
    members = [m for b in results['budgets'] for m in b['members']]
    points([n for k, n in members if k == 'random'], marker='o', color='0.45', markersize=4, label='random, same cost')
    points([n for k, n in members if k == 'hand-designed'], marker='s', color='tab:blue', label='hand-designed')
    points([n for k, n in members if k == 'most parameters'], marker='D', color='tab:brown', label='most parameters')
    points([n for k, n in members if k == 'searched'], marker='*', color='tab:red', markersize=11, label='searched')
    points([n for k, n in members if k == 'one-shot'], marker='P', color='tab:orange', markersize=9, label='one-shot')
    points(
        [n for n, v in nets.items() if v.get('kind') == 'baseline'],
        marker='^',
        color='tab:green',
        label='BasicSR baseline',
    )
    if results.get('bm3d'):
        ax.axhline(results['bm3d']['psnr'], color='tab:purple', linestyle='--', label='BM3D')
    ax.set_xlabel(f'GMACs ({size}x{size} input)')
    ax.set_ylabel(f'PSNR (dB), {results["test_set"]}')
    ax.set_title('Searched against random genotypes of the same cost (grey bands: budget windows)', fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=110)


COLOURS = {
    'searched': 'tab:red',
    'one-shot': 'tab:orange',
    'random': '0.6',
    'hand-designed': 'tab:blue',
    'most parameters': 'tab:brown',
    'baseline': 'tab:green',
}


def plot_curves(results: Mapping[str, Any], ax: Any, curves: str) -> None:
    """Every run's ``curves`` ('curves': training loss, 'val_curves': validation PSNR), coloured by kind."""
    kinds = {name: kind for b in results['budgets'] for kind, name in b['members']}
    seen = set()
    for name, net in results['networks'].items():
        kind = net.get('kind') or kinds.get(name, 'random')
        for curve in net.get(curves, {}).values():
            if curve:
                its, values = zip(*curve)
                ax.plot(
                    its,
                    values,
                    color=COLOURS.get(kind, '0.6'),
                    alpha=0.6,
                    linewidth=0.8,
                    label=None if kind in seen else kind,
                )
                seen.add(kind)
    ax.set_xlabel('iteration')
    ax.legend(fontsize=8)


def plot_losses(results: Mapping[str, Any], path: str) -> None:
    from clearer_basicsr.plots import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7.5, 4.2))
    plot_curves(results, ax, 'curves')
    ax.set_yscale('log')
    ax.set_ylabel('training loss (log scale)')
    ax.set_title('Retrain losses (convergence is read from the validation curves)', fontsize=9)
    save_figure(fig, path, dpi=110)


def plot_val_curves(results: Mapping[str, Any], path: str) -> None:
    from clearer_basicsr.plots import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7.5, 4.2))
    plot_curves(results, ax, 'val_curves')
    ax.set_ylabel('validation PSNR (dB), held-apart split')
    ax.set_title('Validation curves: converged = under 0.05 dB gained over the last 20 % of iterations', fontsize=9)
    save_figure(fig, path, dpi=110)


def summary(results: Mapping[str, Any]) -> str:
    lines = [f'evaluation {results["plan"]["name"]}: results/{results["plan"]["name"]}/evaluation.md']
    for budget in results['budgets']:
        for label, _, _, v in verdicts(results, budget):
            lines.append(
                f'  budget {budget["budget"]:g}: {label.lower()} {v["search_mean"]:.2f} dB, '
                f'random {v["random_mean"]:.2f} ± {v["random_se"]:.3f} (SE) -> {v["z"]:+.1f} SE'
                + (f'; BM3D gap {v["bm3d_gap"]:+.2f} dB' if results.get('bm3d') else '')
                + (f'; {len(v["unconverged"])} networks unconverged: no verdict' if v['unconverged'] else '')
            )
    return '\n'.join(lines)
