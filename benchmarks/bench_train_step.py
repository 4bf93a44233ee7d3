"""What does the plugin's training step cost over a bare PyTorch step of the same network?

    python benchmarks/bench_train_step.py [-opt lab/photos/train.yml]
        [--genotype "P P F P | F F P P"] [--steps 20] [--rounds 10] [--json out.json] [--device cuda]

Builds the run of a training option file as ``clearer-train`` does (its loader, its model), then
times, interleaved in blocks of ``--steps`` iterations over ``--rounds`` rounds:

* the plugin's iteration, as the training loop runs it: the next batch from BasicSR's
  prefetcher, the learning-rate update, ``feed_data`` and ``optimize_parameters``, and the loop's
  own per-iteration calls (the losses' log every ``print_freq``);
* a bare PyTorch iteration: a copy of the same network (same memory format), the same optimiser
  class and settings, a plain ``DataLoader`` over the same dataset and batch size, forward, MSE,
  backward, gradient clipping, step.

Both include their data loading. Prints the median seconds per iteration of each and their ratio
(``overhead_ratio``: plugin / bare); ``--json`` also writes them. One thread unless
``--threads``; run it on an idle machine.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402


def plugin_iterations(model, prefetcher, opt):
    """A generator: each ``next`` runs one iteration as ``clearer_basicsr.train`` does."""
    current_iter, print_freq = 0, opt['logger']['print_freq']
    warmup_iter = opt['train'].get('warmup_iter', -1)
    prefetcher.reset()
    while True:
        data = prefetcher.next()
        if data is None:
            prefetcher.reset()
            data = prefetcher.next()
        current_iter += 1
        model.update_learning_rate(current_iter, warmup_iter=warmup_iter)
        model.feed_data(data)
        model.optimize_parameters(current_iter)
        if hasattr(model, 'keep_finite_state'):
            model.keep_finite_state(current_iter)
        if current_iter % print_freq == 0:
            model.get_current_log()
        yield


def bare_iterations(model, dataset, opt):
    """A generator: each ``next`` runs one plain PyTorch iteration of a copy of the model's network."""
    import torch
    import torch.nn.functional as F

    net = copy.deepcopy(model.get_bare_model(model.net_g)).train()
    device = next(net.parameters()).device
    memory_format = torch.channels_last if getattr(model, 'channels_last', False) else torch.contiguous_format
    optim_opt = dict(opt['train']['optim_g'])
    optimizer = getattr(torch.optim, optim_opt.pop('type'))(net.parameters(), **optim_opt)
    grad_clip = opt['train'].get('grad_clip') or 0
    batch = opt['datasets']['train']['batch_size_per_gpu']
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=0, drop_last=True)
    params = list(net.parameters())
    while True:
        for data in loader:
            lq = data['lq'].to(device).contiguous(memory_format=memory_format)
            gt = data['gt'].to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(net(lq), gt)
            loss.backward()
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            yield


def time_block(iterations, steps, sync):
    start = time.perf_counter()
    for _ in range(steps):
        next(iterations)
    sync()
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-opt', default=os.path.join(ROOT, 'lab', 'photos', 'train.yml'))
    parser.add_argument('--genotype', default='P P F P | F F P P', help='network_g: genotype (CLEARERNet files)')
    parser.add_argument('--steps', type=int, default=20, help='iterations per timed block')
    parser.add_argument('--rounds', type=int, default=10, help='timed blocks of each, interleaved')
    parser.add_argument('--warmup', type=int, default=10, help='untimed iterations of each first')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--json', help='also write the figures to this file')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto', help='auto: as num_gpu: auto')
    args = parser.parse_args(argv)
    if min(args.steps, args.rounds, args.threads) < 1 or args.warmup < 0:
        raise UserInputError('--steps, --rounds and --threads must be at least 1, --warmup at least 0')
    if not os.path.isfile(args.opt):
        raise UserInputError(f'-opt {args.opt}: no such option file')

    import torch
    from basicsr.data.prefetch_dataloader import CPUPrefetcher
    from basicsr.utils import get_root_logger

    import clearer_basicsr  # noqa: F401  (registers the plugin)
    from _clearer_basicsr_cli import train_parser
    from clearer_basicsr.option_file import parse_and_check
    from clearer_basicsr.train import build_run

    torch.set_num_threads(args.threads)
    force = ['name=bench_train_step', 'logger:use_tb_logger=false']
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise UserInputError('--device cuda: no CUDA device here')
    if args.device != 'auto':
        force.append(f'num_gpu={int(args.device == "cuda")}')
    if args.genotype:
        force.append(f'network_g:genotype={args.genotype}')
    with tempfile.TemporaryDirectory() as root:  # nothing written next to the user's runs
        opt = parse_and_check(train_parser().parse_args(['-opt', args.opt, '--force_yml', *force]), root, is_train=True)
        built = build_run(opt, None, get_root_logger())
    model, loader = built.model, built.train_loader
    sync = torch.cuda.synchronize if model.device.type == 'cuda' else (lambda: None)
    runs = {
        'plugin': plugin_iterations(model, CPUPrefetcher(loader), opt),
        'bare': bare_iterations(model, loader.dataset, opt),
    }
    for iterations in runs.values():
        for _ in range(args.warmup):
            next(iterations)
    times = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, iterations in runs.items():
            times[name].append(time_block(iterations, args.steps, sync))
    result = {name: statistics.median(t) for name, t in times.items()}
    result.update(
        overhead_ratio=result['plugin'] / result['bare'],
        option_file=os.path.relpath(args.opt),
        network=opt['network_g'].get('type'),
        genotype=args.genotype,
        steps=args.steps,
        rounds=args.rounds,
        threads=args.threads,
        device=str(model.device),
        torch=torch.__version__,
        python=platform.python_version(),
    )
    print(
        f'{result["network"]} {args.genotype}, batch {opt["datasets"]["train"]["batch_size_per_gpu"]} at '
        f'{opt["datasets"]["train"]["gt_size"]} px, {args.threads} thread(s), {result["device"]}: '
        f'plugin {result["plugin"]:.4f} s/iter, bare {result["bare"]:.4f} s/iter (medians of {args.rounds} blocks '
        f'of {args.steps}), overhead ratio {result["overhead_ratio"]:.3f}'
    )
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    run(main)
