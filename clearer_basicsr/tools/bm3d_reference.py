"""BM3D, the classic non-learned denoiser, on the test sets of a test option file:
``python -m clearer_basicsr.tools.bm3d_reference -opt options/X_test.yml``.

It reads the same noisy images the test run sees (a GaussianNoiseDataset in its test phase
seeds the noise per image), denoises them with BM3D at the dataset's noise level, scores them with
the file's ``val: metrics`` and writes ``results/<name>_bm3d/metrics.json`` in the test run's
layout, so that the evaluation and compare tables read it like any other network. Needs the
optional package ``bm3d`` (``pip install clearer-basicsr[bm3d]``; free for non-commercial use,
see its licence).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.files import atomic_write
from clearer_basicsr.tools.cli import doc_parser


def bm3d_available() -> bool:
    import importlib.util

    return importlib.util.find_spec('bm3d') is not None


def denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D of an H x W x C float image in [0, 1] at noise std ``sigma`` (0-255 scale)."""
    import bm3d

    if noisy.shape[2] == 1:
        return bm3d.bm3d(noisy[..., 0], sigma_psd=sigma / 255.0)[..., None]
    return bm3d.bm3d_rgb(noisy, sigma_psd=sigma / 255.0)


def score_dataset(dataset_opt: dict, metrics: dict) -> dict[str, Any]:
    """Per image and average metrics of BM3D on one GaussianNoiseDataset (test phase)."""
    import torch
    from basicsr.data import build_dataset

    from clearer_basicsr.inference import mean_scores, score_images

    def restore(item: dict[str, Any]) -> torch.Tensor:
        noisy = item['lq'].numpy().transpose(1, 2, 0).astype(np.float64)
        return torch.from_numpy(denoise(noisy, float(item['sigma'])).transpose(2, 0, 1))[None]

    images = score_images(build_dataset(dict(dataset_opt, phase='test')), restore, metrics)
    return {'options': dataset_opt, 'average': mean_scores(images, metrics), 'images': images}


def main(argv: list[str] | None = None) -> str:
    """Writes ``results/<name>_bm3d/metrics.json`` for the option file's test sets; returns its path."""
    parser = doc_parser(__doc__, prog='python -m clearer_basicsr.tools.bm3d_reference')
    parser.add_argument('-opt', required=True, help='a test option file (datasets, val: metrics)')
    args = parser.parse_args(argv)
    if not bm3d_available():
        raise UserInputError('the bm3d package is not installed: pip install bm3d (or clearer-basicsr[bm3d])')
    import clearer_basicsr  # noqa: F401  (registers the datasets)
    from clearer_basicsr.option_file import read_option_file

    opt = read_option_file(args.opt)
    metrics = (opt.get('val') or {}).get('metrics') or {}
    if not metrics:
        raise UserInputError(f'{args.opt}: val: metrics is empty; expected e.g. psnr: {{type: calculate_psnr}}')
    datasets = [d for key, d in (opt.get('datasets') or {}).items() if key.startswith('test') or key.startswith('val')]
    if not datasets or any(
        d.get('type') not in ('GaussianNoiseDataset', 'CLEARERGaussianNoiseDataset') for d in datasets
    ):
        raise UserInputError(f'{args.opt}: BM3D needs GaussianNoiseDataset test sets (clean images, known sigma)')
    start = time.time()
    report = {'name': f'{opt["name"]}_bm3d', 'network_g': {'type': 'BM3D'}, 'checkpoint': None, 'datasets': {}}
    for dataset_opt in datasets:
        report['datasets'][dataset_opt['name']] = score_dataset(dataset_opt, metrics)
    report['seconds'] = round(time.time() - start, 1)
    folder = os.path.join('results', report['name'])
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, 'metrics.json')
    with atomic_write(path) as f:
        json.dump(report, f, indent=1)
    return path


if __name__ == '__main__':
    from _clearer_basicsr_cli import run

    run(main)
