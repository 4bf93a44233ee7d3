"""``python -m clearer_basicsr.demo`` (console script ``clearer-demo``): the whole CLEARER flow
on the built-in demo data, in minutes on a CPU.

1. makes the demo data (``datasets/demo``, from images bundled with scikit-image) if missing;
2. searches an architecture  (``clearer_basicsr/options/demo_search.yml``);
3. retrains the derived net  (``demo_train.yml``, genotype read from the search's genotype.yml);
4. tests it                  (``demo_test.yml``: whole images, 8-way self-ensemble);
5. prints a table: genotype, parameters, MACs, PSNR/SSIM of the noisy input and of the net.

Each stage runs ``python -m clearer_basicsr.train|test -opt <file>`` in the current directory,
exactly what a user would type; the option files are printed so they can be copied and edited.
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import time

OPTIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'options')
STAGES = (
    ('search', 'train', 'demo_search.yml'),
    ('retrain', 'train', 'demo_train.yml'),
    ('test', 'test', 'demo_test.yml'),
)


# Lines of BasicSR's output worth showing live; the full log is in the experiment folder.
SHOWN = re.compile(r'\[eta:|Genotype|# psnr|# ssim|Validation|Resuming|Error|error:')


def run_stage(title, entry, option_file, extra_args):
    cmd = [sys.executable, '-m', f'clearer_basicsr.{entry}', '-opt', option_file, *extra_args]
    print(f'\n=== {title}: python {" ".join(cmd[1:])}', flush=True)
    start, tail = time.time(), collections.deque(maxlen=60)
    # The demo's nets are tiny: intra-op threads gain little on them and, on a small or busy
    # machine, oversubscribe the cores (many times slower). One thread unless the user says.
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        for line in proc.stdout:
            tail.append(line)
            if SHOWN.search(line):
                print('   ', line.rstrip()[:160], flush=True)
    if proc.returncode:
        sys.stdout.write(''.join(tail))
        raise SystemExit(f'demo stage {title!r} failed (exit code {proc.returncode}): {" ".join(cmd)}')
    print(f'=== {title} done in {time.time() - start:.0f} s', flush=True)


def score(test_dir, results_dir, suffix, sigma=30):
    """PSNR/SSIM of the noisy inputs and of the saved outputs against the clean images,
    on the same seeded noise the test run saw."""
    import cv2
    import numpy as np
    from basicsr.metrics import calculate_psnr, calculate_ssim
    from basicsr.utils import tensor2img

    from .data.gaussian_noise_dataset import GaussianNoiseDataset

    dataset = GaussianNoiseDataset(
        {'dataroot_gt': test_dir, 'io_backend': {'type': 'disk'}, 'in_ch': 1, 'sigma': sigma, 'phase': 'test'}
    )
    rows = {'noisy input': [], 'CLEARER (derived net)': []}
    for item in dataset:
        gt, noisy = tensor2img(item['gt']), tensor2img(item['lq'])
        name = os.path.splitext(os.path.basename(item['gt_path']))[0]
        out_path = os.path.join(results_dir, f'{name}_{suffix}.png')
        out = cv2.imread(out_path, cv2.IMREAD_UNCHANGED)
        if out is None:
            raise FileNotFoundError(f'test output {out_path!r} is missing')
        for key, img in (('noisy input', noisy), ('CLEARER (derived net)', out)):
            rows[key].append(
                (
                    calculate_psnr(img, gt, 0),
                    calculate_ssim(img[..., None] if img.ndim == 2 else img, gt[..., None] if gt.ndim == 2 else gt, 0),
                )
            )
    return {k: tuple(float(np.mean(col)) for col in zip(*v)) for k, v in rows.items()}, len(dataset)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--data', default='datasets/demo', help='demo data folder (made if missing)')
    parser.add_argument(
        '--force_yml', nargs='+', default=None, help='passed to every stage, e.g. train:total_iter=20 (BasicSR syntax)'
    )
    args = parser.parse_args(argv)

    from .data.demo import make_demo_data

    start = time.time()
    make_demo_data(args.data)
    extra = ['--force_yml', *args.force_yml] if args.force_yml else []
    for title, entry, name in STAGES:
        run_stage(title, entry, os.path.join(OPTIONS_DIR, name), extra)

    import yaml

    from .archs.genotype import Genotype

    with open('experiments/demo_clearer_search/genotype.yml') as f:
        found = yaml.safe_load(f)
    genotype = Genotype.from_any(found)
    scores, count = score(
        os.path.join(args.data, 'test'), 'results/demo_clearer_test/visualization/demo_test', 'clearer'
    )
    minutes, seconds = divmod(int(time.time() - start), 60)
    lines = [
        '',
        f'CLEARER demo: gray denoising, sigma 30, scikit-image demo data ({minutes} min {seconds:02d} s)',
        f'{"genotype":<24}{genotype}',
        f'{"parameters":<24}{found["params"]:,}',
        f'{"MACs":<24}{found["macs"]:,} (per {found["patch_size"]}x{found["patch_size"]} patch, mmengine count)',
        '',
        f'{"test images (" + str(count) + ")":<24}{"PSNR (dB)":>10}{"SSIM":>8}',
    ]
    lines += [f'{name:<24}{psnr:>10.2f}{ssim:>8.4f}' for name, (psnr, ssim) in scores.items()]
    lines += [
        '',
        'files:',
        '  search    experiments/demo_clearer_search/ (genotype.yml, column_weights.png, log)',
        '  retrain   experiments/demo_clearer_train/models/net_g_latest.pth',
        '  test      results/demo_clearer_test/ (log, visualization/demo_test/*.png)',
        '  tensorboard --logdir tb_logger',
        f'  options   {OPTIONS_DIR}/demo_*.yml',
    ]
    print('\n'.join(lines))
    return scores


if __name__ == '__main__':
    main()
