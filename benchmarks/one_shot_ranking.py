"""How well do cheap scores rank genotypes the way their stand-alone retrains do? (docs/search.md)

For every CLEARER genotype an evaluation retrained (its test PSNR, mean over seeds), Kendall's tau
between that PSNR and
  - the one-shot PSNR (one-shot searches' genotype.yml files, each listing the whole window, e.g.
    ranking: 256; with several searches, the mean over them, and each search's own tau);
  - the DARTS searches' belief: the probability the softmax column weights give the genotype
    (the product over columns of its candidate's weight), as a log, averaged over the searches;
  - the parameter count (a zero-cost proxy).

With ``--rescore``, each one-shot search (run from the folder holding its experiments/ and
datasets/) scores every retrained genotype afresh with its supernet's last weights, as its selection
scored the window (the same fixed batches, BatchNorm recalibrated per genotype): a window larger
than the selection's cap (the macro space's) then ranks the retrained genotypes too. The DARTS
searches are optional (the macro space has none).

    python benchmarks/one_shot_ranking.py \
        --one-shot lab/photos/records/experiments/eval_photos_10k_oneshot_b75_s*/genotype.yml \
        --darts lab/photos/records/experiments/eval_photos_10k_search_b75_s*/genotype.yml \
        --records lab/photos/records --prefix eval_photos_10k --json benchmarks/results/one_shot_ranking.json
"""

import argparse
import glob
import json
import math
import os
from collections import defaultdict

from scipy.stats import kendalltau

from clearer_basicsr.archs.arch_util import count_parameters
from clearer_basicsr.archs.clearer_arch import CLEARERNet
from clearer_basicsr.archs.genotype import CANDIDATES, Genotype
from clearer_basicsr.search_result import SearchResult, resolve_genotype_files


def retrained(records, prefix):
    """{genotype string: [test PSNR per seed]} of the CLEARER retrains an evaluation kept, the
    network options of one of them (for the parameter count) and {genotype: [converged per seed]}
    (from the training run's metrics.json)."""
    psnr, nets, converged = defaultdict(list), {}, defaultdict(list)
    for path in sorted(glob.glob(os.path.join(records, 'results', f'{prefix}_*_test', 'metrics.json'))):
        with open(path) as f:
            metrics = json.load(f)
        net = metrics.get('network_g') or {}
        if net.get('type') != 'CLEARERNet':
            continue  # a baseline
        genotype = str(Genotype.from_any(net['genotype']))
        (dataset,) = metrics['datasets'].values()
        psnr[genotype].append(dataset['average']['psnr'])
        nets[genotype] = net
        run = os.path.basename(os.path.dirname(path))[: -len('_test')]
        with open(os.path.join(records, 'experiments', run, 'metrics.json')) as f:
            converged[genotype].append(bool(json.load(f).get('convergence', {}).get('converged')))
    return psnr, nets, converged


def darts_log_belief(results, genotype):
    """Mean over the searches of log P(genotype) under their column weights."""
    indices = Genotype.parse(genotype).indices
    logs = []
    for result in results:
        weights = [[row[c] for c in CANDIDATES] for row in result.column_weights]
        logs.append(sum(math.log(max(w[i], 1e-12)) for w, i in zip(weights, indices)))
    return sum(logs) / len(logs)


def rescored(folder, genotypes):
    """{genotype: one-shot PSNR} of ``genotypes`` under the supernet of the one-shot search in ``folder``."""
    import glob as _glob

    import torch

    from clearer_basicsr.archs.clearer_arch import CLEARERSearchNet
    from clearer_basicsr.checkpoint import saved_weights
    from clearer_basicsr.models.budget import Budget
    from clearer_basicsr.models.macro_budget import MacroBudget
    from clearer_basicsr.models.one_shot import PathScorer, selection_batches
    from clearer_basicsr.models.search_options import ONE_SHOT_DEFAULTS
    from clearer_basicsr.option_file import read_option_file

    (option_file,) = [p for p in _glob.glob(os.path.join(folder, '*.yml')) if not p.endswith('genotype.yml')]
    opt = read_option_file(option_file)
    net = CLEARERSearchNet(**{k: v for k, v in opt['network_g'].items() if k != 'type'})
    net.load_state_dict(saved_weights(net, os.path.join(folder, 'models', 'net_g_latest.pth')))
    space = (MacroBudget if net.macro else Budget).measure(net, int(opt['datasets']['train']['gt_size']))
    settings = {**ONE_SHOT_DEFAULTS, **(opt['train'].get('one_shot') or {})}
    for phase in ('train',):  # BasicSR's parse_options fills these in; the datasets need them
        opt['datasets'][phase].setdefault('phase', phase)
    torch.set_num_threads(1)
    calibration, scoring = selection_batches(opt, settings, int(opt.get('manual_seed') or 0), lambda x: x)
    scorer = PathScorer(net, calibration, scoring)
    return {g: round(scorer(space.row(Genotype.parse(g))), 4) for g in genotypes}


def params_of(net_opt):
    net_opt = resolve_genotype_files({'network_g': dict(net_opt)})['network_g']
    return count_parameters(CLEARERNet(**{k: v for k, v in net_opt.items() if k != 'type'}))


def mean_scored(per_search, genotype):
    """The mean one-shot PSNR over the searches that scored the genotype (None: none did)."""
    values = [scored[genotype] for scored in per_search if genotype in scored]
    return round(sum(values) / len(values), 4) if values else None


def tau_against(rows, score):
    """Kendall's tau-b of score(row) against the stand-alone PSNR, over the rows it scores."""
    pairs = [(r['standalone_psnr'], score(r)) for r in rows if score(r) is not None]
    tau, p = kendalltau([a for a, _ in pairs], [b for _, b in pairs])
    return {'tau': round(float(tau), 3), 'p': round(float(p), 3), 'genotypes': len(pairs)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--one-shot', nargs='+', required=True, help="one-shot searches' genotype.yml files")
    parser.add_argument('--darts', nargs='*', default=[], help="DARTS searches' genotype.yml files")
    parser.add_argument(
        '--rescore', action='store_true', help='score the retrained genotypes with each one-shot supernet'
    )
    parser.add_argument('--records', required=True, help='the evaluation records folder (results/<run>_test/)')
    parser.add_argument('--prefix', required=True, help="the evaluation's name")
    parser.add_argument('--json', help='write the figures here')
    args = parser.parse_args()

    psnr, nets, converged = retrained(args.records, args.prefix)
    one_shots = [SearchResult.load(p) for p in args.one_shot]
    if args.rescore:
        per_search = [rescored(os.path.dirname(p), list(psnr)) for p in args.one_shot]
    else:
        per_search = [{r['genotype']: r['psnr'] for r in result.ranking} for result in one_shots]
    darts = [SearchResult.load(p) for p in args.darts]
    rows = []
    for genotype, values in sorted(psnr.items(), key=lambda kv: -sum(kv[1]) / len(kv[1])):
        rows.append(
            {
                'genotype': genotype,
                'seeds': len(values),
                'converged_seeds': sum(converged[genotype]),
                'standalone_psnr': round(sum(values) / len(values), 4),
                'one_shot_psnr': mean_scored(per_search, genotype),
                'darts_log_belief': round(darts_log_belief(darts, genotype), 4) if darts else None,
                'params': params_of(nets[genotype]),
            }
        )
    taus = {
        score: tau_against(rows, lambda r, s=score: r[s]) for score in ('one_shot_psnr', 'darts_log_belief', 'params')
    }
    for i, scored in enumerate(per_search if len(per_search) > 1 else []):
        taus[f'one_shot_psnr of {args.one_shot[i]}'] = tau_against(rows, lambda r, s=scored: s.get(r['genotype']))
    settled = [r for r in rows if r['converged_seeds'] == r['seeds']]
    for score in ('one_shot_psnr', 'darts_log_belief', 'params'):
        taus[f'{score}, converged genotypes only'] = tau_against(settled, lambda r, s=score: r[s])

    print('| genotype | seeds (converged) | stand-alone test PSNR | one-shot PSNR | DARTS log belief | params |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        one = f'{r["one_shot_psnr"]:.3f}' if r['one_shot_psnr'] is not None else 'not in window'
        print(
            f'| `{r["genotype"]}` | {r["seeds"]} ({r["converged_seeds"]}) | {r["standalone_psnr"]:.3f} | {one} | '
            f'{r["darts_log_belief"]:.2f} | {r["params"]:,} |'
        )
    print()
    for score, t in taus.items():
        against = f'{t["tau"]:+.3f} (p = {t["p"]:.3f}, {t["genotypes"]} genotypes)'
        print(f'Kendall tau, {score} against stand-alone PSNR: {against}')
    summaries = [{'genotype': str(result.genotype), **(result.selection or {})} for result in one_shots]
    for path, summary in zip(args.one_shot, summaries):
        print(
            f'one-shot selection ({path}): {summary.get("scored")} of {summary.get("in_window")} genotypes scored, '
            f'{summary.get("seconds_per_genotype")} s each; chose {summary["genotype"]}'
        )
    if args.json:
        os.makedirs(os.path.dirname(args.json) or '.', exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump({'rows': rows, 'kendall_tau': taus, 'one_shot': summaries}, f, indent=1)


if __name__ == '__main__':
    main()
