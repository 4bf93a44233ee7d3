"""GaussianNoiseDataset: shapes, noise statistics, fixed validation noise, LMDB = folder, errors."""

import os
import random

import cv2
import numpy as np
import pytest
import torch

import clearer_basicsr  # noqa: F401  (compat fixes + registration)
from clearer_basicsr.data.gaussian_noise_dataset import GaussianNoiseDataset
from clearer_basicsr.data.lmdb_io import write_lmdb

H, W = 40, 48


def _rgb(seed, h=H, w=W):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_rgb(folder, name, rgb):
    os.makedirs(folder, exist_ok=True)
    assert cv2.imwrite(os.path.join(folder, name), np.ascontiguousarray(rgb[..., ::-1]))


@pytest.fixture
def folder(tmp_path):
    """Three random colour images of H x W; returns the folder and the RGB arrays by name."""
    root = str(tmp_path / 'clean')
    images = {f'img{i}.png': _rgb(i) for i in range(3)}
    for name, rgb in images.items():
        _write_rgb(root, name, rgb)
    return root, images


def _dataset(root, phase='val', **opt):
    opt.setdefault('sigma', 25)
    return GaussianNoiseDataset(dict(dataroot_gt=root, phase=phase, **opt))


def test_colour_and_gray_shapes_and_values(folder):
    root, images = folder
    rgb = images['img0.png'].astype(np.float64)

    colour = _dataset(root, in_ch=3)[0]
    assert colour['gt'].shape == colour['lq'].shape == (3, H, W)
    assert colour['gt'].dtype == torch.float32
    np.testing.assert_allclose(colour['gt'].numpy().transpose(1, 2, 0), rgb / 255, atol=1e-6)  # RGB order
    assert colour['gt_path'] == colour['lq_path'] == os.path.join(root, 'img0.png')

    gray = _dataset(root, in_ch=1)[0]
    assert gray['gt'].shape == gray['lq'].shape == (1, H, W)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]  # full range, not studio 16-235
    np.testing.assert_allclose(gray['gt'][0].numpy() * 255, luma, atol=0.5 + 1e-3)

    patch = _dataset(root, phase='train', in_ch=1, gt_size=16, use_hflip=True, use_rot=True)[1]
    assert patch['gt'].shape == patch['lq'].shape == (1, 16, 16)


def test_grayscale_file_in_colour_set_is_replicated(tmp_path):
    root = str(tmp_path)
    gray = np.random.default_rng(0).integers(0, 256, (H, W), dtype=np.uint8)
    cv2.imwrite(os.path.join(root, 'gray.png'), gray)
    gt = _dataset(root, in_ch=3)[0]['gt']
    assert gt.shape == (3, H, W)
    for c in range(3):
        np.testing.assert_allclose(gt[c].numpy() * 255, gray, atol=1e-4)
    # and luma of the replicated image gives the gray levels back
    np.testing.assert_allclose(_dataset(root, in_ch=1)[0]['gt'][0].numpy() * 255, gray, atol=1e-4)


def test_fixed_sigma_statistics_and_quantize(tmp_path):
    root = str(tmp_path)
    rgb = _rgb(0, 64, 64)
    rgb[:8], rgb[-8:] = 0, 255  # saturated rows: float noise must leave [0, 1] there
    _write_rgb(root, 'a.png', rgb)
    sigma = 25
    item = _dataset(root, sigma=sigma)[0]
    noise = (item['lq'] - item['gt']).double()
    n = noise.numel()
    # std of a sample std is sigma / sqrt(2n); 5 of those is a safe tolerance
    assert abs(noise.std().item() - sigma / 255) < 5 * sigma / 255 / np.sqrt(2 * n)
    assert abs(noise.mean().item()) < 5 * sigma / 255 / np.sqrt(n)
    assert item['sigma'] == sigma
    assert item['lq'].min() < 0 and item['lq'].max() > 1

    quantized = _dataset(root, sigma=sigma, quantize=True)[0]['lq']
    assert quantized.min() >= 0 and quantized.max() <= 1
    levels = quantized * 255
    assert torch.allclose(levels, levels.round(), atol=1e-3)
    noise = (quantized - item['gt']).double()
    assert abs(noise[:, 8:-8].std().item() - sigma / 255) < 0.1 * sigma / 255  # clipping aside, same noise

    assert torch.equal(_dataset(root, sigma=0)[0]['lq'], item['gt'])


def test_sigma_range_draws_per_sample_sigma_across_the_range(folder):
    root, _ = folder
    lo, hi = 10, 50
    dataset = _dataset(root, phase='train', sigma=None, sigma_range=[lo, hi], gt_size=32)
    torch.manual_seed(0)
    sigmas = []
    for i in range(40):
        item = dataset[i % len(dataset)]
        sigma = item['sigma']
        assert lo <= sigma <= hi
        n = item['gt'].numel()
        measured = (item['lq'] - item['gt']).double().std().item() * 255
        assert abs(measured - sigma) < 5 * sigma / np.sqrt(2 * n)  # the noise has the drawn sigma
        sigmas.append(sigma)
    assert min(sigmas) < lo + 0.25 * (hi - lo) and max(sigmas) > hi - 0.25 * (hi - lo)
    assert len(set(sigmas)) == len(sigmas)

    val = _dataset(root, sigma=None, sigma_range=[lo, hi])
    assert all(lo <= val[i]['sigma'] <= hi for i in range(len(val)))
    assert len({val[i]['sigma'] for i in range(len(val))}) == len(val)  # per image, not one for all


def test_val_noise_is_fixed_per_image_and_leaves_global_rngs_alone(folder):
    root, _ = folder
    a, b = _dataset(root), _dataset(root)
    np.random.seed(1234), random.seed(1234), torch.manual_seed(1234)  # a state no other test leaves
    np_state, py_state, torch_state = np.random.get_state(), random.getstate(), torch.get_rng_state()
    first = a[1]['lq']
    assert torch.equal(first, b[1]['lq'])  # another instance (another run)
    assert torch.equal(first, a[1]['lq'])  # another read (another epoch)
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert random.getstate() == py_state and torch.equal(torch.get_rng_state(), torch_state)

    noise = [(a[i]['lq'] - a[i]['gt']).flatten() for i in range(3)]
    assert abs(torch.corrcoef(torch.stack(noise))[0, 1]) < 0.1  # each image its own noise
    other = _dataset(root, noise_seed=1)[1]
    assert abs(torch.corrcoef(torch.stack([other['lq'] - other['gt'], first - other['gt']]).flatten(1))[0, 1]) < 0.1
    assert torch.equal(_dataset(root, phase='test')[1]['lq'], first)


def test_train_noise_is_fresh_and_follows_torch_seed(folder):
    root, _ = folder
    dataset = _dataset(root, phase='train', gt_size=16, use_hflip=True, use_rot=True)
    torch.manual_seed(3)
    x, y = dataset[0], dataset[0]
    assert not torch.equal(x['lq'] - x['gt'], y['lq'] - y['gt'])
    torch.manual_seed(3)
    assert torch.equal(dataset[0]['lq'], x['lq'])


def test_lmdb_and_folder_give_the_same_images(folder, tmp_path):
    root, images = folder
    lmdb_path = str(tmp_path / 'clean.lmdb')
    write_lmdb(root, lmdb_path)
    for in_ch in (1, 3):
        disk = _dataset(root, in_ch=in_ch)
        lmdb = _dataset(lmdb_path, in_ch=in_ch, io_backend={'type': 'lmdb'})
        assert len(disk) == len(lmdb) == len(images)
        for i in range(len(disk)):
            d, m = disk[i], lmdb[i]
            assert m['gt_path'] == os.path.splitext(os.path.basename(d['gt_path']))[0]
            assert torch.equal(d['gt'], m['gt'])
            assert torch.equal(d['lq'], m['lq'])  # val noise is keyed by the image name


def test_meta_info_file_selects_images(folder, tmp_path):
    root, _ = folder
    meta = tmp_path / 'meta.txt'
    meta.write_text('img2.png (40,48,3) 1\n\nimg0.png (40,48,3) 1\n')
    dataset = _dataset(root, meta_info_file=str(meta))
    assert [os.path.basename(dataset[i]['gt_path']) for i in range(len(dataset))] == ['img2.png', 'img0.png']


def test_max_images_reads_the_first_images_by_name(folder):
    root, _ = folder
    names = sorted(os.path.basename(_dataset(root)[i]['gt_path']) for i in range(len(_dataset(root))))
    few = _dataset(root, max_images=2)
    assert [os.path.basename(few[i]['gt_path']) for i in range(len(few))] == names[:2]
    with pytest.raises(ValueError, match='max_images = 0: expected a count >= 1'):
        _dataset(root, max_images=0)


def test_normalisation(folder):
    root, _ = folder
    plain = _dataset(root, in_ch=1)[0]
    normed = _dataset(root, in_ch=1, mean=[0.5], std=[0.25])[0]
    assert torch.allclose(normed['gt'], (plain['gt'] - 0.5) / 0.25, atol=1e-5)
    assert torch.allclose(normed['lq'], (plain['lq'] - 0.5) / 0.25, atol=1e-5)


def test_missing_folder_and_lmdb_errors_name_path_and_key(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match=r'dataroot_gt.*nowhere'):
        _dataset(missing)
    with pytest.raises(FileNotFoundError, match=r"dataroot_gt = '.*nowhere\.lmdb': no such folder; expected an LMDB"):
        _dataset(missing + '.lmdb', io_backend={'type': 'lmdb'})


def test_too_small_image_error(folder):
    root, _ = folder
    dataset = _dataset(root, phase='train', gt_size=44)  # images are 40 x 48
    with pytest.raises(ValueError, match=r'img0\.png.*40x48.*gt_size=44'):
        dataset[0]


def test_missing_lmdb_key_error(folder, tmp_path):
    root, _ = folder
    lmdb_path = str(tmp_path / 'clean.lmdb')
    write_lmdb(root, lmdb_path)
    meta = tmp_path / 'meta.txt'
    meta.write_text('img0.png\nghost.png\n')
    dataset = _dataset(lmdb_path, io_backend={'type': 'lmdb'}, meta_info_file=str(meta))
    dataset[0]
    with pytest.raises(KeyError, match=r"'ghost'.*clean\.lmdb"):
        dataset[1]


def test_unreadable_and_truncated_files_are_named(tmp_path):
    root = str(tmp_path)
    (tmp_path / 'garbage.png').write_bytes(b'not an image at all')
    ok, png = cv2.imencode('.png', _rgb(0))
    (tmp_path / 'truncated.png').write_bytes(png.tobytes()[: len(png) // 2])
    dataset = _dataset(root)
    for i, name in enumerate(['garbage.png', 'truncated.png']):
        with pytest.raises(ValueError, match=rf'cannot decode image .*{name}'):
            dataset[i]


@pytest.mark.parametrize(
    'opt, match',
    [
        ({'sigma': 25, 'sigma_range': [0, 50]}, 'exactly one of sigma'),
        ({'sigma': None}, 'exactly one of sigma'),
        ({'sigma': None, 'sigma_range': [50, 10]}, 'sigma_range'),
        ({'in_ch': 2}, 'in_ch = 2'),
        ({'io_backend': {'type': 'memcached'}}, 'memcached'),
        ({'phase': 'train'}, "'gt_size' is missing"),
        ({'phase': 'training'}, "phase = 'training'"),
        ({'in_ch': 1, 'mean': [0.5, 0.5, 0.5], 'std': [1, 1, 1]}, 'mean'),
    ],
)
def test_option_errors(folder, opt, match):
    root, _ = folder
    with pytest.raises((ValueError, KeyError), match=match):
        _dataset(root, **opt)


def test_basicsr_srmodel_trains_and_validates_on_it(folder):
    """BasicSR's own builders, dataloader and SRModel, unchanged, with the dataset by name."""
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.data.data_sampler import EnlargedSampler
    from basicsr.models import build_model

    root, _ = folder
    train_opt = dict(
        name='train',
        type='CLEARERGaussianNoiseDataset',
        dataroot_gt=root,
        io_backend={'type': 'disk'},
        phase='train',
        in_ch=1,
        sigma_range=[0, 50],
        gt_size=16,
        use_hflip=True,
        use_rot=True,
        batch_size_per_gpu=2,
        num_worker_per_gpu=0,
        use_shuffle=True,
        dataset_enlarge_ratio=2,
    )
    val_opt = dict(
        name='val',
        type='CLEARERGaussianNoiseDataset',
        dataroot_gt=root,
        io_backend={'type': 'disk'},
        phase='val',
        in_ch=1,
        sigma=25,
    )
    train_set, val_set = build_dataset(train_opt), build_dataset(val_opt)
    sampler = EnlargedSampler(train_set, 1, 0, 2)
    train_loader = build_dataloader(train_set, train_opt, num_gpu=0, dist=False, sampler=sampler, seed=0)
    val_loader = build_dataloader(val_set, val_opt, num_gpu=0, dist=False)

    opt = dict(
        name='t',
        model_type='SRModel',
        num_gpu=0,
        dist=False,
        is_train=True,
        rank=0,
        world_size=1,
        scale=1,
        path={},
        network_g=dict(type='CLEARERDnCNN', in_channels=1, out_channels=1, num_feat=8, num_layers=3),
        train=dict(
            optim_g=dict(type='Adam', lr=1e-3),
            scheduler=dict(type='MultiStepLR', milestones=[10]),
            pixel_opt=dict(type='MSELoss', loss_weight=1.0),
        ),
        val=dict(metrics=dict(psnr=dict(type='calculate_psnr', crop_border=0, test_y_channel=False))),
    )
    model = build_model(opt)
    batch = next(iter(train_loader))
    assert batch['lq'].shape == (2, 1, 16, 16)
    model.feed_data(batch)
    model.optimize_parameters(1)
    assert np.isfinite(model.get_current_log()['l_pix'])
    model.validation(val_loader, 1, None, save_img=False)
    psnr = model.metric_results['psnr']
    assert np.isfinite(psnr) and psnr > 5


def test_datasets_on_one_lmdb_read_it_in_one_process(demo_data):
    """py-lmdb opens an environment once per process: a validation set on the training LMDB, the
    data pre-check and BatchNorm calibration batches read it beside the training set."""
    from conftest import noise_dataset

    from clearer_basicsr.data.data_util import unreadable_image

    train_opt = dict(noise_dataset(demo_data['arch_lmdb']), phase='train')
    val_opt = dict(noise_dataset(demo_data['arch_lmdb'], phase='val'), phase='val')
    train, val = GaussianNoiseDataset(train_opt), GaussianNoiseDataset(val_opt)
    assert train[0]['gt'].shape[-2:] == (16, 16)
    assert unreadable_image(val_opt, decode=True) is None
    assert val[0]['gt'].shape == GaussianNoiseDataset(val_opt)[0]['gt'].shape


def test_a_forked_child_reads_an_lmdb_its_parent_holds_open(demo_data):
    """The evaluation's stages and the loader's workers are forked from a process that may hold the
    LMDB open already (py-lmdb 3 would refuse to open it again in the child): the child reads it."""
    import multiprocessing

    from conftest import noise_dataset

    opt = dict(noise_dataset(demo_data['arch_lmdb'], phase='val'), phase='val')
    expected = GaussianNoiseDataset(opt)[0]['gt']  # the parent now holds the environment
    queue = multiprocessing.get_context('fork').SimpleQueue()

    def child():
        torch.set_num_threads(1)  # as the loader's workers do: the parent's thread pool is not forked
        queue.put(GaussianNoiseDataset(opt)[0]['gt'][:, :4, :4].numpy())  # small: join() before get()

    process = multiprocessing.get_context('fork').Process(target=child)
    process.start()
    process.join(60)
    assert process.exitcode == 0
    assert np.array_equal(queue.get(), expected[:, :4, :4].numpy())
    assert torch.equal(GaussianNoiseDataset(opt)[0]['gt'], expected)  # the parent's is still open
