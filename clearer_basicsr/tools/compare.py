"""Side-by-side table of trained restoration networks, read from the runs' ``metrics.json``.

    python -m clearer_basicsr.compare results/demo_clearer_test results/demo_dncnn_gray_test ... \
        [--out docs/comparison] [--size 256] [--recompute] [--no-latency] [--threads N]

Each argument is a results folder (``results/<name>``, written by ``clearer_basicsr.test``), an
experiment folder (``experiments/<name>``, whose final validation ``clearer_basicsr.train``
wrote), or a folder holding such folders (``results/``, ``experiments/``, or the directory the
runs were started in). A run folder is one with a ``metrics.json`` (see
:mod:`clearer_basicsr.run_files`); BasicSR's own scripts do not write it.

Per network and test set the table gives:

* PSNR / SSIM: the averages in ``metrics.json``, or, with ``--recompute``, recomputed from the
  images the run saved and the test set (rebuilt from the options in ``metrics.json``, so the
  noisy inputs are the same seeded ones);
* parameters, and MACs of one forward pass on a 1 x C x S x S input (``--size``; mmengine's
  FlopAnalyzer, which counts multiply-accumulates of convolutions, matmuls and norms);
* CPU latency per megapixel (one forward pass at S x S, no self-ensemble; CUDA too when a GPU
  is present);
* the genotype of CLEARER networks.

The network is rebuilt from the ``network_g`` options in ``metrics.json`` and loaded from the
checkpoint named there (``path: pretrain_network_g`` of a test, ``models/net_g_latest.pth`` of
a training run).

Writes ``<out>.md``, ``<out>.csv`` and ``<out>.png`` (PSNR against MACs). This module registers
nothing: it runs as ``__main__`` under ``python -m``.
"""

from __future__ import annotations

import csv
import math
import os
import platform
import time
from dataclasses import dataclass
from typing import Any

from _clearer_basicsr_cli import run
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.run_files import METRICS_FILE, read_metrics
from clearer_basicsr.tools.cli import doc_parser

REPEATS = 5  # timed forward passes per network; the fastest is its latency
COLUMNS = (
    'network',
    'arch',
    'channels',
    'test_set',
    'psnr',
    'ssim',
    'metrics_from',
    'self_ensemble',
    'params',
    'macs',
    'mac_size',
    'cpu_ms_per_mp',
    'cuda_ms_per_mp',
    'genotype',
    'folder',
)


class CompareError(UserInputError):
    """A folder cannot be read as a run; the message says which file and why."""


# ------------------------------------------------------------------------------ runs


@dataclass
class Run:
    """One run folder and its ``metrics.json``."""

    folder: str
    report: dict

    @property
    def name(self) -> str:
        return str(self.report['name'])

    def resolve(self, path: str | None) -> str | None:
        """A path from the run's options: as given if it exists, else relative to the run's root."""
        if not path or os.path.isabs(path) or os.path.exists(path):
            return path
        candidate = os.path.join(self.report['root'], path)
        return candidate if os.path.exists(candidate) else path

    def checkpoint(self) -> str:
        if not self.report.get('checkpoint'):
            raise CompareError(f'{self.folder}: {METRICS_FILE} names no checkpoint (path: pretrain_network_g)')
        path = os.path.normpath(os.path.join(self.folder, self.report['checkpoint']))
        if not os.path.isfile(path):
            raise CompareError(f'{self.folder}: checkpoint {path!r} does not exist')
        return path


def load_run(folder: str) -> Run:
    folder = os.path.abspath(folder)
    if not os.path.isfile(os.path.join(folder, METRICS_FILE)):
        raise CompareError(
            f'{folder}: no {METRICS_FILE}; clearer_basicsr.test writes it, and clearer_basicsr.train at its final '
            "validation (BasicSR's own scripts do not)"
        )
    return Run(folder, read_metrics(folder))


def find_run_folders(paths: list[str]) -> list[str]:
    """The run folders of the arguments: a run folder as given; a folder of runs expands to its
    runs (sorted, archived copies left out)."""
    found = []
    for path in paths:
        if not os.path.isdir(path):
            raise CompareError(f'{path}: not a folder')
        if _is_run(path):
            found.append(path)
            continue
        children = []
        for parent in (path, os.path.join(path, 'results'), os.path.join(path, 'experiments')):
            if os.path.isdir(parent):
                children += [
                    os.path.join(parent, d)
                    for d in sorted(os.listdir(parent))
                    if '_archived_' not in d and _is_run(os.path.join(parent, d))
                ]
        if not children:
            raise CompareError(f'{path}: holds no run folders (folders with a {METRICS_FILE})')
        found += children
    return found


def _is_run(path: str) -> bool:
    return os.path.isfile(os.path.join(path, METRICS_FILE))


# ------------------------------------------------------------------------------ networks


def build_run_network(run: Run, weights: bool = True) -> Any:
    """The run's ``network_g`` with the run's checkpoint loaded (``weights``), on the CPU, in
    eval mode."""
    from basicsr.archs import build_network

    import clearer_basicsr  # noqa: F401  (registers the plugin's archs)
    from clearer_basicsr.checkpoint import torch_load
    from clearer_basicsr.search_result import resolve_genotype_files

    net = build_network(resolve_genotype_files({'network_g': dict(run.report['network_g'])})['network_g'])
    if not weights:
        return net.eval()
    state = torch_load(run.checkpoint())  # as data only
    key = run.report.get('param_key', 'params')
    if isinstance(state, dict) and key not in state:
        key = next((k for k in ('params', 'params_ema') if k in state), None)
    if key is not None:
        state = state[key]
    from clearer_basicsr.checkpoint import strip_module_prefix

    net.load_state_dict(strip_module_prefix(state), strict=True)
    return net.eval()


def net_input_channels(net: Any, net_opt: dict) -> int:
    from clearer_basicsr.archs.arch_util import input_channels

    found = input_channels(net_opt)
    if found is not None and isinstance(found[1], int):
        return found[1]
    import torch

    conv = next((m for m in net.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if conv is None:
        raise CompareError(f'cannot tell the input channels of {type(net).__name__}')
    return conv.in_channels


def count_macs(net: Any, channels: int, size: int) -> int:
    """Multiply-accumulates of one forward pass on a 1 x C x size x size input (mmengine)."""
    import torch

    with torch.no_grad():
        from clearer_basicsr.archs.arch_util import mac_counter

        return int(mac_counter(net, (1, channels, size, size)).total())


def latency_ms_per_mp(
    net: Any, channels: int, size: int, device: str = 'cpu', repeats: int = 5, budget_s: float = 10.0
) -> float:
    """Fastest of a few forward passes at size x size, in ms per megapixel: other work on the
    machine only ever adds time, so the fastest pass is the steadiest estimate of the net's own."""
    import torch

    x = torch.rand(1, channels, size, size, device=device)
    net = net.to(device)

    def once() -> float:
        start = time.perf_counter()
        net(x)
        if device == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter() - start

    with torch.no_grad():
        first = once()  # warm-up (allocations, cuDNN autotuning)
        repeats = max(1, min(repeats, int(budget_s / max(first, 1e-6))))
        times = [once() for _ in range(repeats)]
    net.to('cpu')
    return min(times) * 1e3 / (size * size / 1e6)


def genotype_of(net: Any) -> str:
    genotype = getattr(net, 'genotype', None)
    return str(genotype()) if callable(genotype) else ''


# ------------------------------------------------------------------------------ metrics


def recompute_metrics(run: Run, test_set: str) -> dict[str, float]:
    """Mean PSNR/SSIM of the saved outputs against the test set's ground truth, computed as
    BasicSR's validation does (uint8 images, per-image metrics averaged)."""
    import cv2
    import numpy as np
    from basicsr.data import build_dataset
    from basicsr.metrics import calculate_psnr, calculate_ssim
    from basicsr.utils import tensor2img

    import clearer_basicsr  # noqa: F401  (registers the plugin's datasets)

    result = run.report['datasets'][test_set]
    opt = dict(result['options'])
    for key in ('dataroot_gt', 'dataroot_lq', 'meta_info_file'):
        if opt.get(key):
            opt[key] = run.resolve(opt[key])
    dataset = build_dataset(opt)
    metric_opts = run.report.get('metrics') or {}
    scores = {'psnr': [], 'ssim': []}
    for item in dataset:
        img_name = os.path.splitext(os.path.basename(item['lq_path']))[0]
        saved = result['images'].get(img_name, {}).get('output')
        out = cv2.imread(os.path.join(run.folder, saved), cv2.IMREAD_UNCHANGED) if saved else None
        if out is None:
            raise CompareError(
                f'{run.folder}: the saved output of {img_name!r} is missing; --recompute needs the test run to save '
                'images (val: save_img: true)'
            )
        gt = tensor2img(item['gt'])
        for metric, fn in (('psnr', calculate_psnr), ('ssim', calculate_ssim)):
            mopt = metric_opts.get(metric) or {}
            scores[metric].append(
                fn(out, gt, crop_border=mopt.get('crop_border', 0), test_y_channel=mopt.get('test_y_channel', False))
            )
    return {metric: float(np.mean(values)) for metric, values in scores.items()}


# ------------------------------------------------------------------------------ table


def collect(
    folders: list[str],
    size: int = 256,
    recompute: bool = False,
    latency: bool = True,
    repeats: int = REPEATS,
    weights: bool = True,
) -> list[dict]:
    """One row per (network, test set) of the given run folders. Costs and latency depend on
    the networks' shapes only: without ``weights`` (and ``recompute``) no checkpoint is read."""
    import torch

    rows = []
    for folder in find_run_folders(folders):
        run = load_run(folder)
        if not run.report['datasets']:
            raise CompareError(f'{folder}: its {METRICS_FILE} holds no test set')
        net = build_run_network(run, weights or recompute)
        channels = net_input_channels(net, run.report['network_g'])
        pad = run.report.get('pad_multiple', 1)
        mac_size = int(math.ceil(size / pad) * pad)
        params = sum(p.numel() for p in net.parameters())
        macs = count_macs(net, channels, mac_size)
        cpu = latency_ms_per_mp(net, channels, mac_size, 'cpu', repeats) if latency else float('nan')
        cuda = (
            latency_ms_per_mp(net, channels, mac_size, 'cuda', repeats)
            if latency and torch.cuda.is_available()
            else float('nan')
        )
        for name, result in run.report['datasets'].items():
            if recompute:
                values, source = recompute_metrics(run, name), 'recomputed'
            else:
                values, source = result['average'], METRICS_FILE
            rows.append(
                {
                    'network': run.name,
                    'arch': run.report['network_g']['type'],
                    'channels': channels,
                    'test_set': name,
                    'psnr': values.get('psnr', float('nan')),
                    'ssim': values.get('ssim', float('nan')),
                    'metrics_from': source,
                    'self_ensemble': run.report.get('self_ensemble', False),
                    'params': params,
                    'macs': macs,
                    'mac_size': mac_size,
                    'cpu_ms_per_mp': cpu,
                    'cuda_ms_per_mp': cuda,
                    'genotype': genotype_of(net),
                    'folder': os.path.relpath(folder),
                }
            )
    return rows


def _fmt(value: float, spec: str) -> str:
    return '–' if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cell(text: str) -> str:
    return str(text).replace('|', '\\|')


def markdown(rows: list[dict], size: int) -> str:
    import torch

    lines = [
        '| network | arch | ch | test set | PSNR (dB) | SSIM | x8 | params | MACs | CPU ms/MP | CUDA ms/MP '
        '| genotype |',
        '|---|---|---:|---|---:|---:|:---:|---:|---:|---:|---:|---|',
    ]
    for r in rows:
        cells = [
            _cell(r['network']),
            r['arch'],
            r['channels'],
            _cell(r['test_set']),
            _fmt(r['psnr'], '.2f'),
            _fmt(r['ssim'], '.4f'),
            'yes' if r['self_ensemble'] else 'no',
            f'{r["params"]:,}',
            f'{r["macs"] / 1e9:.3f} G',
            _fmt(r['cpu_ms_per_mp'], '.0f'),
            _fmt(r['cuda_ms_per_mp'], '.1f'),
            _cell(r['genotype']),
        ]
        lines.append('| ' + ' | '.join(str(c) for c in cells) + ' |')
    sizes = ' / '.join(str(s) for s in sorted({r['mac_size'] for r in rows}))
    sources = ' and '.join(sorted({r['metrics_from'] for r in rows}))
    cuda = f'CUDA {torch.cuda.get_device_name(0)}' if torch.cuda.is_available() else 'no CUDA device'
    threads = torch.get_num_threads()
    notes = [
        '',
        f"PSNR/SSIM: {sources} (BasicSR's calculate_psnr / calculate_ssim on the 8-bit outputs, averaged over the "
        'test images); x8: tested with the 8-way self-ensemble.',
        f'MACs: mmengine FlopAnalyzer, one forward pass on a 1 x C x S x S input, S = {sizes} (requested {size}, '
        'rounded up to the test padding multiple); multiply-accumulates of convolutions, matmuls and norms, '
        'element-wise ops not counted.',
        'Latency: the fastest of the timed forward passes (--repeats; no self-ensemble) at that size, per megapixel, '
        'on a machine '
        f'possibly shared with other work; CPU {cpu_name()}, {threads} torch thread{"s" * (threads != 1)}; {cuda}; '
        f'torch {torch.__version__}.',
    ]
    return '\n'.join(lines + notes) + '\n'


def write_csv(rows: list[dict], path: str, columns: tuple[str, ...] = COLUMNS) -> None:
    """``columns`` of ``rows`` as CSV (the sweep writes its table with it too)."""
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)


def scatter(rows: list[dict], path: str, title: str = 'PSNR against MACs') -> None:
    from matplotlib.ticker import FormatStrFormatter

    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row['test_set'], row['channels']), []).append(row)
    from clearer_basicsr.plots import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    placed: list[tuple[float, float]] = []
    for (test_set, channels), group in groups.items():
        label = f'{test_set} ({"gray" if channels == 1 else "colour" if channels == 3 else f"{channels} ch"})'
        ax.scatter([r['macs'] / 1e9 for r in group], [r['psnr'] for r in group], label=label, s=36)
        for r in group:
            x, y = r['macs'] / 1e9, r['psnr']
            # a label next to an earlier one (within 35 % in MACs, 0.6 dB) goes to the left of its point
            near = any(abs(math.log(x / px)) < 0.3 and abs(y - py) < 0.6 for px, py in placed)
            placed.append((x, y))
            ax.annotate(
                r['network'],
                (x, y),
                fontsize=7,
                xytext=(-4, 5) if near else (4, 3),
                ha='right' if near else 'left',
                textcoords='offset points',
            )
    ax.set_xscale('log')
    for axis in (ax.xaxis,):
        axis.set_major_formatter(FormatStrFormatter('%g'))
        axis.set_minor_formatter(FormatStrFormatter('%g'))
    ax.tick_params(axis='x', which='minor', labelsize=7)
    ax.margins(x=0.25, y=0.08)
    size = '/'.join(str(s) for s in sorted({r['mac_size'] for r in rows}))
    ax.set_xlabel(f'GMACs per {size}x{size} forward pass (mmengine, log scale)')
    ax.set_ylabel('PSNR (dB)')
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=110)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.compare', epilog_from=2)
    parser.add_argument('folders', nargs='+', metavar='RUN_DIR', help='results/<name>, experiments/<name> or parents')
    parser.add_argument('--out', default='comparison', help='output prefix: writes OUT.md, OUT.csv, OUT.png')
    parser.add_argument('--size', type=int, default=256, help='input size S for MACs and latency (default 256)')
    parser.add_argument('--recompute', action='store_true', help='PSNR/SSIM from the saved images, not metrics.json')
    parser.add_argument('--no-latency', action='store_true', help='skip the timing')
    parser.add_argument(
        '--repeats', type=int, default=REPEATS, help=f'timed forward passes per network (default {REPEATS})'
    )
    parser.add_argument('--threads', type=int, help='torch CPU threads for the timing (default: torch default)')
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.error('--size must be positive')
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = collect(args.folders, args.size, args.recompute, not args.no_latency, args.repeats)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    table = markdown(rows, args.size)
    with open(args.out + '.md', 'w', encoding='utf-8') as f:
        f.write(table)
    write_csv(rows, args.out + '.csv')
    scatter(rows, args.out + '.png')
    print(table)
    print(f'wrote {args.out}.md, {args.out}.csv, {args.out}.png')
    return rows


if __name__ == '__main__':
    run(main)
