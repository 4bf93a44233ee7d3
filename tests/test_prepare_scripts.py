"""clearer-prepare (clearer_basicsr.prepare) on tiny synthetic datasets made here: counts,
pairing, split disjointness, the Rain800 clean-side warning, clear errors for malformed inputs,
and the installed console script's help and refusals."""

import json
import os
import shutil
import subprocess
import sys
import warnings

import cv2
import lmdb
import numpy as np
import pytest
from helpers import make_bsds, make_rain800, noise, smooth, write
from PIL import Image

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.prepare import COMMANDS
from clearer_basicsr.prepare import main as prepare
from clearer_basicsr.prepare.inputs import LayoutError, read_image, stem

# ----------------------------------------------------------------------------- helpers
# The fake downloads (make_bsds, make_rain800) and their images (noise, smooth, write) are in helpers.py.


def read_lmdb(path):
    """{key: image} of a BasicSR LMDB, checked against its meta_info.txt."""
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False)
    with env.begin() as txn:
        images = {k.decode(): cv2.imdecode(np.frombuffer(v, np.uint8), cv2.IMREAD_UNCHANGED) for k, v in txn.cursor()}
    env.close()
    with open(os.path.join(str(path), 'meta_info.txt')) as f:
        assert sorted(line.split('.png')[0] for line in f) == sorted(images)
    return images


def read_pairs(out, split):
    """lq and gt LMDB images of a split, after checking keys match each other and the folders."""
    lq, gt = read_lmdb(out / f'{split}_lq.lmdb'), read_lmdb(out / f'{split}_gt.lmdb')
    assert sorted(lq) == sorted(gt)
    if (out / split).exists():
        for side in ('lq', 'gt'):
            assert sorted(stem(n) for n in os.listdir(out / split / side)) == sorted(lq)
    return lq, gt


# ----------------------------------------------------------------------------- BSD500


def test_bsd500_gray_splits_and_overlap(tmp_path):
    rng = np.random.default_rng(0)
    images = make_bsds(tmp_path, rng)
    # BSD68 really is a subset of BSDS500 val: give our fake one a gray copy of val image 201.
    bsd68 = tmp_path / 'BSD68'
    write(bsd68 / 'test001.png', read_image(str(images / 'val' / '201.jpg'), gray=True))
    write(bsd68 / 'test002.png', noise(rng, c=1))
    for i in range(2):
        write(tmp_path / 'Set12' / f'{i + 1:02d}.png', noise(rng, c=1))
    out = tmp_path / 'out'
    argv = [
        'bsd500',
        str(tmp_path / 'BSR'),
        '--gray',
        '--out',
        str(out),
        '--extra-test',
        f'BSD68={bsd68}',
        '--extra-test',
        f'Set12={tmp_path / "Set12"}',
    ]
    counts = prepare(argv)

    assert counts == {'train': 3, 'arch': 1, 'test': 2, 'BSD68': 2, 'Set12': 2}
    splits = {s: read_lmdb(out / f'{s}.lmdb') for s in ('train', 'arch', 'test')}
    # arch comes from val (minus the image BSD68 shares), never from test; splits are disjoint
    assert sorted(splits['train']) == ['101', '102', '103']
    assert sorted(splits['arch']) == ['202']
    assert sorted(splits['test']) == ['301', '302']
    for split, folder in (('train', 'train'), ('arch', 'val'), ('test', 'test')):
        assert sorted(os.listdir(out / split)) == sorted(k + '.png' for k in splits[split])
        for key, img in splits[split].items():
            rgb = cv2.imread(str(images / folder / f'{key}.jpg'))[..., ::-1]
            luma = rgb @ np.array([0.299, 0.587, 0.114])
            assert img.ndim == 2 and np.abs(img - luma).max() <= 0.51  # full range, not studio 16-235
            assert np.array_equal(img, np.asarray(Image.fromarray(rgb.copy()).convert('L')))
    assert sorted(os.listdir(out / 'BSD68')) == ['test001.png', 'test002.png']
    assert not (out / 'BSD68.lmdb').exists()
    assert json.loads((out / 'prepare_info.json').read_text())['counts'] == counts

    # An earlier run is never replaced silently; --force replaces only what the command writes.
    with pytest.raises(UserInputError, match='--force'):
        prepare(argv)
    (out / 'my_notes.txt').write_text('mine')
    with pytest.warns(UserWarning, match='also appear in BSD68'):
        prepare(argv + ['--force', '--keep-overlap'])
    assert sorted(read_lmdb(out / 'arch.lmdb')) == ['201', '202']
    assert (out / 'my_notes.txt').read_text() == 'mine'


def test_bsd500_colour_from_images_dir(tmp_path):
    images = make_bsds(tmp_path, np.random.default_rng(1))
    out = tmp_path / 'out'
    assert prepare(['bsd500', str(images), '--out', str(out)]) == {'train': 3, 'arch': 2, 'test': 2}
    arch = read_lmdb(out / 'arch.lmdb')
    assert np.array_equal(arch['201'], cv2.imread(str(images / 'val' / '201.jpg')))


def test_bsd500_dncnn_protocol_drops_whole_and_cropped_test_images(tmp_path, capsys):
    """DnCNN's protocol: weights on the Train400 folder, arch from val; a training crop of a test
    image (here flipped and rotated, at an offset the coarse search does not sample) is found and
    dropped like a whole copy, and the line names both."""
    rng = np.random.default_rng(3)
    images = make_bsds(tmp_path, rng)
    test_photo = smooth(rng, 64, 80)[..., 0]
    bsd68 = tmp_path / 'BSD68'
    write(bsd68 / 'test001.png', read_image(str(images / 'val' / '201.jpg'), gray=True))
    write(bsd68 / 'test002.png', test_photo)
    train400 = tmp_path / 'Train400'
    crop = np.rot90(test_photo[5:37, 7:43][:, ::-1])  # a crop, mirrored, turned
    write(train400 / 'test_001.png', np.ascontiguousarray(crop))
    for i in (2, 3):
        write(train400 / f'test_{i:03d}.png', smooth(rng, 32, 36)[..., 0])
    out = tmp_path / 'out'
    argv = ['bsd500', str(tmp_path / 'BSR'), '--protocol', 'dncnn', '--train400', str(train400)]
    counts = prepare(argv + ['--extra-test', f'BSD68={bsd68}', '--out', str(out)])

    assert counts == {'train': 2, 'arch': 1, 'BSD68': 2}
    assert sorted(read_lmdb(out / 'train.lmdb')) == ['test_002', 'test_003']
    assert sorted(read_lmdb(out / 'arch.lmdb')) == ['202']
    assert all(img.ndim == 2 for img in read_lmdb(out / 'train.lmdb').values())  # dncnn is gray
    assert not (out / 'test.lmdb').exists()
    printed = capsys.readouterr().out
    assert 'dropped from train (2 left; --keep-overlap keeps them): test_001' in printed
    assert 'dropped from arch (1 left; --keep-overlap keeps them): 201' in printed

    # each protocol's own inputs are required, in one line, before anything is written
    for protocol, message in (('dncnn', 'needs --train400'), ('cbsd432', 'no test split')):
        with pytest.raises(SystemExit):
            prepare(['bsd500', str(tmp_path / 'BSR'), '--protocol', protocol, '--out', str(tmp_path / 'refused')])
        assert message in capsys.readouterr().err
    assert not (tmp_path / 'refused').exists()


def test_bsd500_cbsd432_protocol_trains_on_train_and_test(tmp_path):
    rng = np.random.default_rng(4)
    images = make_bsds(tmp_path, rng)
    cbsd68 = tmp_path / 'CBSD68'
    write(cbsd68 / '201.png', cv2.imread(str(images / 'val' / '201.jpg')))
    out = tmp_path / 'out'
    argv = ['bsd500', str(images), '--protocol', 'cbsd432', '--extra-test', f'CBSD68={cbsd68}', '--out', str(out)]
    counts = prepare(argv)
    assert counts == {'train': 5, 'arch': 1, 'CBSD68': 1}
    train = read_lmdb(out / 'train.lmdb')
    assert sorted(train) == ['101', '102', '103', '301', '302'] and train['301'].shape[2] == 3


def test_bsd500_missing_split_is_a_clear_error(tmp_path):
    images = make_bsds(tmp_path, np.random.default_rng(2))
    for f in os.listdir(images / 'val'):
        os.remove(images / 'val' / f)
    os.rmdir(images / 'val')
    with pytest.raises(LayoutError, match=r'lacks val/(.|\n)*BSR/BSDS500/data/images'):
        prepare(['bsd500', str(tmp_path / 'BSR'), '--out', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


# ----------------------------------------------------------------------------- Rain800


def test_rain800_pairs_and_splits(tmp_path):
    root = make_rain800(tmp_path / 'Rain800', np.random.default_rng(3))
    out = tmp_path / 'out'
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the clean-side check must stay quiet on the right side
        counts = prepare(['rain800', str(root), '--out', str(out), '--arch-fraction', '0.34', '--seed', '5'])
    assert counts == {'train': 4, 'arch': 2, 'test': 2}

    keys = {}
    for split in counts:
        lq, gt = read_pairs(out, split)
        keys[split] = set(lq)
        for key in lq:  # gt is the left half, lq the right half of the same file
            source = 'test_syn' if split == 'test' else 'training'
            img = cv2.imread(str(root / source / f'{key}.jpg'))
            assert np.array_equal(gt[key], img[:, :48]) and np.array_equal(lq[key], img[:, 48:])
    assert keys['train'] | keys['arch'] == {str(i) for i in range(1, 7)}
    assert not keys['train'] & keys['arch']
    assert keys['test'] == {'101', '102'}  # arch carved from training only

    # the same seed draws the same arch split
    prepare(['rain800', str(root), '--out', str(tmp_path / 'again'), '--arch-fraction', '0.34', '--seed', '5'])
    assert set(read_lmdb(tmp_path / 'again' / 'arch_lq.lmdb')) == keys['arch']


def test_rain800_swapped_sides_warn(tmp_path):
    root = make_rain800(tmp_path / 'Rain800', np.random.default_rng(4))
    out = tmp_path / 'out'
    with pytest.warns(UserWarning, match='swapped'):
        prepare(['rain800', str(root), '--out', str(out), '--clean-side', 'right', '--arch-fraction', '0'])
    lq, gt = read_pairs(out, 'train')
    img = cv2.imread(str(root / 'training' / '1.jpg'))
    assert np.array_equal(gt['1'], img[:, 48:]) and np.array_equal(lq['1'], img[:, :48])


def test_rain800_malformed_inputs(tmp_path):
    root = make_rain800(tmp_path / 'Rain800', np.random.default_rng(5), train_ids=(1, 2), test_ids=(3,))
    write(root / 'training' / '9.jpg', noise(np.random.default_rng(0), w=95))
    with pytest.raises(LayoutError, match=r'9\.jpg: width 95 is odd'):
        prepare(['rain800', str(root), '--out', str(tmp_path / 'out')])
    os.remove(root / 'training' / '9.jpg')
    os.rename(root / 'test_syn', root / 'test')
    with pytest.raises(LayoutError, match=r'test_syn: folder not found(.|\n)*Expected layout'):
        prepare(['rain800', str(root), '--out', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


# ----------------------------------------------------------------------------- paired folders


def test_paired_generic(tmp_path):
    rng = np.random.default_rng(6)
    sources = {}
    for name in ('a.png', 'b.png', 'c.jpg', os.path.join('sub', 'd.png'), 'e.png'):
        lq, gt = noise(rng), noise(rng)
        sources[stem(name) if 'sub' not in name else 'sub_d'] = (
            write(tmp_path / 'lq' / name, lq),
            write(tmp_path / 'gt' / name, gt),
        )
    write(tmp_path / 'test_lq' / 't.png', noise(rng))
    write(tmp_path / 'test_gt' / 't.png', noise(rng))
    out = tmp_path / 'out'
    counts = prepare(
        [
            'paired',
            '--layout',
            'generic',
            '--lq',
            str(tmp_path / 'lq'),
            '--gt',
            str(tmp_path / 'gt'),
            '--test-lq',
            str(tmp_path / 'test_lq'),
            '--test-gt',
            str(tmp_path / 'test_gt'),
            '--arch-fraction',
            '0.2',
            '--out',
            str(out),
        ]
    )
    assert counts == {'train': 4, 'arch': 1, 'test': 1}
    seen = set()
    for split in ('train', 'arch'):
        lq, gt = read_pairs(out, split)
        assert not seen & set(lq)
        seen |= set(lq)
        for key in lq:
            assert np.array_equal(lq[key], cv2.imread(sources[key][0]))
            assert np.array_equal(gt[key], cv2.imread(sources[key][1]))
    assert seen == set(sources)
    assert set(read_pairs(out, 'test')[0]) == {'t'}

    os.remove(tmp_path / 'gt' / 'b.png')  # an lq without its gt
    with pytest.raises(LayoutError, match=r"b\.png \(no ground truth 'b'\)"):
        prepare(
            [
                'paired',
                '--layout',
                'generic',
                '--lq',
                str(tmp_path / 'lq'),
                '--gt',
                str(tmp_path / 'gt'),
                '--out',
                str(tmp_path / 'out2'),
            ]
        )


def test_paired_rain1400_keeps_groups_together(tmp_path):
    rng = np.random.default_rng(7)
    for folder, ids in (('training', (1, 2, 3)), ('testing', (4,))):
        for n in ids:
            write(tmp_path / folder / 'ground_truth' / f'{n}.jpg', noise(rng))
            for k in (1, 2):
                write(tmp_path / folder / 'rainy_image' / f'{n}_{k}.jpg', noise(rng))
    out = tmp_path / 'out'
    counts = prepare(
        [
            'paired',
            '--layout',
            'rain1400',
            '--train',
            str(tmp_path / 'training'),
            '--test',
            str(tmp_path / 'testing'),
            '--arch-fraction',
            '0.34',
            '--out',
            str(out),
        ]
    )
    assert counts == {'train': 4, 'arch': 2, 'test': 2}
    groups = {}
    for split in counts:
        lq, gt = read_pairs(out, split)
        for key in lq:
            n = key.split('_')[0]
            groups.setdefault(n, set()).add(split)
            folder = 'testing' if split == 'test' else 'training'
            assert np.array_equal(gt[key], cv2.imread(str(tmp_path / folder / 'ground_truth' / f'{n}.jpg')))
            assert np.array_equal(lq[key], cv2.imread(str(tmp_path / folder / 'rainy_image' / f'{key}.jpg')))
    assert all(len(s) == 1 for s in groups.values())  # both rainy versions of an image in one split
    assert groups['4'] == {'test'}

    os.remove(tmp_path / 'training' / 'ground_truth' / '2.jpg')
    with pytest.raises(LayoutError, match='without a ground truth'):
        prepare(['paired', '--layout', 'rain1400', '--train', str(tmp_path / 'training'), '--out', str(out), '--force'])


def test_paired_sidd_crops(tmp_path):
    rng = np.random.default_rng(8)
    data = tmp_path / 'SIDD_Small_sRGB_Only' / 'Data'
    scenes = ['0001_001_S6_00100_00060_3200_L', '0002_001_GP_00800_00350_5500_N', '0003_002_IP_00100_00100_3200_L']
    for scene in scenes:
        write(data / scene / 'NOISY_SRGB_010.PNG', noise(rng))
        write(data / scene / 'GT_SRGB_010.PNG', noise(rng))
    out = tmp_path / 'out'
    counts = prepare(
        [
            'paired',
            '--layout',
            'sidd',
            '--train',
            str(tmp_path / 'SIDD_Small_sRGB_Only'),
            '--crop-size',
            '16',
            '--arch-fraction',
            '0.5',
            '--lmdb-only',
            '--out',
            str(out),
        ]
    )
    # 40x48 tiled by 16: rows at 0, 16, 24 and columns at 0, 16, 32 -> 9 crops per image
    assert sorted(counts.items()) in ([('arch', 9), ('train', 18)], [('arch', 18), ('train', 9)])
    assert not (out / 'train').exists() and not (out / 'arch').exists()  # --lmdb-only
    where = {}
    for split in counts:
        lq, gt = read_pairs(out, split)
        where.update({key: split for key in lq})
        assert all(img.shape == (16, 16, 3) for img in lq.values())
    # scenes 0001 and 0002 are the same scene (001) seen by two phones: one split
    assert where[f'{scenes[0]}_010_s001'] == where[f'{scenes[1]}_010_s001'] != where[f'{scenes[2]}_010_s001']
    lq, _ = read_pairs(out, where[f'{scenes[2]}_010_s006'])
    noisy = cv2.imread(str(data / scenes[2] / 'NOISY_SRGB_010.PNG'))
    assert np.array_equal(lq[f'{scenes[2]}_010_s006'], noisy[16:32, 32:48])  # row 2, column 3


def test_paired_gopro_and_rain100(tmp_path):
    rng = np.random.default_rng(9)
    for split, seqs in (('train', ('GOPR0001_11_00', 'GOPR0002_11_00')), ('test', ('GOPR0003_11_00',))):
        for seq in seqs:
            for frame in ('000001', '000002'):
                for kind in ('blur', 'sharp'):
                    write(tmp_path / 'GOPRO_Large' / split / seq / kind / f'{frame}.png', noise(rng))
    out = tmp_path / 'gopro'
    counts = prepare(
        [
            'paired',
            '--layout',
            'gopro',
            '--train',
            str(tmp_path / 'GOPRO_Large' / 'train'),
            '--test',
            str(tmp_path / 'GOPRO_Large' / 'test'),
            '--arch-fraction',
            '0.5',
            '--out',
            str(out),
        ]
    )
    assert counts == {'train': 2, 'arch': 2, 'test': 2}
    train, arch = set(read_pairs(out, 'train')[0]), set(read_pairs(out, 'arch')[0])
    assert len({k.rsplit('_', 1)[0] for k in train}) == len({k.rsplit('_', 1)[0] for k in arch}) == 1
    assert not train & arch
    lq, gt = read_pairs(out, 'test')
    seq = tmp_path / 'GOPRO_Large' / 'test' / 'GOPR0003_11_00'
    assert np.array_equal(lq['GOPR0003_11_00_000002'], cv2.imread(str(seq / 'blur' / '000002.png')))
    assert np.array_equal(gt['GOPR0003_11_00_000002'], cv2.imread(str(seq / 'sharp' / '000002.png')))

    os.rename(seq / 'sharp', seq / 'Sharp_images')
    with pytest.raises(LayoutError, match=r'GOPR0003_11_00/sharp: folder not found'):
        prepare(
            [
                'paired',
                '--layout',
                'gopro',
                '--train',
                str(tmp_path / 'GOPRO_Large' / 'train'),
                '--test',
                str(tmp_path / 'GOPRO_Large' / 'test'),
                '--out',
                str(tmp_path / 'g2'),
            ]
        )

    rain = tmp_path / 'RainTrainL'
    for i in range(1, 4):
        write(rain / f'rain-{i}.png', noise(rng))
        write(rain / f'norain-{i}.png', noise(rng))
        write(rain / f'rainstreak-{i}.png', noise(rng))  # JORDER's extra maps are not pairs
    counts = prepare(
        [
            'paired',
            '--layout',
            'rain100',
            '--train',
            str(rain),
            '--arch-fraction',
            '0',
            '--out',
            str(tmp_path / 'rain100'),
        ]
    )
    assert counts == {'train': 3}
    lq, gt = read_pairs(tmp_path / 'rain100', 'train')
    assert np.array_equal(gt['2'], cv2.imread(str(rain / 'norain-2.png')))
    assert np.array_equal(lq['2'], cv2.imread(str(rain / 'rain-2.png')))


# ----------------------------------------------------------------------------- --help, refusals


OFFICIAL_PAGES = {  # where each command's --help says to download its datasets
    'bsd500': ['https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html'],
    'rain800': ['https://github.com/hezhangsprinter/ID-CGAN'],
    'paired': [
        'https://www.icst.pku.edu.cn/struct/Projects/joint_rain_removal.html',
        'https://xueyangfu.github.io/projects/cvpr2017.html',
        'https://abdokamel.github.io/sidd/',
        'https://seungjunnah.github.io/Datasets/gopro',
    ],
    'photos': [],  # apt-get download
}


@pytest.mark.parametrize('command', OFFICIAL_PAGES)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        prepare([command, '--help'])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith('usage:') and f' {command} [-h]' in out.splitlines()[0]
    assert '--force' in out and '--out OUT' in out and 'output (in --out):' in out
    assert all(url in out for url in OFFICIAL_PAGES[command])
    assert 'scripts/' not in out  # the examples name the installed command


def test_top_level_help_lists_every_command_on_one_line(capsys, monkeypatch):
    monkeypatch.setenv('COLUMNS', '80')
    with pytest.raises(SystemExit) as exit_info:
        prepare(['--help'])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines if line.startswith('    ') and not line.startswith('     ')] == [
        'bsd500',
        'rain800',
        'paired',
        'photos',
    ]
    for command, summary in COMMANDS.items():
        assert f'    {command:<10}{summary}' in lines


# The installed console script as a user types it: one run per command, started together (each
# loads torch and BasicSR, seconds), in a folder of its own.
CONSOLE_RUNS = {
    'photos': ['photos', '--help'],  # photos' refusal: a row of test_cli.py's entry points
    'bsd500': ['bsd500', 'no_such_BSR', '--gray'],
    'rain800': ['rain800', 'no_such_Rain800'],
    'paired': ['paired', '--layout', 'generic', '--lq', 'no_such_lq', '--gt', '.', '--out', 'p'],
}


@pytest.fixture(scope='module')
def console_runs(tmp_path_factory):
    """{command: (folder it ran in, exit status, stdout, stderr)}."""
    program = shutil.which('clearer-prepare', path=os.path.dirname(sys.executable))
    assert program, 'console script clearer-prepare is not installed (pip install -e .)'
    started = {}
    for command, argv in CONSOLE_RUNS.items():
        folder = tmp_path_factory.mktemp(command)
        started[command] = (
            folder,
            subprocess.Popen([program, *argv], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        )
    runs = {}
    for command, (folder, proc) in started.items():
        out, err = proc.communicate(timeout=300)
        runs[command] = folder, proc.returncode, out, err
    return runs


def test_console_script_help_names_the_flags(console_runs):
    _, status, out, err = console_runs['photos']
    assert status == 0, err
    assert out.startswith('usage: clearer-prepare photos [-h] [--out OUT] [--force] [--gray]')
    for flag in ('sources', '--out OUT', '--force', '--gray', '--long-side LONG_SIDE', 'apt-get download'):
        assert flag in out


@pytest.mark.parametrize(
    'command, missing', [('bsd500', 'no_such_BSR'), ('rain800', 'no_such_Rain800'), ('paired', 'no_such_lq')]
)
def test_console_script_refuses_a_missing_input_in_one_line(command, missing, console_runs):
    folder, status, _, err = console_runs[command]
    assert status == 2, err[-2000:]
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'error: {missing}: no such file or folder; expected ')
    assert lines[0].endswith(f'(clearer-prepare {command} --help shows the layout)')
    assert os.listdir(folder) == []  # nothing written


def test_gray_data_of_the_commands_and_the_dataset_is_one_luma(tmp_path):
    """Prepared gray images and GaussianNoiseDataset's in_ch: 1 agree, and both are PIL's
    convert('L') (the reference's gray data), on random pixels."""
    from clearer_basicsr.data.gaussian_noise_dataset import GaussianNoiseDataset

    bgr = noise(np.random.default_rng(7), 512, 512)  # 262,144 random pixels
    path = write(tmp_path / 'rgb' / 'random.png', bgr)
    pil = np.asarray(Image.open(path).convert('L'))
    prepared = read_image(path, gray=True)
    item = GaussianNoiseDataset({'dataroot_gt': str(tmp_path / 'rgb'), 'phase': 'val', 'sigma': 0, 'in_ch': 1})[0]
    from_dataset = np.round(item['gt'][0].numpy() * 255).astype(np.uint8)
    np.testing.assert_array_equal(prepared, pil)
    np.testing.assert_array_equal(from_dataset, pil)
