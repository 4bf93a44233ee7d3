"""Side-by-side table of trained restoration networks, read from BasicSR's own folders.

    python -m clearer_basicsr.compare results/demo_clearer_test results/demo_dncnn_gray_test ... \
        [--out docs/comparison] [--size 256] [--recompute] [--no-latency] [--threads N]

Each argument is a BasicSR results folder (``results/<name>``, written by a test run), an
experiment folder (``experiments/<name>``, written by a training run), or a folder holding such
folders (``results/``, ``experiments/``, or the directory the runs were started in).

Per network and test set the table gives:

* PSNR / SSIM: the last ``Validation <test set>`` block of the run's BasicSR log (test log
  for results folders, final validation of the training log for experiment folders), or,
  with ``--recompute``, recomputed from the images the run saved and the test set (rebuilt
  from the run's options, so the noisy inputs are the same seeded ones);
* parameters, and MACs of one forward pass on a 1 x C x S x S input (``--size``; mmengine's
  FlopAnalyzer, which counts multiply-accumulates of convolutions, matmuls and norms);
* CPU latency per megapixel (one forward pass at S x S, no self-ensemble; CUDA too when a GPU
  is present);
* the genotype of CLEARER networks.

The network is rebuilt from the options the run used: the option file BasicSR copied into the
experiment folder, with the ``--force_yml`` overrides of its ``# CMD:`` line applied again, or,
for a results folder (BasicSR's test does not copy its option file), the options the test log
printed. Its weights come from the checkpoint the run used (``path: pretrain_network_g`` of a
test, ``models/net_g_latest.pth`` of a training run).

Writes ``<out>.md``, ``<out>.csv`` and ``<out>.png`` (PSNR against MACs). This module registers
nothing: it runs as ``__main__`` under ``python -m``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import glob
import math
import os
import platform
import re
import shlex
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

TIMESTAMP = re.compile(r'^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} ')
VALIDATION = re.compile(r' INFO: Validation (?P<name>.+?)\s*$')
OPTION_LINE = re.compile(r'^  [A-Za-z_]\w*:(\[| |$)')  # a top-level line of BasicSR's dict2str
METRIC = re.compile(r'^\s*# (?P<metric>\w+): (?P<value>[-+0-9.eEinfa]+)')
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


class CompareError(RuntimeError):
    """A folder cannot be read as a BasicSR run; the message says which file and why."""


# ------------------------------------------------------------------------------ options


def apply_force_yml(opt: dict, entries: list[str]) -> dict:
    """Applies BasicSR ``--force_yml key:sub=value`` entries to ``opt`` as its ``parse_options`` does."""
    from basicsr.utils.options import _postprocess_yml_value

    for entry in entries:
        keys, sep, value = entry.partition('=')
        if not sep:
            raise CompareError(f'--force_yml entry {entry!r} has no "="')
        *parents, last = keys.strip().split(':')
        node = opt
        for key in parents:
            node = node[key]
        node[last] = _postprocess_yml_value(value.strip())
    return opt


def force_yml_of_cmd(text: str) -> list[str]:
    """The ``--force_yml`` entries of the ``# CMD:`` line BasicSR's copy_opt_file writes."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == '# CMD:':
            argv = shlex.split(lines[i + 1].lstrip('#').strip())
            if '--force_yml' not in argv:
                return []
            entries = []
            for token in argv[argv.index('--force_yml') + 1 :]:
                if token.startswith('-'):
                    break
                entries.append(token)
            return entries
    return []


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_logged_options(log_path: str) -> dict:
    """The option dict BasicSR printed with ``dict2str`` at the top of a train/test log."""
    with open(log_path, encoding='utf-8', errors='replace') as f:
        lines = f.read().splitlines()
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if TIMESTAMP.match(line)
            and line.rstrip().endswith('INFO:')
            and i + 1 < len(lines)
            and OPTION_LINE.match(lines[i + 1])
        ),
        None,
    )
    if start is None:
        raise CompareError(f'{log_path}: no option dump found (the lines BasicSR logs after the environment info)')
    root: dict = {}
    stack = [root]
    for line in lines[start + 1 :]:
        if not line.startswith('  '):
            break
        body = line.strip()
        if body == ']':
            stack.pop()
        elif body.endswith(':['):
            child: dict = {}
            stack[-1][body[:-2]] = child
            stack.append(child)
        else:
            key, _, value = line.strip(' ').partition(': ')
            stack[-1][key.rstrip(':')] = _literal(value)
    return root


def _is_option_file(path: str) -> bool:
    if os.path.basename(path) == 'genotype.yml':
        return False
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and 'network_g' in data


def _newest(paths: list[str]) -> str | None:
    return max(paths, key=os.path.getmtime) if paths else None


# ------------------------------------------------------------------------------ runs


@dataclass
class Run:
    """One BasicSR run folder and what compare needs of it."""

    folder: str
    kind: str  # 'results' (test run) or 'experiment' (training run)
    opt: dict
    log: str | None
    root: str  # the directory the run was started in (relative paths start there)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.opt.get('name') or os.path.basename(self.folder))

    def resolve(self, path: str | None) -> str | None:
        """A path from the run's options: as given if it exists, else relative to the run's root."""
        if not path or os.path.isabs(path) or os.path.exists(path):
            return path
        candidate = os.path.join(self.root, path)
        return candidate if os.path.exists(candidate) else path

    def test_datasets(self) -> dict[str, dict]:
        """Dataset options of the test sets: ``test*`` (results) or ``val*`` (experiments)."""
        wanted = 'test' if self.kind == 'results' else 'val'
        return {
            key: value
            for key, value in (self.opt.get('datasets') or {}).items()
            if key.split('_')[0] == wanted or (self.kind == 'results' and key.split('_')[0] == 'val')
        }

    def checkpoint(self) -> str:
        if self.kind == 'results':
            path = self.resolve((self.opt.get('path') or {}).get('pretrain_network_g'))
            if not path:
                raise CompareError(f'{self.folder}: the test options name no path: pretrain_network_g')
        else:
            models = os.path.join(self.folder, 'models')
            path = os.path.join(models, 'net_g_latest.pth')
            if not os.path.isfile(path):
                numbered = glob.glob(os.path.join(models, 'net_g_*.pth'))
                numbered = [p for p in numbered if re.search(r'net_g_(\d+)\.pth$', p)]
                if not numbered:
                    raise CompareError(f'{self.folder}: no checkpoint under models/')
                path = max(numbered, key=lambda p: int(re.search(r'net_g_(\d+)\.pth$', p).group(1)))
        if not os.path.isfile(path):
            raise CompareError(f'{self.folder}: checkpoint {path!r} does not exist')
        return path


def read_metrics(log_path: str) -> dict[str, dict[str, float]]:
    """``{test set: {metric: value}}`` from the last ``Validation <name>`` block per test set."""
    metrics: dict[str, dict[str, float]] = {}
    current = None
    with open(log_path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if TIMESTAMP.match(line):
                match = VALIDATION.search(line)
                current = match.group('name') if match else None
                if current is not None:
                    metrics[current] = {}
                continue
            match = METRIC.match(line)
            if current is not None and match:
                metrics[current][match.group('metric')] = float(match.group('value'))
    return {name: values for name, values in metrics.items() if values}


def load_run(folder: str) -> Run:
    folder = os.path.abspath(folder)
    root = os.path.dirname(os.path.dirname(folder))
    test_logs = sorted(glob.glob(os.path.join(folder, 'test_*.log')))
    train_logs = sorted(glob.glob(os.path.join(folder, 'train_*.log')))
    if test_logs:
        kind, log = 'results', test_logs[-1]
    elif train_logs or os.path.isdir(os.path.join(folder, 'models')):
        kind, log = 'experiment', (train_logs[-1] if train_logs else None)
    else:
        raise CompareError(
            f'{folder}: neither a BasicSR results folder (test_*.log) nor an experiment folder (train_*.log, models/)'
        )
    option_files = [p for p in glob.glob(os.path.join(folder, '*.yml')) if _is_option_file(p)]
    if option_files:
        path = _newest(option_files)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        opt = apply_force_yml(yaml.safe_load(text), force_yml_of_cmd(text))
    elif log:
        opt = parse_logged_options(log)
    else:
        raise CompareError(f'{folder}: no copied option file and no log to read the options from')
    run = Run(folder, kind, opt, log, root)
    if log:
        run.metrics = read_metrics(log)
    return run


def find_run_folders(paths: list[str]) -> list[tuple[str, bool]]:
    """``(run folder, named)`` for the arguments: a run folder is named; a folder of runs expands
    to its runs (sorted; archived copies left out), which are not."""
    found = []
    for path in paths:
        if not os.path.isdir(path):
            raise CompareError(f'{path}: not a folder')
        if _looks_like_run(path):
            found.append((path, True))
            continue
        children = []
        for parent in (path, os.path.join(path, 'results'), os.path.join(path, 'experiments')):
            if os.path.isdir(parent):
                children += [
                    (os.path.join(parent, d), False)
                    for d in sorted(os.listdir(parent))
                    if '_archived_' not in d and _looks_like_run(os.path.join(parent, d))
                ]
        if not children:
            raise CompareError(f'{path}: holds no BasicSR results or experiment folders')
        found += children
    return found


def _looks_like_run(path: str) -> bool:
    return bool(
        glob.glob(os.path.join(path, 'test_*.log'))
        or glob.glob(os.path.join(path, 'train_*.log'))
        or os.path.isdir(os.path.join(path, 'models'))
    )


# ------------------------------------------------------------------------------ networks


def build_run_network(run: Run):
    """The run's ``network_g`` with the run's checkpoint loaded, on the CPU, in eval mode."""
    import torch
    from basicsr.archs import build_network

    import clearer_basicsr  # noqa: F401  (registers the plugin's archs)

    net_opt = copy.deepcopy(run.opt['network_g'])
    if isinstance(net_opt.get('genotype'), str):
        net_opt['genotype'] = run.resolve(net_opt['genotype'])
    net = build_network(net_opt)
    path = run.checkpoint()
    state = torch.load(path, map_location='cpu', weights_only=True)
    key = (run.opt.get('path') or {}).get('param_key_g', 'params') if run.kind == 'results' else 'params'
    if isinstance(state, dict) and key not in state:
        key = next((k for k in ('params', 'params_ema') if k in state), None)
    if key is not None:
        state = state[key]
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    return net.eval()


def input_channels(net, net_opt: dict) -> int:
    for key in ('in_channels', 'in_chans', 'in_nc', 'num_in_ch'):
        if isinstance(net_opt.get(key), int):
            return net_opt[key]
    import torch

    conv = next((m for m in net.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if conv is None:
        raise CompareError(f'cannot tell the input channels of {type(net).__name__}')
    return conv.in_channels


def count_macs(net, channels: int, size: int) -> int:
    """Multiply-accumulates of one forward pass on a 1 x C x size x size input (mmengine)."""
    import torch
    from mmengine.analysis import FlopAnalyzer

    with torch.no_grad():
        analyzer = FlopAnalyzer(net, (torch.zeros(1, channels, size, size),))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return int(analyzer.total())


def latency_ms_per_mp(
    net, channels: int, size: int, device: str = 'cpu', repeats: int = 5, budget_s: float = 10.0
) -> float:
    """Median time of one forward pass at size x size, in ms per megapixel."""
    import torch

    x = torch.rand(1, channels, size, size, device=device)
    net = net.to(device)

    def once():
        start = time.perf_counter()
        net(x)
        if device == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter() - start

    times = []
    with torch.no_grad():
        first = once()  # warm-up (allocations, cuDNN autotuning)
        repeats = max(1, min(repeats, int(budget_s / max(first, 1e-6))))
        times = [once() for _ in range(repeats)]
    net.to('cpu')
    return statistics.median(times) * 1e3 / (size * size / 1e6)


def genotype_of(net) -> str:
    genotype = getattr(net, 'genotype', None)
    return str(genotype()) if callable(genotype) else ''


# ------------------------------------------------------------------------------ metrics


def saved_image_path(run: Run, dataset_name: str, img_name: str) -> str:
    """Where BasicSR's validation saved the output for ``img_name`` (see SRModel.nondist_validation)."""
    visualization = os.path.join(run.folder, 'visualization')
    if run.kind == 'results':
        suffix = (run.opt.get('val') or {}).get('suffix')
        return os.path.join(visualization, dataset_name, f'{img_name}_{suffix or run.name}.png')
    candidates = glob.glob(os.path.join(visualization, img_name, f'{img_name}_*.png'))
    numbered = [(int(m.group(1)), p) for p in candidates if (m := re.search(r'_(\d+)\.png$', p))]
    if not numbered:
        return os.path.join(visualization, img_name, f'{img_name}_<iteration>.png')
    return max(numbered)[1]


def recompute_metrics(run: Run, dataset_opt: dict) -> dict[str, float]:
    """Mean PSNR/SSIM of the saved outputs against the test set's ground truth, computed as
    BasicSR's validation does (uint8 images, per-image metrics averaged)."""
    import cv2
    import numpy as np
    from basicsr.data import build_dataset
    from basicsr.metrics import calculate_psnr, calculate_ssim
    from basicsr.utils import tensor2img

    import clearer_basicsr  # noqa: F401  (registers the plugin's datasets)

    opt = copy.deepcopy(dataset_opt)
    for key in ('dataroot_gt', 'dataroot_lq', 'meta_info_file'):
        if opt.get(key):
            opt[key] = run.resolve(opt[key])
    opt.setdefault('phase', 'test' if run.kind == 'results' else 'val')
    if 'scale' in run.opt:
        opt['scale'] = run.opt['scale']
    dataset = build_dataset(opt)
    metric_opts = (run.opt.get('val') or {}).get('metrics') or {}
    scores = {'psnr': [], 'ssim': []}
    for item in dataset:
        img_name = os.path.splitext(os.path.basename(item['lq_path']))[0]
        path = saved_image_path(run, opt['name'], img_name)
        out = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if out is None:
            raise CompareError(
                f'{run.folder}: saved output {path!r} is missing; --recompute needs the test run '
                'to save images (val: save_img: true, with val: suffix)'
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
    folders: list[str], size: int = 256, recompute: bool = False, latency: bool = True, repeats: int = 5
) -> list[dict]:
    """One row per (network, test set) of the given run folders."""
    import torch

    rows = []
    for folder, named in find_run_folders(folders):
        run = load_run(folder)
        if not named and not run.metrics:  # e.g. a search or a training run without validation
            print(f'compare: skipped {folder}: its log holds no validation metrics')
            continue
        net = build_run_network(run)
        channels = input_channels(net, run.opt['network_g'])
        pad = int((run.opt.get('val') or {}).get('pad_multiple') or 1)
        mac_size = int(math.ceil(size / pad) * pad)
        params = sum(p.numel() for p in net.parameters())
        macs = count_macs(net, channels, mac_size)
        cpu = latency_ms_per_mp(net, channels, mac_size, 'cpu', repeats) if latency else float('nan')
        cuda = (
            latency_ms_per_mp(net, channels, mac_size, 'cuda', repeats)
            if latency and torch.cuda.is_available()
            else float('nan')
        )
        datasets = run.test_datasets()
        names = [d['name'] for d in datasets.values()] or list(run.metrics)
        if not names:
            raise CompareError(f'{folder}: no test set in the options and no validation in the log')
        for name in names:
            dataset_opt = next((d for d in datasets.values() if d['name'] == name), None)
            if recompute:
                if dataset_opt is None:
                    raise CompareError(f'{folder}: test set {name!r} is not in the run options')
                values, source = recompute_metrics(run, dataset_opt), 'recomputed'
            else:
                values, source = run.metrics.get(name, {}), 'log'
                if not values:
                    raise CompareError(
                        f'{folder}: {os.path.basename(run.log or "")} has no "Validation {name}" '
                        'metrics (was the run finished? use --recompute with saved images)'
                    )
            rows.append(
                {
                    'network': run.name,
                    'arch': run.opt['network_g']['type'],
                    'channels': channels,
                    'test_set': name,
                    'psnr': values.get('psnr', float('nan')),
                    'ssim': values.get('ssim', float('nan')),
                    'metrics_from': source,
                    'self_ensemble': bool((run.opt.get('val') or {}).get('self_ensemble')),
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
        'Latency: median of single forward passes (no self-ensemble) at that size, per megapixel, on a machine '
        f'possibly shared with other work; CPU {cpu_name()}, {threads} torch thread{"s" * (threads != 1)}; {cuda}; '
        f'torch {torch.__version__}.',
    ]
    return '\n'.join(lines + notes) + '\n'


def write_csv(rows: list[dict], path: str) -> None:
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row[k] for k in COLUMNS})


def scatter(rows: list[dict], path: str, title: str = 'PSNR against MACs') -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row['test_set'], row['channels']), []).append(row)
    fig, ax = plt.subplots(figsize=(7, 4.5))
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        prog='python -m clearer_basicsr.compare',
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 2)[2],
    )
    parser.add_argument(
        'folders',
        nargs='+',
        metavar='EXP_OR_RESULT_DIR',
        help='results/<name> or experiments/<name> folders, or folders holding them',
    )
    parser.add_argument('--out', default='comparison', help='output prefix: writes OUT.md, OUT.csv, OUT.png')
    parser.add_argument('--size', type=int, default=256, help='input size S for MACs and latency (default 256)')
    parser.add_argument(
        '--recompute',
        action='store_true',
        help='recompute PSNR/SSIM from the saved test images instead of reading the logs',
    )
    parser.add_argument('--no-latency', action='store_true', help='skip the timing')
    parser.add_argument('--repeats', type=int, default=5, help='timed forward passes per network (default 5)')
    parser.add_argument('--threads', type=int, help='torch CPU threads for the timing (default: torch default)')
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.error('--size must be positive')
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        rows = collect(args.folders, args.size, args.recompute, not args.no_latency, args.repeats)
    except CompareError as err:
        raise SystemExit(f'compare: {err}') from None
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
    main()
