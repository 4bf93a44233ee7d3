"""Demo data: disjoint splits (near-duplicates included), LMDB = folders, sizes, readable, rebuilt only when needed."""

import itertools
import os
import shutil

import cv2
import numpy as np

import clearer_basicsr  # noqa: F401
from clearer_basicsr.data import demo_data as demo
from clearer_basicsr.data.data_util import list_images, lmdb_transaction
from clearer_basicsr.data.gaussian_noise_dataset import GaussianNoiseDataset
from clearer_basicsr.data.lmdb_io import read_lmdb_keys


def _thumb(img):
    """An 8 x 8 zero-mean unit-norm gray thumbnail: near-duplicate photos (a stereo pair
    included, whose small disparity the coarse grid hides) correlate close to 1."""
    gray = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (8, 8), interpolation=cv2.INTER_AREA)
    v = gray.astype(np.float64).ravel()
    v -= v.mean()
    return v / (np.linalg.norm(v) + 1e-12)


def _folder_images(paths, split):
    folder = paths[f'{split}_folder']
    return {
        os.path.splitext(n)[0]: cv2.imread(os.path.join(folder, n), cv2.IMREAD_UNCHANGED) for n in list_images(folder)
    }


def test_splits_are_disjoint_by_name_and_by_content(demo_data):
    names = {split: set(_folder_images(demo_data, split)) for split in demo.SPLITS}
    assert names == {split: set(v) for split, v in demo.SPLITS.items()}
    for a, b in itertools.combinations(names, 2):
        assert not names[a] & names[b], f'{a} and {b} share {names[a] & names[b]}'
    for group in demo.DUPLICATE_GROUPS:
        used = {split for split, members in names.items() for name in group if name in members}
        assert len(used) <= 1, f'near-duplicates {group} spread over splits {used}'

    # by content: the detector sees the known near-duplicates ...
    from skimage import data

    assert _thumb(data.cat()[..., ::-1].copy()) @ _thumb(data.chelsea()[..., ::-1].copy()) > 0.95
    train = _folder_images(demo_data, 'train')
    assert _thumb(train['motorcycle_left']) @ _thumb(train['motorcycle_right']) > 0.85
    # ... and finds none across splits
    thumbs = {split: {n: _thumb(img) for n, img in _folder_images(demo_data, split).items()} for split in demo.SPLITS}
    for a, b in itertools.combinations(thumbs, 2):
        for (na, ta), (nb, tb) in itertools.product(thumbs[a].items(), thumbs[b].items()):
            assert ta @ tb < 0.8, f'{a}/{na} and {b}/{nb} look alike'


def test_sizes_and_channels(demo_data):
    for split in demo.SPLITS:
        for name, img in _folder_images(demo_data, split).items():
            assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
            assert max(img.shape[:2]) <= demo.LONG_SIDE[split], (split, name, img.shape)
            assert min(img.shape[:2]) >= demo.MIN_SHORT_SIDE, (split, name, img.shape)
    assert demo.LONG_SIDE['test'] <= 160 and demo.LONG_SIDE['train'] <= 256
    # grayscale sources are replicated, so their luma is the original gray image
    camera = _folder_images(demo_data, 'test')['camera']
    assert np.array_equal(camera[..., 0], camera[..., 1]) and np.array_equal(camera[..., 1], camera[..., 2])


def test_lmdbs_match_the_folders(demo_data):
    for split in demo.SPLITS:
        images = _folder_images(demo_data, split)
        lmdb_path = demo_data[f'{split}_lmdb']
        keys = read_lmdb_keys(lmdb_path)
        assert sorted(keys) == sorted(images)
        with lmdb_transaction(lmdb_path) as txn:  # the process's environment, where a dataset holds one
            for key in keys:
                decoded = cv2.imdecode(np.frombuffer(txn.get(key.encode()), np.uint8), cv2.IMREAD_UNCHANGED)
                assert np.array_equal(decoded, images[key]), (split, key)


def test_dataset_reads_every_split(demo_data):
    for split in demo.SPLITS:
        train = GaussianNoiseDataset(
            dict(
                dataroot_gt=demo_data[f'{split}_lmdb'],
                io_backend={'type': 'lmdb'},
                phase='train',
                in_ch=3,
                sigma=25,
                gt_size=64,
                use_hflip=True,
                use_rot=True,
            )
        )
        assert len(train) == len(demo.SPLITS[split])
        for i in range(len(train)):
            assert train[i]['gt'].shape == (3, 64, 64)
    test = GaussianNoiseDataset(dict(dataroot_gt=demo_data['test_folder'], phase='test', in_ch=1, sigma=25))
    shapes = {os.path.basename(test[i]['gt_path']): tuple(test[i]['gt'].shape) for i in range(len(test))}
    assert shapes == {'astronaut.png': (1, 160, 160), 'camera.png': (1, 160, 160), 'coins.png': (1, 126, 160)}


def test_rebuilds_only_when_incomplete(demo_data, tmp_path, capsys):
    out = str(tmp_path / 'demo')
    shutil.copytree(demo_data['root'], out)
    readme_mtime = os.stat(os.path.join(out, 'README.txt')).st_mtime_ns
    demo.main(['--out', out])
    assert 'already complete' in capsys.readouterr().out
    assert os.stat(os.path.join(out, 'README.txt')).st_mtime_ns == readme_mtime

    os.remove(os.path.join(out, 'test', 'coins.png'))
    assert not demo.is_complete(out)
    demo.make_demo_data(out)
    assert demo.is_complete(out)
    assert os.path.isfile(os.path.join(out, 'test', 'coins.png'))
    readme = open(os.path.join(out, 'README.txt')).read()
    assert all(name in readme for names in demo.SPLITS.values() for name in names)
