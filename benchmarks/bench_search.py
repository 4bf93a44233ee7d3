"""Speed and memory of one CLEARER search iteration (logit step + weight step), mode by mode.

One iteration is ``CLEARERSearchModel.optimize_parameters`` after the logit warm-up, the real
code path of a search: the logit step on an arch batch, then the weight step on the train batch.
The model is built from ``options/search_clearer_denoise.yml`` (the paper preset: supernet of
12.6M weights, SGD for the weights, Adam for the logits, grad clip 5) with ``--batch`` x 1 x
``--size`` x ``--size`` batches (default 8 x 64 x 64 grayscale). Data loading is not measured:
both batches are fixed in-memory tensors (the arch split comes from a stub loader).

Modes (each one option changed from ``exact``):

* ``exact``          first-order logit gradient, fp32 (the paper; the reference for the ratios);
* ``gumbel``         ``train: arch_sampling: gumbel``: one sampled module per column (GDAS);
* ``bf16``           ``train: amp: bf16`` (autocast; on the CPU it pays only with native bf16 units.
  Without them, e.g. AVX2 only, it is emulated, ~25x slower than fp32: skipped by default,
  one iteration without warm-up when named in ``--modes``);
* ``fp16``           ``train: amp: fp16`` with grad scaling (CUDA only);
* ``channels_last``  ``channels_last: true`` (network and inputs);
* ``checkpoint``     ``network_g: checkpoint_columns: true`` (columns recomputed in backward);
* ``second_order``   ``train: arch_update: second_order`` (DARTS' unrolled step; not run by
  default, it costs more than two exact iterations: ``--modes exact second_order``).

Every mode runs in its own Python process. Time: median over ``--repeats`` iterations after
``--warmup`` untimed ones. Work: the floating-point operations of one more iteration, counted by
``torch.utils.flop_counter`` (convolutions and matrix products, forward and backward, 2 per
multiply-add), divided by that time gives the achieved GFLOP/s, printed beside the machine's
measured GEMM peak (the best ``torch.mm`` of square matrices in fp32 and bf16, fp16 on CUDA, with
the same threads) as a share of the peak of the mode's precision.

The paper options leave ``channels_last`` to the model's default (on for CLEARER nets on the
CPU); the modes set it explicitly: off everywhere but in ``channels_last``.

Peak memory is the memory an iteration needs on top of the resting footprint of model +
optimiser states, measured after the warm-up iterations (so the lazily created optimiser states
are part of the rest) with the gradients freed: on CUDA ``max_memory_allocated`` minus
``memory_allocated`` at rest; on the CPU the peak resident set size (``VmHWM``, reset through
``/proc/self/clear_refs``, Linux) minus the resident set size at rest, after returning freed
heap pages to the OS (``malloc_trim``; ``cpu_memory.py``). It covers activations, gradients and
allocator caches. Without ``clear_refs`` it falls back to ``ru_maxrss``.

At the end it runs the derived-net inference figures of ``bench_archs.py`` (``--no-derived``
skips them). Results: a table on stdout, JSON in ``benchmarks/results/bench_search.json``.

    python benchmarks/bench_search.py [--threads 1] [--repeats 3] [--modes exact gumbel ...] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))
import bench_archs  # noqa: E402  (the derived-net inference figures printed at the end)
from cpu_memory import CpuPeak  # noqa: E402

from _clearer_basicsr_cli import run  # noqa: E402  (bench_archs put the checkout on sys.path)

PAPER_OPTIONS = ROOT / 'options' / 'search_clearer_denoise.yml'
MODES = {
    'exact': ('first-order, fp32', {}),
    'gumbel': ('single path, Gumbel', {'train': {'arch_sampling': 'gumbel'}}),
    'bf16': ('autocast bf16', {'train': {'amp': 'bf16'}}),
    'fp16': ('autocast fp16 + scaler', {'train': {'amp': 'fp16'}}),
    'channels_last': ('channels-last', {'channels_last': True}),
    'checkpoint': ('checkpointed columns', {'network_g': {'checkpoint_columns': True}}),
    'second_order': ('second-order (DARTS)', {'train': {'arch_update': 'second_order'}}),
}
DEFAULT_MODES = ['exact', 'gumbel', 'bf16', 'fp16', 'channels_last', 'checkpoint']
CUDA_ONLY = {'fp16'}


def merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def search_options(task: dict, data_root: str) -> dict:
    """The paper preset's search options, completed as BasicSR's parser would, for one mode.

    The data folders hold one image each, only for the option check: the model is fed
    in-memory batches."""
    from PIL import Image

    with open(PAPER_OPTIONS) as f:
        opt = yaml.safe_load(f)
    cuda = task['device'] == 'cuda'
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=1 if cuda else 0, auto_resume=False)
    opt.pop('val', None)
    for key, split in (('train', opt['datasets']['train']), ('arch', opt['train']['arch_dataset'])):
        os.makedirs(os.path.join(data_root, key))
        Image.new('L', (task['size'], task['size'])).save(os.path.join(data_root, key, f'{key}.png'))
        split.update(dataroot_gt=os.path.join(data_root, key), io_backend={'type': 'disk'})
    opt['datasets'] = {'train': opt['datasets']['train']}
    opt['datasets']['train'].update(phase='train', gt_size=task['size'], batch_size_per_gpu=task['batch'])
    opt['train'].update(arch_warmup_iter=0)
    opt['channels_last'] = False  # the reference layout; the channels_last mode turns it on
    return merge(opt, copy.deepcopy(MODES[task['mode']][1]))


def worker(task: dict) -> dict:
    """One mode in this process: seconds per iteration and peak memory in MiB."""
    device = bench_archs.start_worker(task)
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from clearer_basicsr.models.clearer_search_model import CLEARERSearchModel

    cuda = device.type == 'cuda'
    shape = (task['batch'], 1, task['size'], task['size'])

    def noisy_pair(seed):
        g = torch.Generator().manual_seed(seed)
        gt = torch.rand(shape, generator=g)
        return {'lq': (gt + 30 / 255 * torch.randn(shape, generator=g)).to(device), 'gt': gt.to(device)}

    class FixedLoader:
        """Stands in for the arch split's loader: the same batch every time."""

        def __init__(self, batch):
            self.batch = batch

        def next(self):
            return self.batch

        def state_dict(self):
            return {}

    class BenchSearchModel(CLEARERSearchModel):  # not registered: built directly
        def build_arch_loader(self):
            return FixedLoader(noisy_pair(1))

    with tempfile.TemporaryDirectory() as data_root:
        model = BenchSearchModel(search_options(task, data_root))
    model.feed_data(noisy_pair(0))
    params = sum(p.numel() for p in model.weight_parameters())

    def free_grads():
        for optimizer in model.optimizers:
            optimizer.zero_grad(set_to_none=True)

    def iteration(i):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        model.optimize_parameters(i)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start

    it = 1
    for _ in range(task['warmup']):
        iteration(it)
        it += 1
    free_grads()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        rest = torch.cuda.memory_allocated()
        memory = 'cuda max_memory_allocated - allocated at rest'
    else:
        cpu_peak = CpuPeak()
        cpu_peak.rest()
        rest, memory = cpu_peak.rest_bytes, cpu_peak.description
    times = []
    for _ in range(task['repeats']):
        times.append(iteration(it))
        it += 1
    peak = torch.cuda.max_memory_allocated() if cuda else rest + cpu_peak.above_rest()
    with FlopCounterMode(display=False) as counter:  # the work of one more iteration
        model.optimize_parameters(it)
    seconds = sorted(times)[len(times) // 2]
    return {
        'gflop_per_iter': counter.get_total_flops() / 1e9,
        'gflops': counter.get_total_flops() / 1e9 / seconds,
        **task,
        'label': MODES[task['mode']][0],
        'params': params,
        'seconds_per_iter': seconds,
        'seconds': times,
        'peak_mib': (peak - rest) / 2**20,
        'rest_mib': rest / 2**20,
        'memory': memory,
        'threads': torch.get_num_threads(),
        'device_name': torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine(),
    }


def gemm_peak(task: dict) -> dict:
    """GFLOP/s of ``torch.mm`` on square matrices of ``task['dtype']``: the best of ``repeats``
    products after one warm-up (1024 on the CPU, 8192 on CUDA)."""
    device = bench_archs.start_worker(task)
    import torch

    n = 8192 if device.type == 'cuda' else 1024
    a, b = (torch.rand(n, n, device=device).to(getattr(torch, task['dtype'])) for _ in range(2))
    best = float('inf')
    for i in range(task['repeats'] + 1):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start) if i else best
    return {**task, 'n': n, 'gflops': 2 * n**3 / best / 1e9, 'threads': torch.get_num_threads()}


def run_isolated(task: dict) -> dict:
    """The mode in a fresh interpreter; a mode the code does not support comes back with its error."""
    out = subprocess.run([sys.executable, __file__, '--worker', json.dumps(task)], capture_output=True, text=True)
    if out.returncode:
        lines = out.stderr.strip().splitlines()
        label = MODES[task['mode']][0] if 'mode' in task else 'GEMM peak'
        return {**task, 'label': label, 'error': lines[-1] if lines else f'exit {out.returncode}'}
    return json.loads(out.stdout.strip().splitlines()[-1])


def add_ratios(results: list[dict]) -> None:
    exact = {r['device']: r for r in results if r['mode'] == 'exact' and 'error' not in r}
    for r in results:
        ref = exact.get(r['device'])
        if ref and 'error' not in r:
            r['time_ratio'] = r['seconds_per_iter'] / ref['seconds_per_iter']
            r['peak_ratio'] = r['peak_mib'] / ref['peak_mib'] if ref['peak_mib'] > 0 else None


PRECISION = {'bf16': 'bfloat16', 'fp16': 'float16'}  # a mode's GEMM precision; float32 otherwise


def table(results: list[dict], peaks: dict) -> str:
    """``peaks``: ``{device: {dtype: GEMM GFLOP/s}}``."""
    lines = [
        f'{"device":<8}{"mode":<15}{"what":<25}{"s/iter":>9}{"x exact":>9}{"peak MiB":>10}{"x exact":>9}'
        f'{"rest MiB":>10}{"GFLOP/it":>10}{"GFLOP/s":>9}{"of peak":>9}'
    ]
    for r in results:
        head = f'{r["device"]:<8}{r["mode"]:<15}{r["label"]:<25}'
        if 'error' in r:
            lines.append(head + f'  not run: {r["error"][:90]}')
            continue
        peak_ratio = f'{r["peak_ratio"]:>9.2f}' if r.get('peak_ratio') is not None else f'{"-":>9}'
        gemm = peaks.get(r['device'], {}).get(PRECISION.get(r['mode'], 'float32'))
        share = f'{r["gflops"] / gemm:>9.0%}' if gemm else f'{"-":>9}'
        lines.append(
            head + f'{r["seconds_per_iter"]:>9.3f}{r.get("time_ratio", float("nan")):>9.2f}'
            f'{r["peak_mib"]:>10,.1f}{peak_ratio}{r["rest_mib"]:>10,.1f}'
            f'{r["gflop_per_iter"]:>10.1f}{r["gflops"]:>9.1f}{share}'
        )
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    """Runs every mode, prints the tables and writes the JSON; returns the search results."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--modes',
        nargs='+',
        choices=list(MODES),
        help=f'modes to run (default: {" ".join(DEFAULT_MODES)}); exact is always run first, the '
        'ratios refer to it; fp16 runs on CUDA only',
    )
    parser.add_argument('--no-derived', action='store_true', help="skip bench_archs.py's derived-net inference")
    bench_archs.add_common_args(
        parser, repeats=3, json_name='bench_search.json', batch_help='batch of both the arch and the train step'
    )
    args = parser.parse_args(argv)
    if args.worker:
        task = json.loads(args.worker)
        print(json.dumps(gemm_peak(task) if 'dtype' in task else worker(task)))
        return []

    import torch

    from clearer_basicsr.models.precision import native_bf16

    devices = bench_archs.select_devices(args.device)
    modes = ['exact'] + [m for m in dict.fromkeys(args.modes or DEFAULT_MODES) if m != 'exact']
    common = {'repeats': args.repeats, 'warmup': args.warmup, 'threads': args.threads}
    started = time.perf_counter()
    results = []
    for device in devices:
        for mode in modes:
            if mode in CUDA_ONLY and device != 'cuda':
                continue
            task = {'device': device, 'mode': mode, 'batch': args.batch, 'size': args.size, **common}
            if mode == 'bf16' and device == 'cpu' and not native_bf16(torch.device(device)):  # emulated: slow
                if not args.modes:
                    results.append(
                        {
                            **task,
                            'label': MODES[mode][0],
                            'error': 'skipped: this CPU has no native bf16 '
                            '(emulated, ~25x slower); --modes ... bf16 runs one iteration',
                        }
                    )
                    continue
                task.update(repeats=1, warmup=0, note='CPU without native bf16 (emulated): 1 iteration, no warm-up')
            results.append(run_isolated(task))
            r = results[-1]
            print(
                f'done: {device} {mode} '
                + (f'({r["seconds_per_iter"]:.2f} s/iter)' if 'error' not in r else 'not run'),
                file=sys.stderr,
            )
    add_ratios(results)
    gemms = [
        run_isolated({'device': device, 'dtype': dtype, 'repeats': 5, 'threads': args.threads})
        for device in devices
        for dtype in ('float32', 'bfloat16', *(['float16'] if device == 'cuda' else []))
    ]
    peaks = {}
    for g in gemms:
        if 'error' not in g:
            peaks.setdefault(g['device'], {})[g['dtype']] = g['gflops']
    shape = f'{args.batch}x1x{args.size}x{args.size}'
    print(
        f'One search iteration (logit step + weight step), paper preset, batch {shape}; '
        f'median of {args.repeats}; peak = above model + optimiser states at rest; GFLOP/s = counted '
        'FLOPs of an iteration / its time, "of peak" = share of the GEMM peak of its precision'
    )
    for g in gemms:
        figure = f'{g["gflops"]:,.1f} GFLOP/s' if 'error' not in g else f'not measured ({g["error"][:60]})'
        what = f'torch.mm {g.get("n", "?")}^2, {g.get("threads")} threads'
        print(f'GEMM peak {g["device"]} {g["dtype"]:<9} ({what}): {figure}')
    print(table(results, peaks))
    for r in results:
        if r.get('note'):
            print(f'  {r["device"]} {r["mode"]}: {r["note"]}')

    derived = []
    if not args.no_derived:
        derived = [
            bench_archs.run_isolated({'device': device, 'network': name, 'batch': 1, 'size': args.infer_size, **common})
            for device in devices
            for name in bench_archs.DERIVED
        ]
        print(f'\nDerived nets, inference (bench_archs.py), batch 1 x 1 x {args.infer_size} x {args.infer_size}')
        print(bench_archs.table(derived))

    meta = {
        'wall_seconds': time.perf_counter() - started,
        'iteration': 'CLEARERSearchModel.optimize_parameters after the logit warm-up: logit step on the '
        'arch batch + weight step on the train batch; options/search_clearer_denoise.yml',
        'peak_memory': 'above the resting footprint of model + optimiser states (after warm-up, gradients '
        'freed): CUDA max_memory_allocated - allocated; CPU VmHWM - VmRSS (heap trimmed)',
    }
    bench_archs.write_json(args, meta, results=results, gemm_peaks=gemms, derived_inference=derived)
    return results


if __name__ == '__main__':
    run(main)
