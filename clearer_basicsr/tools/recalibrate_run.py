"""A finished training run validated again with recalibrated BatchNorm statistics:
``python -m clearer_basicsr.tools.recalibrate_run experiments/NAME [--batches 200]``.

Training does not depend on the running statistics (its steps use batch statistics), so a run
trained without ``val: recalibrate_bn`` has the weights of one trained with it. This gives the
run what that option would have: every checkpoint in ``models/`` is recalibrated on the same train
batches (:mod:`clearer_basicsr.bn_recalibration`, seeded by the run's ``manual_seed``) and
validated on the run's validation sets. Nothing of the run is changed; it writes
``NAME/bn_recalibrated/``: ``val_log.jsonl`` (the curve), ``metrics.json`` (its convergence) and
``models/net_g_latest.pth`` (the last weights with their statistics), which a test file loads.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
from typing import Any

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.tools.cli import doc_parser

OUT = 'bn_recalibrated'


def checkpoints(folder: str, total_iter: int) -> list[tuple[int, str]]:
    """``[(iteration, path)]`` of the run's network checkpoints; ``latest`` counts as ``total_iter``
    where no numbered one holds that iteration."""
    found = {}
    for path in glob.glob(os.path.join(folder, 'models', 'net_g_*.pth')):
        match = re.fullmatch(r'net_g_(\d+|latest)\.pth', os.path.basename(path))
        if match and match.group(1) != 'latest':
            found[int(match.group(1))] = path
    latest = os.path.join(folder, 'models', 'net_g_latest.pth')
    if os.path.isfile(latest):
        found.setdefault(total_iter, latest)
    return sorted(found.items())


def validate(net: Any, datasets: list[Any], val: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The averages of ``val: metrics`` on each dataset, as the model's validation computes them."""
    from clearer_basicsr.inference import mean_scores, restore_whole, score_images

    def restore(item: dict[str, Any]) -> Any:
        return restore_whole(net, item['lq'][None], int(val.get('pad_multiple') or 1), bool(val.get('self_ensemble')))

    results = {}
    net.eval()
    for dataset in datasets:
        results[dataset.opt['name']] = mean_scores(score_images(dataset, restore, val['metrics']), val['metrics'])
    return results


def main(argv: list[str] | None = None) -> str:
    """Writes ``<run>/bn_recalibrated/``; returns that folder."""
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.tools.recalibrate_run')
    parser.add_argument('run', help='a training run folder (experiments/NAME, with its option file and models/)')
    parser.add_argument('--batches', type=int, default=200, help='train batches to average over (default 200)')
    args = parser.parse_args(argv)
    from basicsr.archs import build_network
    from basicsr.data import build_dataset

    import clearer_basicsr  # noqa: F401  (registers the archs and datasets)
    from clearer_basicsr.bn_recalibration import calibration_batches, recalibrate_batchnorm
    from clearer_basicsr.checkpoint import atomic_torch_save, saved_weights
    from clearer_basicsr.convergence import convergence
    from clearer_basicsr.files import atomic_write
    from clearer_basicsr.option_file import read_option_file
    from clearer_basicsr.search_result import resolve_genotype_files

    name = os.path.basename(os.path.normpath(args.run))
    option_file = os.path.join(args.run, f'{name}.yml')
    if not os.path.isfile(option_file):
        raise UserInputError(f'{option_file}: no such file; expected a training run folder (experiments/NAME)')
    if args.batches < 1:
        raise UserInputError(f'--batches {args.batches}: expected a positive number of batches')
    opt = read_option_file(option_file)
    val, total_iter = opt.get('val') or {}, int(opt['train']['total_iter'])
    if 'psnr' not in (val.get('metrics') or {}):
        raise UserInputError(f'{option_file}: val: metrics has no psnr, the metric convergence is read from')
    found = checkpoints(args.run, total_iter)
    if not found:
        raise UserInputError(f'{args.run}/models: no net_g_*.pth to recalibrate')
    train_set = opt['datasets']['train']
    batches = calibration_batches(
        build_dataset(dict(train_set, phase='train')),
        args.batches,
        train_set['batch_size_per_gpu'],
        opt.get('manual_seed') or 0,
    )
    val_sets = [build_dataset(dict(d, phase='val')) for k, d in opt['datasets'].items() if k.startswith('val')]
    out = os.path.join(args.run, OUT)
    os.makedirs(os.path.join(out, 'models'), exist_ok=True)
    curve, lines = [], []
    for iteration, path in found:
        net = build_network(resolve_genotype_files(copy.deepcopy({'network_g': opt['network_g']}))['network_g'])
        net.load_state_dict(saved_weights(net, path))
        recalibrate_batchnorm(net, batches)
        results = validate(net, val_sets, val)
        lines.append(json.dumps({'iter': iteration, 'datasets': results}))
        curve.append((iteration, next(iter(results.values()))['psnr']))
        print(
            f'{name}: iteration {iteration}: '
            + ', '.join(f'{k} {v:.4f}' for k, v in next(iter(results.values())).items())
        )
    atomic_torch_save(
        {'params': {k: v.cpu() for k, v in net.state_dict().items()}}, os.path.join(out, 'models', 'net_g_latest.pth')
    )
    with atomic_write(os.path.join(out, 'val_log.jsonl')) as f:
        f.write('\n'.join(lines) + '\n')
    report = {'name': name, 'recalibrate_bn': args.batches, 'convergence': convergence(curve, total_iter)}
    with atomic_write(os.path.join(out, 'metrics.json')) as f:
        json.dump(report, f, indent=1)
    return out


if __name__ == '__main__':
    from _clearer_basicsr_cli import run

    run(main)
