"""The CUDA check: every path of the plugin that only a GPU reaches, run once, in about 5 minutes
on one GPU, with one JSON summary.

    python scripts/gpu_check.py --out gpu_check.json             # on a machine with CUDA
    python scripts/gpu_check.py --device cpu --quick --out x.json  # the same steps on the CPU (a dry run)

Run it from the repository root (it reads the demo's option files and the zoo of the checkout).
Each check runs the commands a user would type, in its own process, under --work (default
gpu_check_work/, made afresh):

* demo            the whole demo (search, retrain, test) on the device;
* amp             the demo search in fp32, ``amp: bf16`` and ``amp: fp16`` (grad scaler; CUDA
                  only): the logits stay finite and the decisions match fp32's;
* channels_last   a short retrain with ``channels_last: true`` and ``false``: the same loss (on
                  CUDA with ``prefetch_mode: cuda`` and ``pin_memory``: BasicSR's CUDA prefetcher);
* ddp             the demo search under torchrun with 1 process (NCCL on CUDA, gloo on the
                  CPU) and, with 2 or more GPUs, 2 processes: every rank ends on the same logits;
* infer, export   ``clearer-infer --zoo clearer_gray_s30 --device`` and a TorchScript export
                  checked on the device;
* benchmarks      ``benchmarks/bench_search.py`` and ``benchmarks/bench_train_step.py`` on the device.

A failing check does not stop the others; the summary gives each one's status, seconds, figures
and the end of its output. Exit status: 0 when every check passed, 1 otherwise, 2 for bad input
(``--device cuda`` without a CUDA device).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402

OPTIONS = os.path.join(ROOT, 'clearer_basicsr', 'options')
SHORT = ['train:total_iter=40', 'train:scheduler:periods=[40]', 'logger:save_checkpoint_freq=40']
QUICK = ['train:total_iter=8', 'train:scheduler:periods=[8]', 'logger:save_checkpoint_freq=8', 'logger:print_freq=4']
QUICK_SEARCH = ['train:arch_warmup_iter=4']


class Check:
    """The work folder, the device and the results of the checks run so far."""

    def __init__(self, work, device, quick):
        self.work, self.device, self.quick = work, device, quick
        self.data = os.path.join(work, 'demo_data')
        self.results = {}
        env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '4'))
        if device == 'cpu':
            env['CUDA_VISIBLE_DEVICES'] = ''  # every stage on the CPU, as on a machine without CUDA
        self.env = env

    def command(self, name, args, timeout=300):
        """Runs ``args`` in the work folder; returns its output, raises on a non-zero status."""
        log = os.path.join(self.work, f'{name}.log')
        with open(log, 'w', encoding='utf-8') as f:
            proc = subprocess.run(
                args, cwd=self.work, env=self.env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout
            )
        with open(log, encoding='utf-8', errors='replace') as f:
            output = f.read()
        if proc.returncode != 0:
            raise RuntimeError(f'{" ".join(args)} exited {proc.returncode}:\n{output[-2000:]}')
        return output

    def train(self, name, option_file, *force, launcher=None, timeout=300):
        """A training run of ``option_file`` named ``name`` on the demo data; returns its folder."""
        quick = [*QUICK, *(QUICK_SEARCH if 'search' in option_file else [])] if self.quick else []
        force = [f'name={name}', *self.data_keys(option_file), *quick, *force]
        if launcher:
            args = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(launcher)]
            args += ['--master_port', str(29500 + len(self.results)), '-m', 'clearer_basicsr.train']
        else:
            args = [sys.executable, '-m', 'clearer_basicsr.train']
        args += ['-opt', os.path.join(OPTIONS, option_file), '--force_yml', *force]
        args += ['--launcher', 'pytorch'] if launcher else []
        self.command(name, args, timeout)
        return os.path.join(self.work, 'experiments', name)

    def data_keys(self, option_file):
        keys = [f'datasets:train:dataroot_gt={self.data}/train.lmdb']
        if 'search' in option_file:
            keys.append(f'train:arch_dataset:dataroot_gt={self.data}/arch.lmdb')
        return keys

    def record(self, name, step):
        """Runs ``step()`` (returns its figures) and keeps its outcome under ``name``."""
        start = time.perf_counter()
        try:
            figures, status = step() or {}, 'passed'
            if figures.pop('failed', None):
                status = 'failed'
        except subprocess.TimeoutExpired as err:
            figures, status = {'error': f'timed out after {err.timeout} s'}, 'failed'
        except Exception as err:  # noqa: BLE001  (the summary says what failed; the next check runs)
            figures, status = {'error': str(err)[-2000:]}, 'failed'
        self.results[name] = {'status': status, 'seconds': round(time.perf_counter() - start, 1), **figures}
        print(f'{name:<14} {status:<7} {self.results[name]["seconds"]:>7.1f} s  {summary_line(figures)}', flush=True)


def summary_line(figures):
    return ', '.join(f'{k}={v}' for k, v in figures.items() if k != 'error' and not isinstance(v, (dict, list)))[:150]


def search_outcome(folder):
    """``(compact genotype, column weights, every weight finite)`` of a finished search."""
    from clearer_basicsr.search_result import FILE, SearchResult

    result = SearchResult.load(os.path.join(folder, FILE))
    weights = [w for column in result.column_weights for w in column.values()]
    finite = all(w == w and abs(w) != float('inf') for w in weights)
    return str(result.genotype), result.column_weights, finite


def check_demo(c):
    c.command('demo_data', [sys.executable, '-m', 'clearer_basicsr.data.demo_data', '--out', c.data])
    args = [sys.executable, '-m', 'clearer_basicsr.demo', '--data', c.data, *(['--quick'] if c.quick else [])]
    output = c.command('demo', args, timeout=600)
    return {'table': output.strip().splitlines()[-8:]}


def check_amp(c):
    modes = ['fp32', 'bf16'] + (['fp16'] if c.device == 'cuda' else [])
    outcomes = {}
    for mode in modes:
        folder = c.train(f'amp_{mode}', 'demo_search.yml', *([f'train:amp={mode}'] if mode != 'fp32' else []))
        outcomes[mode] = search_outcome(folder)
    figures = {f'{m}_genotype': outcomes[m][0] for m in modes}
    figures.update({f'{m}_finite': outcomes[m][2] for m in modes})
    figures.update({f'{m}_matches_fp32': outcomes[m][0] == outcomes['fp32'][0] for m in modes[1:]})
    figures['failed'] = not all(o[2] for o in outcomes.values())
    return figures


def check_channels_last(c):
    losses = {}  # l_pix of each iteration: the first (same weights, same batch) must agree closely
    # BasicSR's CUDA prefetcher (pinned host batches copied on a side stream) on the device
    prefetch = ['datasets:train:prefetch_mode=cuda', 'datasets:train:pin_memory=true'] if c.device == 'cuda' else []
    for flag in ('true', 'false'):
        network = ['network_g:genotype=P P F P | F F P P', 'logger:print_freq=1']
        c.train(f'cl_{flag}', 'demo_train.yml', f'channels_last={flag}', *SHORT, *prefetch, *network)
        with open(os.path.join(c.work, 'experiments', f'cl_{flag}', 'train_log.jsonl'), encoding='utf-8') as f:
            losses[flag] = [json.loads(line)['l_pix'] for line in f]
    first = abs(losses['true'][0] - losses['false'][0]) / losses['false'][0]
    figures = {'first_loss_relative_difference': first, 'last_loss': [losses['true'][-1], losses['false'][-1]]}
    return {**figures, 'failed': first > 1e-3}


def check_ddp(c):
    import torch

    figures = {}
    counts = [1] + ([2] if c.device == 'cuda' and torch.cuda.device_count() >= 2 else [])
    for n in counts:
        folder = c.train(f'ddp_{n}', 'demo_search.yml', *SHORT, 'train:arch_warmup_iter=10', launcher=n)
        figures[f'{n}_process_genotype'] = search_outcome(folder)[0]
    figures['backend'] = 'nccl' if c.device == 'cuda' else 'gloo'
    return figures


def check_infer_export(c):
    photos = os.path.join(c.data, 'test')
    args = ['--zoo', 'clearer_gray_s30', '--input', photos, '--output', 'inferred', '--device', c.device]
    output = c.command('infer', [sys.executable, '-m', 'clearer_basicsr.infer', *args])
    export = [sys.executable, '-m', 'clearer_basicsr.export', '--zoo', 'clearer_gray_s30', '--torchscript', 'net.pt']
    exported = c.command('export', [*export, '--device', c.device], timeout=300)
    return {'infer': output.strip().splitlines()[-1], 'export': exported.strip().splitlines()[-1]}


def check_benchmarks(c):
    bench = os.path.join(ROOT, 'benchmarks')
    modes = ['exact', 'gumbel', 'channels_last'] + (['bf16', 'fp16'] if c.device == 'cuda' else [])
    search = [sys.executable, os.path.join(bench, 'bench_search.py'), '--device', c.device, '--no-derived']
    output = c.command('bench_search', [*search, '--repeats', '3', '--modes', *modes], timeout=600)
    step = [sys.executable, os.path.join(bench, 'bench_train_step.py'), '--device', c.device, '--json', 'step.json']
    c.command('bench_train_step', [*step, '--rounds', '3', '--steps', '10', '--warmup', '5'], timeout=600)
    with open(os.path.join(c.work, 'step.json'), encoding='utf-8') as f:
        train_step = json.load(f)
    lines = [line for line in output.splitlines() if line.startswith(c.device)]
    return {'bench_search': lines, 'bench_train_step': {k: train_step[k] for k in ('plugin', 'bare', 'overhead_ratio')}}


CHECKS = {
    'demo': check_demo,
    'amp': check_amp,
    'channels_last': check_channels_last,
    'ddp': check_ddp,
    'infer_export': check_infer_export,
    'benchmarks': check_benchmarks,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--out', default='gpu_check.json', help='the JSON summary')
    parser.add_argument('--work', default='gpu_check_work', help='working folder (emptied first)')
    parser.add_argument('--quick', action='store_true', help='a few iterations per run (a dry run on the CPU)')
    parser.add_argument('--only', nargs='+', choices=list(CHECKS), help='run these checks only')
    args = parser.parse_args(argv)

    import torch

    if args.device == 'cuda' and not torch.cuda.is_available():
        raise UserInputError('--device cuda: no CUDA device here (--device cpu --quick runs the same steps on the CPU)')
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    check = Check(os.path.abspath(args.work), args.device, args.quick)
    start = time.perf_counter()
    for name in args.only or CHECKS:
        if name != 'demo' and not os.path.isdir(check.data):
            check.command('demo_data', [sys.executable, '-m', 'clearer_basicsr.data.demo_data', '--out', check.data])
        check.record(name, lambda step=CHECKS[name]: step(check))
    cuda = args.device == 'cuda'
    summary = {
        'device': torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine(),
        'gpus': torch.cuda.device_count() if cuda else 0,
        'torch': torch.__version__,
        'cuda': torch.version.cuda,
        'quick': args.quick,
        'seconds': round(time.perf_counter() - start, 1),
        'passed': all(r['status'] == 'passed' for r in check.results.values()),
        'checks': check.results,
    }
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    print(f'{"all passed" if summary["passed"] else "FAILED"} in {summary["seconds"]} s -> {args.out}')
    if not summary['passed']:
        sys.exit(1)
    return summary


if __name__ == '__main__':
    run(main)
