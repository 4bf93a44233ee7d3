"""Denoising data for BasicSR: clean images, with additive white Gaussian noise made on the fly."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import torch
from basicsr.utils import img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data
from torchvision.transforms.functional import normalize

from ..errors import DataError
from ..option_rules import Boolean, OptionError, at_least, fail, key_path, number, one_of, required
from ..registration import register
from .data_util import bgr_to_luma, dataset_image_names, image_key, lmdb_environment, meta_info_path, require_data_roots

PHASES = ('train', 'val', 'test')
SIGMA_MAX = 255.0


def parse_sigma(opt: Mapping[str, Any], where: str) -> tuple[float | None, tuple[float, float] | None]:
    """``(sigma, None)`` for a fixed noise level or ``(None, (lo, hi))`` for blind denoising."""
    sigma, sigma_range = opt.get('sigma'), opt.get('sigma_range')
    if (sigma is None) == (sigma_range is None):
        raise OptionError(
            f'{where}: sigma = {sigma!r}, sigma_range = {sigma_range!r}: expected exactly one of sigma (fixed '
            'noise level) or sigma_range (blind: [lo, hi])'
        )
    if sigma is not None:
        value = number(key_path(where, 'sigma'), sigma)
        if not 0 <= value <= SIGMA_MAX:
            fail(key_path(where, 'sigma'), sigma, f'a noise level on the 0-255 scale, in [0, {SIGMA_MAX:g}]')
        return value, None
    range_key, expected = key_path(where, 'sigma_range'), f'[lo, hi] with 0 <= lo <= hi <= {SIGMA_MAX:g}'
    if not isinstance(sigma_range, (list, tuple)) or len(sigma_range) != 2:
        fail(range_key, sigma_range, expected)
    lo, hi = (number(range_key, v) for v in sigma_range)
    if not 0 <= lo <= hi <= SIGMA_MAX:
        fail(range_key, sigma_range, expected)
    return None, (lo, hi)


@register(DATASET_REGISTRY, 'CLEARERGaussianNoiseDataset')
class GaussianNoiseDataset(data.Dataset):
    """Clean images from a folder or an LMDB; ``lq`` is ``gt`` plus Gaussian noise.

    Options (the dict BasicSR passes):
        dataroot_gt (str): image folder, or a BasicSR LMDB (``io_backend: {type: lmdb}``).
        io_backend (dict): ``{type: disk}`` (default) or ``{type: lmdb}``.
        meta_info_file (str, optional): image names, first token per line (BasicSR format).
            Folders default to every image in the folder; LMDBs to their ``meta_info.txt``.
            LMDB keys are the names without extension.
        in_ch (1 | 3): 1 = full-range luma 0.299R+0.587G+0.114B of the RGB image, rounded to
            8-bit levels (as the reference's PIL ``convert('L')``), as H x W x 1 arrays;
            3 = RGB. Conversions: a grayscale file in a colour set is replicated to 3 channels;
            an alpha channel is dropped; 16-bit files are read as 8-bit (OpenCV ``IMREAD_COLOR``).
        sigma (float): noise standard deviation on the 0-255 scale, or
        sigma_range ([lo, hi]): blind denoising, sigma drawn uniformly per sample.
        phase (str): set by BasicSR. 'train': random ``gt_size`` crops, ``use_hflip`` /
            ``use_rot`` (default off) and fresh noise every time. 'val' / 'test': whole
            images, noise (and sigma) seeded per image from a hash of its key and
            ``noise_seed`` (default 0), so every run and every epoch sees the same noisy inputs.
        max_images (int, optional): read only the first N images (in name order): a search's
            validation of its supernet on a few held-apart images.
        quantize (bool): clip ``lq`` to [0, 255] and round to 8-bit levels, as the reference
            did; default off (float noise as DnCNN / KAIR, ``lq`` may leave [0, 1]).
        mean, std (list, optional): normalisation of ``lq`` and ``gt``, as BasicSR's datasets.

    Items: ``lq``, ``gt`` (float32 C x H x W, [0, 1] before noise / normalisation),
    ``lq_path``, ``gt_path`` (the file, or the LMDB key) and ``sigma``.
    """

    def __init__(self, opt: dict) -> None:
        super().__init__()
        self.opt = opt
        where = type(self).__name__
        vars(self).update(self.read_options(opt, where))  # phase, in_ch, sigma, sigma_range, gt_size, ...
        require_data_roots(opt, where)
        self.root = opt['dataroot_gt']
        self.meta_info_file = meta_info_path(opt)
        names = dataset_image_names(opt)[: self.max_images]
        self.keys = [image_key(n) for n in names]
        # BasicSR's convention: an LMDB image's path is its key
        self.paths = list(self.keys) if self.backend == 'lmdb' else [os.path.join(self.root, n) for n in names]
        if not self.keys:
            raise OptionError(
                f'{where}: dataroot_gt = {self.root!r}: no images in it'
                + (f' (meta_info_file {self.meta_info_file!r})' if self.meta_info_file else '')
            )

    @classmethod
    def check_options(cls, opt: Mapping[str, Any], where: str) -> None:
        cls.read_options(opt, where)

    @classmethod
    def image_channels(cls, opt: Mapping[str, Any]) -> int:
        """Channels of the images the dataset gives (``in_ch``, default 3)."""
        return opt.get('in_ch', 3)

    @staticmethod
    def read_options(opt: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The settings of ``opt`` the constructor keeps, after checking them (no file is read)."""
        phase_hint = 'train, val or test (BasicSR sets it from the datasets entry: train / val* / test*)'
        settings = {'phase': one_of(key_path(where, 'phase'), required(opt, 'phase', where, phase_hint), PHASES)}
        settings['in_ch'] = in_ch = opt.get('in_ch', 3)
        if in_ch not in (1, 3):
            fail(key_path(where, 'in_ch'), in_ch, '1 (luma) or 3 (RGB)')
        settings['sigma'], settings['sigma_range'] = parse_sigma(opt, where)
        settings['quantize'] = Boolean().check(key_path(where, 'quantize'), opt.get('quantize', False))
        limit = opt.get('max_images')
        settings['max_images'] = (
            None if limit is None else at_least(key_path(where, 'max_images'), limit, 1, 'a count', integer=True)
        )
        seed = opt.get('noise_seed', 0)
        settings['noise_seed'] = at_least(key_path(where, 'noise_seed'), seed, 0, 'a seed', integer=True)
        settings['mean'], settings['std'] = mean, std = opt.get('mean'), opt.get('std')
        if (mean is None) != (std is None):
            raise OptionError(f'{where}: mean = {mean!r}, std = {std!r}: expected both or neither')
        for name, value in (('mean', mean), ('std', std)):
            if value is not None and len(value) != in_ch:
                fail(key_path(where, name), value, f'one value per channel (in_ch = {in_ch})')
        if settings['phase'] == 'train':
            size = required(opt, 'gt_size', where, 'the size of the training crops')
            settings['gt_size'] = number(key_path(where, 'gt_size'), size, positive=True, integer=True)
            for flag in ('use_hflip', 'use_rot'):  # bool('false') would be True
                settings[flag] = Boolean().check(key_path(where, flag), opt.get(flag, False))
        settings['io_backend_opt'] = dict(opt.get('io_backend') or {'type': 'disk'})
        backend = settings['io_backend_opt'].pop('type', 'disk')
        settings['backend'] = one_of(key_path(where, 'io_backend: type'), backend, ('disk', 'lmdb'))
        required(opt, 'dataroot_gt', where, 'an image folder or a BasicSR LMDB')
        return settings

    def __len__(self) -> int:
        return len(self.keys)

    def _read(self, index: int) -> np.ndarray:
        """The clean image as uint8, H x W x 3 BGR or H x W x 1 luma."""
        path = self.paths[index]
        if self.backend == 'lmdb':
            with lmdb_environment(self.root).begin(write=False) as txn:
                buf = txn.get(path.encode('ascii'))
        else:
            with open(path, 'rb') as f:
                buf = f.read()
        if buf is None:  # basicsr's LmdbBackend answers None for an absent key
            raise KeyError(f'key {path!r} not found in LMDB {self.root!r} (listed in {self.meta_info_file!r})')
        # OpenCV asserts (a cv2.error naming no file) on an empty buffer: treat it as undecodable
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR) if len(buf) else None
        if img is None:
            where = f'LMDB {self.root!r}, key {path!r}' if self.backend == 'lmdb' else repr(path)
            raise DataError(f'cannot decode image {where}: unreadable, truncated or not an image')
        return bgr_to_luma(img)[..., None] if self.in_ch == 1 else img

    def _rng(self, index: int) -> np.random.Generator:
        if self.phase == 'train':
            # BasicSR's worker_init_fn re-seeds numpy and random identically every epoch;
            # torch seeds each worker afresh per epoch (and from BasicSR's manual_seed).
            return np.random.default_rng(int(torch.randint(2**62, ())))
        # A local generator per image: fixed noise, and training's random streams untouched.
        digest = hashlib.sha256(self.keys[index].encode('utf-8')).digest()
        return np.random.default_rng([self.noise_seed, int.from_bytes(digest[:8], 'little')])

    def _crop_and_augment(self, img: np.ndarray, rng: np.random.Generator, index: int) -> np.ndarray:
        h, w = img.shape[:2]
        size = self.gt_size
        if h < size or w < size:
            raise ValueError(
                f'image {self.paths[index]!r} is {h}x{w} (HxW), smaller than gt_size={size} (dataroot_gt {self.root!r})'
            )
        top, left = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        img = img[top : top + size, left : left + size]
        # the 8 flips / rotations, as basicsr.data.transforms.augment
        if self.use_hflip and rng.random() < 0.5:
            img = img[:, ::-1]
        if self.use_rot:
            if rng.random() < 0.5:
                img = img[::-1]
            if rng.random() < 0.5:
                img = img.transpose(1, 0, 2)
        return np.ascontiguousarray(img)

    def __getitem__(self, index: int) -> dict[str, Any]:
        img = self._read(index)
        rng = self._rng(index)
        if self.phase == 'train':
            img = self._crop_and_augment(img, rng, index)
        gt = img.astype(np.float32) / 255.0
        sigma = self.sigma if self.sigma is not None else float(rng.uniform(*self.sigma_range))
        lq = gt + rng.standard_normal(gt.shape, dtype=np.float32) * np.float32(sigma / 255.0)
        if self.quantize:
            lq = np.clip(np.round(lq * 255.0), 0, 255).astype(np.float32) / 255.0
        gt, lq = img2tensor([gt, lq], bgr2rgb=True, float32=True)
        if self.mean is not None:
            normalize(lq, self.mean, self.std, inplace=True)
            normalize(gt, self.mean, self.std, inplace=True)
        path = self.paths[index]
        return {'lq': lq, 'gt': gt, 'lq_path': path, 'gt_path': path, 'sigma': sigma}
