"""``python -m clearer_basicsr.demo`` (console script ``clearer-demo``): the whole CLEARER flow
on the built-in demo data, in minutes on a CPU.

1. makes the demo data (``datasets/demo``, from images bundled with scikit-image) if missing;
2. searches an architecture  (``clearer_basicsr/options/demo_search.yml``);
3. retrains the derived net  (``demo_train.yml``, genotype read from the search's genotype.yml);
4. tests it                  (``demo_test.yml``: whole images, 8-way self-ensemble);
5. prints a table: genotype, parameters, MACs, PSNR/SSIM of the noisy input and of the net.

Each stage runs ``python -m clearer_basicsr.train|test -opt <file>`` in the current directory,
exactly what a user would type; the option files are printed so they can be copied and edited.
``--quick`` runs a few iterations per stage: a check that an installation works (its numbers
mean nothing).
"""

from __future__ import annotations

import argparse
import os
import re
import time

from _clearer_basicsr_cli import run
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.option_file import apply_overrides, read_option_file
from clearer_basicsr.run_files import read_metrics
from clearer_basicsr.tools.cli import PACKAGE_OPTIONS, doc_parser
from clearer_basicsr.tools.stages import run_stage

DEFAULT_DATA = os.path.join('datasets', 'demo')
# (stage, entry point, option file, where it reads the demo data: {key: file under --data})
STAGES = (
    (
        'search',
        'train',
        'demo_search.yml',
        {'datasets:train:dataroot_gt': 'train.lmdb', 'train:arch_dataset:dataroot_gt': 'arch.lmdb'},
    ),
    ('retrain', 'train', 'demo_train.yml', {'datasets:train:dataroot_gt': 'train.lmdb'}),
    ('test', 'test', 'demo_test.yml', {'datasets:test_1:dataroot_gt': 'test'}),
)
SHORT_RUN = (
    'train:total_iter=8',
    'train:scheduler:periods=[8]',
    'logger:save_checkpoint_freq=8',
    'logger:print_freq=4',
)
QUICK = {'search': (*SHORT_RUN, 'train:arch_warmup_iter=4'), 'retrain': SHORT_RUN}  # --quick
# Lines of BasicSR's output worth showing live; the full log is in the experiment folder.
SHOWN = re.compile(r'\[eta:|Genotype|undecided|# psnr|# ssim|Validation|Resuming|Error|error:')


def noisy_input_scores(test_dir: str, sigma: float = 30) -> tuple[float, float]:
    """Mean PSNR/SSIM of the noisy inputs the test saw (the same seeded noise) against the clean images."""
    import numpy as np
    from basicsr.metrics import calculate_psnr, calculate_ssim
    from basicsr.utils import tensor2img

    from clearer_basicsr.data.gaussian_noise_dataset import GaussianNoiseDataset

    dataset = GaussianNoiseDataset(
        {'dataroot_gt': test_dir, 'io_backend': {'type': 'disk'}, 'in_ch': 1, 'sigma': sigma, 'phase': 'test'}
    )
    scores = []
    for item in dataset:
        gt, noisy = tensor2img(item['gt'])[..., None], tensor2img(item['lq'])[..., None]
        scores.append((calculate_psnr(noisy, gt, 0), calculate_ssim(noisy, gt, 0)))
    return tuple(float(np.mean(column)) for column in zip(*scores))


def stage_overrides(stage: str, option_file: str, data_keys: dict[str, str], args: argparse.Namespace) -> list[str]:
    """The ``--force_yml`` of a stage: the data folder when not the default, the --quick lengths,
    and the user's entries that apply (a nested one only where the file has its section: the
    test has no train section)."""
    entries = []
    if os.path.normpath(args.data) != DEFAULT_DATA:
        entries += [f'{key}={os.path.join(args.data, name)}' for key, name in data_keys.items()]
    if args.quick:
        entries += QUICK.get(stage, ())
    options = read_option_file(option_file)
    entries += [e for e in args.force_yml or () if ':' not in e.partition('=')[0] or e.split(':')[0] in options]
    apply_overrides(options, entries)  # a malformed entry stops the demo before any stage runs
    return ['--force_yml', *entries] if entries else []


def main(argv: list[str] | None = None) -> dict:
    """Runs the demo; returns the table's scores: {row: (PSNR, SSIM)}."""
    parser = doc_parser(__doc__, epilog_from=None)
    parser.add_argument('--data', default=DEFAULT_DATA, help='demo data folder (made if missing)')
    parser.add_argument('--quick', action='store_true', help='a few iterations per stage, to check an installation')
    parser.add_argument(
        '--force_yml',
        nargs='+',
        metavar='KEY=VALUE',
        help='passed to every stage whose option file has the section, e.g. train:total_iter=20 (BasicSR syntax)',
    )
    args = parser.parse_args(argv)

    from clearer_basicsr.data.demo_data import make_demo_data

    start = time.time()
    stages = []
    for stage, entry, name, data_keys in STAGES:
        option_file = os.path.join(PACKAGE_OPTIONS, name)
        stages.append((stage, entry, option_file, stage_overrides(stage, option_file, data_keys, args)))
    used = {entry for *_, overrides in stages for entry in overrides}
    for entry in args.force_yml or ():
        if entry not in used:
            raise UserInputError(f'--force_yml {entry!r}: no stage has the section {entry.split(":")[0]!r}')
    make_demo_data(args.data)
    for stage, entry, option_file, overrides in stages:
        run_stage(stage, entry, option_file, overrides, show=SHOWN)

    from clearer_basicsr.archs.decisions import column_decisions, decision_table
    from clearer_basicsr.search_result import SearchResult

    found = SearchResult.in_folder('experiments/demo_clearer_search')
    genotype = found.genotype
    tested = read_metrics('results/demo_clearer_test')['datasets']['demo_test']
    net = tested['average']
    scores = {
        'noisy input': noisy_input_scores(os.path.join(args.data, 'test')),
        'CLEARER (derived net)': (net['psnr'], net['ssim']),
    }
    count = len(tested['images'])
    minutes, seconds = divmod(int(time.time() - start), 60)
    lines = [
        '',
        f'CLEARER demo: gray denoising, sigma 30, scikit-image demo data ({minutes} min {seconds:02d} s)',
        f'{"genotype":<24}{genotype}',
        f'{"parameters":<24}{found.params:,}',
        f'{"MACs":<24}{found.macs:,} (per {found.patch_size}x{found.patch_size} patch, mmengine count)',
        '',
        'how firmly the search decided each column (decided: winning weight >= 0.6):',
        *decision_table(
            column_decisions(
                [list(w.values()) for w in found.column_weights],
                genotype.columns_per_cell,
                list(found.column_weights[0]),
            )
        ),
        '',
        f'{"test images (" + str(count) + ")":<24}{"PSNR (dB)":>10}{"SSIM":>8}',
    ]
    lines += [f'{name:<24}{psnr:>10.2f}{ssim:>8.4f}' for name, (psnr, ssim) in scores.items()]
    lines += [
        '',
        'files:',
        '  search    experiments/demo_clearer_search/ (genotype.yml, column_weights.png, log)',
        '  retrain   experiments/demo_clearer_train/models/net_g_latest.pth',
        '  test      results/demo_clearer_test/ (metrics.json, log, visualization/demo_test/*.png)',
        '  tensorboard --logdir tb_logger',
        f'  options   {PACKAGE_OPTIONS}/demo_*.yml',
    ]
    print('\n'.join(lines))
    return scores


if __name__ == '__main__':
    run(main)
