"""Finding test images inside the splits that train weights or choose an architecture.

Two kinds of copy are looked for, on the luma of each image so that a colour JPEG and a gray PNG
of one photo match: the whole photo (same size: a 32x32 signature), and a crop of it, in any of
the 8 flips / rotations (a smaller training image, as DnCNN's 180x180 Train400 crops of BSD
photos). Crops are located at a quarter of the size, then confirmed pixel by pixel at full size.
"""

from __future__ import annotations

import cv2
import numpy as np
from tqdm import tqdm

from .inputs import read_image

SIGNATURE_LEVELS = 3.0  # mean |difference| of 32x32 signatures: different photos differ by tens of levels
COARSE = 4  # crops are first located at 1/COARSE of the size
COARSE_MSE = 600.0  # a candidate place at the coarse size (misaligned sampling of a true crop stays below)
CROP_MSE = 50.0  # a crop at full size: JPEG-vs-PNG and luma rounding stay far below, other content far above


def luma(path: str) -> np.ndarray:
    """The image's full-range luma as float32 (colour and gray files of one photo agree)."""
    return read_image(path, gray=True).astype(np.float32)


def shrink(img: np.ndarray) -> np.ndarray:
    """``img`` at 1/COARSE of its size, by area averaging."""
    return cv2.resize(img, (img.shape[1] // COARSE, img.shape[0] // COARSE), interpolation=cv2.INTER_AREA)


def signature(img: np.ndarray) -> np.ndarray:
    """A 32x32 thumbnail that survives JPEG-vs-PNG and colour-vs-gray differences."""
    return cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA)


def orientations(img: np.ndarray) -> list[np.ndarray]:
    """The 8 flips / rotations of ``img``."""
    return [np.ascontiguousarray(np.rot90(f, k)) for f in (img, img[:, ::-1]) for k in range(4)]


class TestImage:
    """One test image, kept at full and coarse size with its signature."""

    def __init__(self, name: str, path: str):
        self.name, self.path = name, path
        self.full = luma(path)
        self.small = shrink(self.full)
        self.sig = signature(self.full)

    def same_photo(self, img: np.ndarray) -> bool:
        return img.shape == self.full.shape and float(np.abs(signature(img) - self.sig).mean()) < SIGNATURE_LEVELS

    def holds_crop(self, crops: list[tuple[np.ndarray, np.ndarray]]) -> bool:
        """Whether one of ``crops`` ((full, coarse) pairs, the orientations of one smaller image)
        is a region of this image."""
        for full, small in crops:
            if full.shape[0] > self.full.shape[0] or full.shape[1] > self.full.shape[1]:
                continue
            scores = cv2.matchTemplate(self.small, small, cv2.TM_SQDIFF) / small.size
            for y, x in zip(*np.nonzero(scores < COARSE_MSE)):
                y0, x0 = max(y * COARSE - COARSE, 0), max(x * COARSE - COARSE, 0)
                region = self.full[y0 : y0 + full.shape[0] + 2 * COARSE, x0 : x0 + full.shape[1] + 2 * COARSE]
                if region.shape[0] < full.shape[0] or region.shape[1] < full.shape[1]:
                    continue
                if cv2.matchTemplate(region, full, cv2.TM_SQDIFF).min() / full.size < CROP_MSE:
                    return True
        return False


def find_overlaps(
    extra_sets: dict[str, list[tuple[str, str]]], split_items: dict[str, list[tuple[str, str]]]
) -> dict[str, dict[str, str]]:
    """Images of the splits that are a test image of ``extra_sets`` or a crop of one:
    ``{split: {key: test set}}``."""
    tests = [TestImage(name, path) for name, items in extra_sets.items() for _, path in items]
    found = {}
    for split, items in split_items.items():
        for key, path in tqdm(items, desc=f'overlap check ({split})', unit='img', leave=False):
            img = luma(path)
            crops = None  # made once, for the first test image larger than this one
            for test in tests:
                if test.same_photo(img):
                    found.setdefault(split, {})[key] = test.name
                    break
                if img.size < test.full.size:
                    crops = crops or [(o, shrink(o)) for o in orientations(img)]
                    if test.holds_crop(crops):
                        found.setdefault(split, {})[key] = test.name
                        break
    return found
