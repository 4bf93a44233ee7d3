"""python -m clearer_basicsr.infer: your own images (gray and colour, odd sizes, sub-folders) through a
trained net; tiled restoration equals whole-image restoration.

Tolerance of the tiled output: with --tile_overlap at least the network's receptive radius, every
pixel equals the whole-image output within 1e-5 (on 0..1 intensities: float rounding only), since
blocks start on the network's size multiple and see all the context the whole image gives them."""

import os

import cv2
import numpy as np
import pytest
import torch
from helpers import option_file_for, trained_net

from clearer_basicsr.data.data_util import bgr_to_luma
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.inference import by_opponent_channel, restore_tiled, restore_whole
from clearer_basicsr.tools.infer import main as infer
from clearer_basicsr.tools.restore_images import output_names

TILED_TOLERANCE = 1e-5


def receptive_radius(net, size=96):
    """How far an output pixel sees: the farthest input pixel with a gradient on it."""
    x = torch.rand(1, net.in_channels, size, size, requires_grad=True)
    net(x)[0, :, size // 2, size // 2].sum().backward()
    rows, cols = (x.grad[0].abs().sum(0) > 0).nonzero(as_tuple=True)
    radius = int(max((rows - size // 2).abs().max(), (cols - size // 2).abs().max()))
    assert radius < size // 2 - 1
    return radius


def test_tiled_equals_whole_image_when_the_overlap_covers_the_receptive_field():
    net = trained_net()
    radius = receptive_radius(net)
    context = -(-radius // net.size_multiple) * net.size_multiple
    x = torch.rand(1, 1, 75, 61)  # odd sizes: the last blocks are partial, the image is padded
    with torch.no_grad():
        whole = restore_whole(net, x, net.size_multiple)
        tiled = restore_tiled(lambda t: restore_whole(net, t, net.size_multiple), x, 16, context)
        seams = restore_tiled(lambda t: restore_whole(net, t, net.size_multiple), x, 16, 0)
        misaligned = restore_tiled(lambda t: restore_whole(net, t, net.size_multiple), x, 18, context)
    assert tiled.shape == whole.shape == x.shape
    assert (tiled - whole).abs().max() <= TILED_TOLERANCE
    assert (seams - whole).abs().max() > 1e-3  # without context, the blocks' edges differ
    assert (misaligned - whole).abs().max() > 1e-3  # blocks off the size multiple see another grid


def make_images(folder):
    """Gray and colour images of odd sizes; two share a stem; one sits in a sub-folder with the
    same name as one at the top."""
    rng = np.random.default_rng(0)
    (folder / 'sub').mkdir(parents=True)
    images = {
        'a.png': rng.integers(0, 256, (23, 37, 3), np.uint8),  # colour
        'a.jpg': rng.integers(0, 256, (31, 18, 3), np.uint8),  # same stem, other extension
        'gray.png': rng.integers(0, 256, (19, 29), np.uint8),
        'sub/a.png': rng.integers(0, 256, (17, 41, 4), np.uint8),  # with alpha
    }
    for name, img in images.items():
        cv2.imwrite(str(folder / name), img)
    return images


def test_infer_a_folder_of_gray_and_colour_images(tmp_path):
    images = make_images(tmp_path / 'photos')
    net = trained_net(in_channels=1)
    written = infer(
        ['-opt', option_file_for(tmp_path, net), '--input', str(tmp_path / 'photos'), '--output', str(tmp_path / 'out')]
    )
    outputs = {
        os.path.relpath(out, tmp_path / 'out'): os.path.relpath(src, tmp_path / 'photos')
        for src, out in written.items()
    }
    assert outputs == {'a.png.png': 'a.png', 'a.jpg.png': 'a.jpg', 'gray.png': 'gray.png', 'sub/a.png': 'sub/a.png'}
    for out, src in outputs.items():
        result = cv2.imread(str(tmp_path / 'out' / out), cv2.IMREAD_UNCHANGED)
        assert result.shape == images[src].shape[:2]  # gray net: one channel, the input's size
    # the colour input went in as its luma (the training data's gray), restored as a whole
    luma = bgr_to_luma(cv2.imread(str(tmp_path / 'photos' / 'a.png')))
    with torch.no_grad():
        expected = restore_whole(net, torch.from_numpy(luma / 255.0).float()[None, None], net.size_multiple)
    expected = (expected.clamp(0, 1) * 255).round().squeeze().numpy().astype(np.uint8)
    assert (
        np.abs(cv2.imread(str(tmp_path / 'out' / 'a.png.png'), cv2.IMREAD_UNCHANGED).astype(int) - expected).max() <= 1
    )


def test_infer_colour_net_tiled_and_self_ensemble(tmp_path):
    make_images(tmp_path / 'photos')
    option = option_file_for(tmp_path, trained_net(in_channels=3))
    common = ['-opt', option, '--input', str(tmp_path / 'photos' / 'gray.png')]
    whole = infer([*common, '--output', str(tmp_path / 'whole'), '--self_ensemble'])
    tiled = infer(
        [*common, '--output', str(tmp_path / 'tiled'), '--self_ensemble', '--tile', '6', '--tile_overlap', '40']
    )
    (whole_png,), (tiled_png,) = whole.values(), tiled.values()
    a, b = cv2.imread(whole_png, cv2.IMREAD_UNCHANGED), cv2.imread(tiled_png, cv2.IMREAD_UNCHANGED)
    assert a.shape == (19, 29, 3)  # a gray image through a colour net comes out in colour
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # tiles of 8 (rounded up), context 40 > radius


def test_output_names_never_clash():
    names = output_names(['a.png', 'a.jpg', 'a.jpg.png', 'b.png', 'x/b.png', 'a_1.png'])
    assert len(set(names.values())) == len(names)
    assert names['b.png'] == 'b.png' and names['x/b.png'] == 'x/b.png'


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    option = option_file_for(tmp_path, trained_net())
    (tmp_path / 'empty').mkdir()
    with pytest.raises(UserInputError, match=r"--input '.*empty': no images in it"):
        infer(['-opt', option, '--input', str(tmp_path / 'empty'), '--output', str(tmp_path / 'out')])
    (tmp_path / 'photos').mkdir()
    (tmp_path / 'photos' / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(UserInputError, match=r'broken.png: not a readable image'):
        infer(['-opt', option, '--input', str(tmp_path / 'photos'), '--output', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


def test_a_gray_net_sees_each_opponent_channel_as_a_gray_image_with_the_noise_std():
    """Colour white noise of std s reaches the gray network as 3 gray images, each with std s (the
    transform is orthonormal); with a network that changes nothing, the colour comes back as it was."""
    seen = []

    def recording(x):
        seen.append(x.clone())
        return x

    torch.manual_seed(0)
    image = torch.rand(2, 3, 64, 48) * 0.5 + 0.25
    noise = torch.randn(2, 3, 64, 48) * 0.1
    restored = by_opponent_channel(recording)(image + noise)
    assert (restored - (image + noise)).abs().max() < 1e-5
    assert seen[0].shape == (6, 1, 64, 48)  # 2 images x 3 channels, each a gray image
    by_opponent_channel(recording)(image)
    channel_noise = (seen[0] - seen[1]).view(2, 3, -1).transpose(0, 1).reshape(3, -1)
    assert torch.allclose(channel_noise.std(dim=1), torch.full((3,), 0.1), rtol=0.03)


def test_keep_colour_restores_colour_images_in_colour_with_a_gray_net(tmp_path):
    images = make_images(tmp_path / 'photos')
    net = trained_net(in_channels=1)
    option = option_file_for(tmp_path, net)
    written = infer(
        ['-opt', option, '--input', str(tmp_path / 'photos'), '--output', str(tmp_path / 'out'), '--keep_colour']
    )
    shapes = {
        os.path.relpath(src, tmp_path / 'photos'): cv2.imread(out, cv2.IMREAD_UNCHANGED).shape
        for src, out in written.items()
    }
    assert shapes['a.png'] == images['a.png'].shape  # colour in, colour out
    assert shapes['sub/a.png'] == images['sub/a.png'].shape[:2] + (3,)  # alpha dropped
    assert shapes['gray.png'] == images['gray.png'].shape  # a gray image stays gray
    bgr = cv2.imread(str(tmp_path / 'photos' / 'a.png'))[..., ::-1].copy()  # as infer reads it: RGB
    with torch.no_grad():
        x = torch.from_numpy(bgr / 255.0).float().permute(2, 0, 1)[None]
        expected = restore_whole(by_opponent_channel(net), x, net.size_multiple)
    expected = (expected.clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy()[..., ::-1]
    result = cv2.imread(str(tmp_path / 'out' / 'a.png.png')).astype(int)
    assert np.abs(result - expected).max() <= 1
    (tmp_path / 'colour').mkdir()
    colour_net = option_file_for(tmp_path / 'colour', trained_net(in_channels=3))
    with pytest.raises(UserInputError, match='--keep_colour: only for a 1-channel network; this one takes 3 channels'):
        infer(
            ['-opt', colour_net, '--input', str(tmp_path / 'photos'), '--output', str(tmp_path / 'c'), '--keep_colour']
        )
    assert not (tmp_path / 'c').exists()


PSNR_ONLY = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False}}


def tiny_test_set(tiny_data):
    from basicsr.data import build_dataset
    from conftest import noise_dataset

    opt = noise_dataset(tiny_data['test'], phase='test')
    return opt, build_dataset(dict(opt, phase='test'))


def test_score_images_gives_each_image_the_psnr_of_its_restoration(tiny_data):
    """Per image PSNR keyed by the ground truth's stem: a restorer that returns the noisy input
    scores the noisy image's own PSNR; their mean is the average of those."""
    from clearer_basicsr.inference import mean_scores, score_images

    _, dataset = tiny_test_set(tiny_data)
    noisy = score_images(dataset, lambda item: item['lq'][None], PSNR_ONLY)
    assert sorted(noisy) == sorted(os.path.splitext(n)[0] for n in os.listdir(tiny_data['test']))
    for item in dataset:
        gt = (item['gt'].numpy() * 255).round()
        lq = (item['lq'].clamp(0, 1).numpy() * 255).round()
        expected = 10 * np.log10(255**2 / np.mean((gt - lq) ** 2))
        name = os.path.splitext(os.path.basename(item['gt_path']))[0]
        assert noisy[name]['psnr'] == pytest.approx(expected, abs=1e-6)
    assert mean_scores(noisy, PSNR_ONLY) == {'psnr': pytest.approx(np.mean([v['psnr'] for v in noisy.values()]))}


def test_bm3d_scored_through_score_images_beats_the_noisy_input(tiny_data):
    pytest.importorskip('bm3d')
    from clearer_basicsr.inference import score_images
    from clearer_basicsr.tools.bm3d_reference import score_dataset

    opt, dataset = tiny_test_set(tiny_data)
    noisy = score_images(dataset, lambda item: item['lq'][None], PSNR_ONLY)
    bm3d = score_dataset(opt, PSNR_ONLY)
    assert all(bm3d['images'][name]['psnr'] > noisy[name]['psnr'] + 3 for name in noisy)
    assert bm3d['average']['psnr'] == pytest.approx(np.mean([v['psnr'] for v in bm3d['images'].values()]))
