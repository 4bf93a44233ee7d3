"""Denoising data for BasicSR: clean images, with additive white Gaussian noise made on the fly."""

import hashlib
import os

import cv2
import numpy as np
import torch
from basicsr.utils import FileClient, img2tensor
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data
from torchvision.transforms.functional import normalize

from .lmdb_io import list_images

PHASES = ('train', 'val', 'test')


def _read_meta_names(meta_file, root):
    """Image names of a BasicSR meta_info file: the first token of each non-empty line."""
    if not os.path.isfile(meta_file):
        raise FileNotFoundError(f'meta_info_file {meta_file!r} (for dataroot_gt {root!r}) does not exist')
    with open(meta_file) as f:
        return [line.split()[0] for line in f if line.strip()]


def bgr_to_luma(img):
    """Full-range luma 0.299R + 0.587G + 0.114B of a uint8 BGR image, rounded to 8-bit levels
    as PIL's ``convert('L')`` (the reference's gray data) does; returns H x W x 1 uint8."""
    b, g, r = (img[..., i].astype(np.float32) for i in range(3))
    return np.round(0.299 * r + 0.587 * g + 0.114 * b).astype(np.uint8)[..., None]


@DATASET_REGISTRY.register()
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
        quantize (bool): clip ``lq`` to [0, 255] and round to 8-bit levels, as the reference
            did; default off (float noise as DnCNN / KAIR, ``lq`` may leave [0, 1]).
        mean, std (list, optional): normalisation of ``lq`` and ``gt``, as BasicSR's datasets.

    Items: ``lq``, ``gt`` (float32 C x H x W, [0, 1] before noise / normalisation),
    ``lq_path``, ``gt_path`` (the file, or the LMDB key) and ``sigma``.
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.phase = self._option('phase')
        if self.phase not in PHASES:
            raise ValueError(f'GaussianNoiseDataset: phase={self.phase!r}, expected one of {PHASES}')
        self.in_ch = opt.get('in_ch', 3)
        if self.in_ch not in (1, 3):
            raise ValueError(f'GaussianNoiseDataset: in_ch={self.in_ch!r}, expected 1 (luma) or 3 (RGB)')
        self.sigma, self.sigma_range = self._parse_sigma(opt.get('sigma'), opt.get('sigma_range'))
        self.quantize = bool(opt.get('quantize', False))
        self.noise_seed = int(opt.get('noise_seed', 0))
        if self.noise_seed < 0:
            raise ValueError(f'GaussianNoiseDataset: noise_seed={self.noise_seed}, expected >= 0')
        self.mean, self.std = opt.get('mean'), opt.get('std')
        if (self.mean is None) != (self.std is None):
            raise ValueError(
                f'GaussianNoiseDataset: give both mean and std or neither, got mean={self.mean}, std={self.std}'
            )
        for name, value in (('mean', self.mean), ('std', self.std)):
            if value is not None and len(value) != self.in_ch:
                raise ValueError(
                    f'GaussianNoiseDataset: {name}={value} needs one value per channel (in_ch={self.in_ch})'
                )
        if self.phase == 'train':
            self.gt_size = int(self._option('gt_size'))
            if self.gt_size <= 0:
                raise ValueError(f'GaussianNoiseDataset: gt_size={self.gt_size}, expected a positive patch size')
            self.use_hflip = bool(opt.get('use_hflip', False))
            self.use_rot = bool(opt.get('use_rot', False))

        self.io_backend_opt = dict(opt.get('io_backend') or {'type': 'disk'})
        self.backend = self.io_backend_opt.pop('type', 'disk')
        if self.backend not in ('disk', 'lmdb'):
            raise ValueError(f"GaussianNoiseDataset: io_backend type {self.backend!r}, expected 'disk' or 'lmdb'")
        self.root = self._option('dataroot_gt')
        if not os.path.isdir(self.root):
            kind = 'LMDB' if self.backend == 'lmdb' else 'image folder'
            raise FileNotFoundError(f'dataroot_gt: {kind} {self.root!r} does not exist')
        self.meta_info_file = opt.get('meta_info_file')
        if self.backend == 'lmdb':
            self.meta_info_file = self.meta_info_file or os.path.join(self.root, 'meta_info.txt')
            self.keys = [os.path.splitext(n)[0] for n in _read_meta_names(self.meta_info_file, self.root)]
            self.paths = list(self.keys)  # BasicSR's convention: an LMDB image's path is its key
        else:
            names = _read_meta_names(self.meta_info_file, self.root) if self.meta_info_file else list_images(self.root)
            self.keys = [os.path.splitext(n)[0].replace(os.sep, '/') for n in names]
            self.paths = [os.path.join(self.root, n) for n in names]
        if not self.keys:
            raise ValueError(
                f'GaussianNoiseDataset: no images in dataroot_gt {self.root!r}'
                + (f' (meta_info_file {self.meta_info_file!r})' if self.meta_info_file else '')
            )
        self.file_client = None  # opened in the worker that reads, as BasicSR does (LMDB handles don't fork)

    def _option(self, key):
        if key not in self.opt:
            hint = ' (BasicSR sets it from the datasets entry: train / val* / test*)' if key == 'phase' else ''
            raise KeyError(f"GaussianNoiseDataset: option '{key}' is missing{hint}")
        return self.opt[key]

    @staticmethod
    def _parse_sigma(sigma, sigma_range):
        if (sigma is None) == (sigma_range is None):
            raise ValueError(
                f'GaussianNoiseDataset: give exactly one of sigma (fixed) or sigma_range '
                f'(blind), got sigma={sigma!r}, sigma_range={sigma_range!r}'
            )
        if sigma is not None:
            if float(sigma) < 0:
                raise ValueError(f'GaussianNoiseDataset: sigma={sigma}, expected >= 0 (0-255 scale)')
            return float(sigma), None
        if len(sigma_range) != 2 or not 0 <= float(sigma_range[0]) <= float(sigma_range[1]):
            raise ValueError(f'GaussianNoiseDataset: sigma_range={sigma_range!r}, expected [lo, hi] with 0 <= lo <= hi')
        return None, (float(sigma_range[0]), float(sigma_range[1]))

    def __len__(self):
        return len(self.keys)

    def _read(self, index):
        """The clean image as uint8, H x W x 3 BGR or H x W x 1 luma."""
        if self.file_client is None:
            kwargs = dict(self.io_backend_opt)
            if self.backend == 'lmdb':
                kwargs.update(db_paths=[self.root], client_keys=['gt'])
            self.file_client = FileClient(self.backend, **kwargs)
        path = self.paths[index]
        buf = self.file_client.get(path, 'gt')
        if buf is None:  # basicsr's LmdbBackend answers None for an absent key
            raise KeyError(f'key {path!r} not found in LMDB {self.root!r} (listed in {self.meta_info_file!r})')
        # OpenCV asserts (a cv2.error naming no file) on an empty buffer: treat it as undecodable
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR) if len(buf) else None
        if img is None:
            where = f'LMDB {self.root!r}, key {path!r}' if self.backend == 'lmdb' else repr(path)
            raise ValueError(f'cannot decode image {where}: unreadable, truncated or not an image')
        return bgr_to_luma(img) if self.in_ch == 1 else img

    def _rng(self, index):
        if self.phase == 'train':
            # BasicSR's worker_init_fn re-seeds numpy and random identically every epoch;
            # torch seeds each worker afresh per epoch (and from BasicSR's manual_seed).
            return np.random.default_rng(int(torch.randint(2**62, ())))
        # A local generator per image: fixed noise, and training's random streams untouched.
        digest = hashlib.sha256(self.keys[index].encode('utf-8')).digest()
        return np.random.default_rng([self.noise_seed, int.from_bytes(digest[:8], 'little')])

    def _crop_and_augment(self, img, rng, index):
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

    def __getitem__(self, index):
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
