"""Speed and memory of the CLEARER networks.

Measures, on the CPU and on CUDA when present:

* the supernet (paper preset, grayscale): forward + backward time per iteration and peak
  memory at ``--batch`` x 1 x ``--size`` x ``--size`` (default 8 x 64 x 64), in train mode
  (BN on batch statistics), MSE loss against a random target, no optimiser step;
* derived nets (all-parallel, all-fusion, a mixed genotype): inference time per megapixel
  (eval mode, no grad, batch 1, ``--infer-size`` square input), and their peak memory.

Every measurement runs in its own Python process, so one run's allocations do not hide
another's. Peak memory is the memory on top of the built model: on CUDA
``max_memory_allocated`` minus the memory allocated right after building the model; on the
CPU the peak resident set size above the one right after building the model (``cpu_memory.py``,
Linux). It covers activations, gradients and allocator caches, not the weights themselves.

    python benchmarks/bench_archs.py [--repeats 5] [--device auto|cpu|cuda] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'benchmarks')]  # the checkout's plugin, cpu_memory
from cpu_memory import CpuPeak  # noqa: E402

from _clearer_basicsr_cli import UserInputError, run  # noqa: E402

DERIVED = {
    'all-parallel': 'P P P P | P P P P | P P P P',
    'all-fusion': 'F F F F | F F F F | F F F F',
    'mixed': 'P F F P | F F P P | P P P P',
}


def start_worker(task: dict):
    """The common start of a measurement process (bench_search.py's too): the plugin imported
    from this checkout, torch's thread count, a fixed seed; returns the task's torch device."""
    sys.path.insert(0, str(ROOT))
    import torch

    import clearer_basicsr  # noqa: F401  (registers the archs, losses and models)

    if task['threads']:
        torch.set_num_threads(task['threads'])
    torch.manual_seed(0)
    return torch.device(task['device'])


def worker(task: dict) -> dict:
    """One measurement in this process; returns seconds per iteration and peak memory in MiB."""
    device = start_worker(task)
    import torch

    from clearer_basicsr.archs.arch_util import count_parameters
    from clearer_basicsr.archs.clearer_arch import CLEARERNet, CLEARERSearchNet

    cuda = device.type == 'cuda'
    training = task['network'] == 'supernet'
    net = (CLEARERSearchNet() if training else CLEARERNet(DERIVED[task['network']])).to(device)
    net.train(training)
    batch, size = task['batch'], task['size']
    x = torch.rand(batch, 1, size, size, device=device)
    target = torch.rand_like(x)

    def step():
        if training:
            torch.nn.functional.mse_loss(net(x), target).backward()
            net.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                net(x)
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        cpu_peak = CpuPeak()
        cpu_peak.rest()
    for _ in range(task['warmup']):
        step()
    times = []
    for _ in range(task['repeats']):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() - base if cuda else cpu_peak.above_rest()
    seconds = sorted(times)[len(times) // 2]  # median: robust to a busy machine
    return {
        **task,
        'genotype': DERIVED.get(task['network'], 'supernet'),
        'params': count_parameters(net),
        'seconds_per_iter': seconds,
        'ms_per_megapixel': 1e3 * seconds / (batch * size * size / 1e6),
        'peak_mib': peak / 2**20,
        'threads': torch.get_num_threads(),
        'device_name': torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine(),
    }


def run_isolated(task: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, '--worker', json.dumps(task)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    lines = [f'{"device":<8}{"network":<14}{"mode":<18}{"input":>13}{"ms/iter":>13}{"ms/MP":>13}{"peak MiB":>10}']
    for r in results:
        mode = 'forward+backward' if r['network'] == 'supernet' else 'inference'
        shape = f'{r["batch"]}x1x{r["size"]}x{r["size"]}'
        lines.append(
            f'{r["device"]:<8}{r["network"]:<14}{mode:<18}{shape:>13}{1e3 * r["seconds_per_iter"]:>13,.1f}'
            f'{r["ms_per_megapixel"]:>13,.1f}{r["peak_mib"]:>10,.1f}'
        )
    return '\n'.join(lines)


def add_common_args(parser: argparse.ArgumentParser, repeats: int, json_name: str, batch_help: str) -> None:
    """The options both benchmarks take (bench_search.py imports this)."""
    parser.add_argument(
        '--repeats', type=int, default=repeats, help='timed iterations per measurement (median reported)'
    )
    parser.add_argument('--warmup', type=int, default=1, help='untimed iterations first')
    parser.add_argument('--batch', type=int, default=8, help=batch_help)
    parser.add_argument('--size', type=int, default=64, help='training patch size')
    parser.add_argument('--infer-size', type=int, default=256, help='derived-net inference image size (batch 1)')
    parser.add_argument(
        '--device', choices=['auto', 'cpu', 'cuda'], default='auto', help='auto: the CPU, plus CUDA when available'
    )
    parser.add_argument(
        '--threads', type=int, default=0, help='CPU threads for torch (0: its default); 1 is steadier on a busy machine'
    )
    parser.add_argument(
        '--json', default=str(ROOT / 'benchmarks' / 'results' / json_name), help='where to write the results'
    )
    parser.add_argument('--worker', help=argparse.SUPPRESS)


def select_devices(device: str) -> list[str]:
    """``--device`` as a list: auto = the CPU, plus CUDA when available."""
    import torch

    devices = ['cpu', 'cuda'] if device == 'auto' else [device]
    if 'cuda' in devices and not torch.cuda.is_available():
        if device == 'cuda':
            raise UserInputError('--device cuda: CUDA is not available')
        devices.remove('cuda')
    return devices


def main(argv: list[str] | None = None) -> list[dict]:
    """Runs every measurement, prints the table and writes the JSON; returns the results."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_common_args(parser, repeats=5, json_name='bench_archs.json', batch_help='supernet training batch')
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return []

    devices = select_devices(args.device)
    common = {'repeats': args.repeats, 'warmup': args.warmup, 'threads': args.threads}
    tasks = []
    for device in devices:
        tasks.append({'device': device, 'network': 'supernet', 'batch': args.batch, 'size': args.size, **common})
        tasks += [
            {'device': device, 'network': name, 'batch': 1, 'size': args.infer_size, **common} for name in DERIVED
        ]
    results = []
    for task in tasks:
        results.append(run_isolated(task))
        print(f'done: {task["device"]} {task["network"]}', file=sys.stderr)
    print(table(results))

    peak_memory = (
        'on top of the built model: CUDA max_memory_allocated minus allocated after building; '
        'CPU VmHWM minus VmRSS after building (heap trimmed; activations, gradients, allocator caches)'
    )
    write_json(args, {'peak_memory': peak_memory}, results=results)
    return results


def write_json(args: argparse.Namespace, meta: dict, **sections: list) -> None:
    """``--json``: the results with the versions, the machine and the arguments that made them
    (bench_search.py writes its results with it too)."""
    import torch

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    meta = {
        'torch': torch.__version__,
        'python': platform.python_version(),
        'cpu_count': os.cpu_count(),
        'load_average_at_end': load,
        'args': {k: v for k, v in vars(args).items() if k != 'worker'},
        **meta,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'meta': meta, **sections}, indent=2))
    print(f'wrote {path}')


if __name__ == '__main__':
    run(main)
