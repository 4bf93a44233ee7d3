"""Makes a model-zoo entry (zoo/<entry>/) from a search and a retrain of its genotype.

    python scripts/make_zoo_entry.py --search experiments/S --retrain experiments/R \
        --test lab/photos/test.yml --out zoo/clearer_gray_s30 \
        --note "medium-scale evaluation, budget 0.75, search seed 0, retrain seed 0"

Writes into --out: genotype.yml (the search's, with its decisions and budget), genotype.png,
net_g.pth (the retrained weights only, as {'params': ...}), test.yml: the --test option file
with network_g reading that genotype.yml, path: pretrain_network_g that net_g.pth (paths relative
to the current directory: run it from the repository root), and the entry's name; and card.yml,
the figures clearer-zoo list and the README show: the genotype, parameters, MACs at 256x256 and
iterations measured here, the test scores read from --results (clearer-test's results folder of
test.yml) and --bm3d (clearer_basicsr.tools.bm3d_reference's, same images).
"""

import argparse
import glob
import json
import os
import re
import shutil
import sys

import yaml

MAIN_SIGMA = 25  # the noise level a blind entry's card reports first, as the field's tables do
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--search', required=True, help='the search experiment folder (holds genotype.yml)')
    parser.add_argument('--retrain', required=True, help='the retrain experiment folder (models/net_g_latest.pth)')
    parser.add_argument('--test', required=True, help='a test option file of the derived network, as a template')
    parser.add_argument('--out', required=True, help='the entry folder, e.g. zoo/clearer_gray_s30')
    parser.add_argument('--note', default='', help='where the entry comes from, written into test.yml')
    parser.add_argument(
        '--budget', type=float, help="the search's budget, for the card (default: the one its genotype.yml reports)"
    )
    parser.add_argument(
        '--checkpoint',
        type=int,
        help='the iteration of the weights chosen on the held-apart curve (default: the last, net_g_latest.pth)',
    )
    parser.add_argument('--results', help="clearer-test's results folder of the entry (its metrics.json)")
    parser.add_argument('--bm3d', help="bm3d_reference's results folder on the same test set")
    args = parser.parse_args(argv)

    import torch
    from basicsr.archs import build_network

    from clearer_basicsr.checkpoint import saved_weights
    from clearer_basicsr.option_file import read_option_file
    from clearer_basicsr.plots import draw_genotype
    from clearer_basicsr.search_result import FILE, SearchResult

    found = os.path.join(args.search, FILE)
    weights = os.path.join(args.retrain, 'models', f'net_g_{args.checkpoint or "latest"}.pth')
    for path in (found, weights):
        if not os.path.isfile(path):
            raise UserInputError(f'{path}: no such file')
    test = read_option_file(args.test)
    searched = SearchResult.load(found)
    genotype = searched.genotype
    if args.budget is None:  # the budget the search reported (models/budget.py: Budget.report)
        args.budget = (searched.budget or {}).get('target_fraction')
        if args.budget is None:
            raise UserInputError(f'{found}: reports no budget (the search had none); give --budget')
    # the template's network with the searched genotype: the weights must fit it (read as data,
    # 'module.' prefixes stripped) before anything is written
    net = build_network({**test['network_g'], 'genotype': genotype.to_dict()})
    params = saved_weights(net, weights, param_key=test['path'].get('param_key_g', 'params'))  # what was tested

    os.makedirs(args.out, exist_ok=True)
    shutil.copyfile(found, os.path.join(args.out, FILE))
    draw_genotype(genotype, os.path.join(args.out, 'genotype.png'))
    torch.save({'params': params}, os.path.join(args.out, 'net_g.pth'))
    entry = os.path.relpath(args.out).replace(os.sep, '/')  # from where the commands run
    test['name'] = os.path.basename(os.path.normpath(args.out))
    test['network_g']['genotype'] = f'{entry}/genotype.yml'
    test['path'].update(pretrain_network_g=f'{entry}/net_g.pth', param_key_g='params', strict_load_g=True)
    header = (
        f'# Model zoo entry {test["name"]}: the searched genotype {genotype} and its retrained weights.\n'
        + (f'# From: {args.note}.\n' if args.note else '')
        + f'#   python -m clearer_basicsr.test -opt {entry}/test.yml     (from the repository root; the\n'
        + '#   test set: docs/benchmarks.md or docs/evaluation.md says which command makes it)\n'
        + f'#   clearer-infer --zoo {test["name"]} --input IMAGES --output OUT     (from any folder)\n'
    )
    with open(os.path.join(args.out, 'test.yml'), 'w', encoding='utf-8') as f:
        f.write(header)
        yaml.safe_dump(test, f, sort_keys=False, default_flow_style=None)
    card = card_figures(args, test, net, genotype)
    with open(os.path.join(args.out, 'card.yml'), 'w', encoding='utf-8') as f:
        f.write('# The figures of this entry, shown by clearer-zoo list and the README (read as data).\n')
        yaml.safe_dump(card, f, sort_keys=False)
    print(f'wrote {args.out}: genotype.yml, genotype.png, net_g.pth, test.yml, card.yml ({genotype})')


def card_figures(args, test, net, genotype):
    """card.yml's content: what the network is, and its scores against BM3D where given."""
    from clearer_basicsr.archs.complexity import candidate_costs, derived_cost
    from clearer_basicsr.option_file import read_option_file

    cost = derived_cost(candidate_costs(net, 256), genotype)
    copies = sorted(glob.glob(os.path.join(args.retrain, '*.yml')))  # BasicSR's copy of the option file
    train = next((opt for opt in map(read_option_file, copies) if 'total_iter' in opt.get('train', {})), None)
    if train is None:
        raise UserInputError(f'{args.retrain}: holds no copy of its training option file (train: total_iter)')
    datasets = list(test['datasets'].values())
    # a blind entry is tested at several noise levels: its card's main figures are those at sigma 25
    dataset = next((d for d in datasets if d.get('sigma') == MAIN_SIGMA), datasets[0])
    blind = train['datasets']['train'].get('sigma_range')
    channels = int(test['network_g'].get('in_channels', 3))
    card = {
        'channels': channels,
        **({'sigma_range': blind} if blind else {'sigma': dataset['sigma']}),
        'genotype': str(genotype),
        'budget': args.budget,
        'params': cost['params'],
        'gmacs_256': round(cost['macs'] / 1e9, 3),
        'iterations': args.checkpoint or train['train']['total_iter'],
        'test_set': f'{re.sub(r"_s[0-9]+$", "", dataset["name"])}, {"gray" if channels == 1 else "colour"}, '
        f'sigma {dataset.get("sigma")}' + (f' (blind, trained on {blind[0]} to {blind[1]})' if blind else ''),
    }
    by_sigma = {d['sigma']: {} for d in datasets} if len(datasets) > 1 else {}
    for key, folder in (('', args.results), ('bm3d_', args.bm3d)):
        if folder:
            with open(os.path.join(folder, 'metrics.json'), encoding='utf-8') as f:
                scores = json.load(f)['datasets']  # the entry's test sets among the file's
            card[f'{key}psnr'] = round(scores[dataset['name']]['average']['psnr'], 2)
            card[f'{key}ssim'] = round(scores[dataset['name']]['average']['ssim'], 4)
            for d in datasets if by_sigma else ():
                by_sigma[d['sigma']][f'{key}psnr'] = round(scores[d['name']]['average']['psnr'], 2)
    if by_sigma:
        card['by_sigma'] = by_sigma
    return card


if __name__ == '__main__':
    run(main)
