"""Faults a long run meets from its surroundings, each made real: a full disk (writes that go to
/dev/full fail with the operating system's own ENOSPC), two runs of one experiment folder, an
image too large for the memory that is free. Each ends in one clear line (or, for memory, in
tiles), and nothing already written is lost or mixed."""

import glob
import os
import signal

import cv2
import numpy as np
import pytest
import torch
from conftest import run_train_inprocess, train_options, write_yaml
from helpers import hashes, make_bsds, option_file_for, trained_net

from _clearer_basicsr_cli import EXIT_FAILURE, run
from clearer_basicsr import memory
from clearer_basicsr.errors import DiskFullError, UserInputError
from clearer_basicsr.files import atomic_write, folder_lock
from clearer_basicsr.inference import restore_whole
from clearer_basicsr.prepare import main as prepare
from clearer_basicsr.prepare import outputs
from clearer_basicsr.tools.infer import main as infer
from clearer_basicsr.train import main as train_main

pytestmark = pytest.mark.skipif(not os.path.exists('/dev/full'), reason='needs /dev/full (Linux)')


def run_command(main, argv, capsys):
    """``main`` run as its console script: (exit status, the ``error:`` line it ended with: a
    failure not turned into one would end in a traceback)."""
    with pytest.raises(SystemExit) as exit_info:
        run(main, argv)
    last = capsys.readouterr().err.rstrip().splitlines()[-1]
    assert last.startswith('error: ')
    return exit_info.value.code, last


# --------------------------------------------------------------------------- a full disk
def test_a_write_on_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path):
    path = tmp_path / 'genotype.yml'
    path.write_text('old')
    os.symlink('/dev/full', f'{path}.{os.getpid()}.tmp')  # this write lands on a full device
    with pytest.raises(DiskFullError, match='genotype.yml: not written, the disk is full'):
        with atomic_write(path) as f:
            f.write('new' * 10000)
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['genotype.yml']  # the partial file is removed


def test_a_training_run_stopped_by_a_full_disk_says_where_to_continue_and_continues(
    demo_data, tmp_path, capsys, monkeypatch, one_thread
):
    opt_file = write_yaml(tmp_path / 'run.yml', train_options(demo_data, 'full', total_iter=2))
    run_train_inprocess(opt_file, tmp_path)  # states at 2
    exp = tmp_path / 'experiments' / 'full'
    write_yaml(opt_file, train_options(demo_data, 'full', total_iter=4))
    before = hashes(exp)
    os.symlink('/dev/full', exp / 'models' / f'net_g_4.pth.{os.getpid()}.tmp')

    monkeypatch.chdir(tmp_path)
    status, err = run_command(train_main, ['-opt', opt_file, '--auto_resume'], capsys)
    assert status == EXIT_FAILURE
    assert err.startswith(f'error: {exp / "models" / "net_g_4.pth"}: not written, the disk')
    assert f'the last complete checkpoint is {exp / "training_states" / "2.state"} (iteration 2)' in err
    assert err.rstrip().endswith(f'continue with: clearer-train -opt {opt_file} --auto_resume')
    after = hashes(exp)
    assert {k: after[k] for k in before if k.endswith(('.pth', '.state'))} == {
        k: v for k, v in before.items() if k.endswith(('.pth', '.state'))
    }
    assert not glob.glob(str(exp / '**' / '*.tmp'), recursive=True)  # the partial file is gone

    run_train_inprocess(opt_file, tmp_path, '--auto_resume')  # room again: it continues
    assert (exp / 'training_states' / '4.state').is_file()


def test_prepare_on_a_full_disk_removes_its_outputs_and_keeps_the_rest(tmp_path, capsys, monkeypatch):
    make_bsds(tmp_path, np.random.default_rng(0))
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    real_open, writes = open, []

    def open_on_a_disk_that_fills(path, mode='r', *args, **kwargs):
        writes.append(path)
        return real_open('/dev/full' if len(writes) == 3 else path, mode, *args, **kwargs)

    monkeypatch.setattr(outputs, 'open', open_on_a_disk_that_fills, raising=False)
    argv = ['bsd500', str(tmp_path / 'BSR'), '--out', str(out)]
    status, err = run_command(prepare, argv, capsys)
    assert status == EXIT_FAILURE
    assert err.startswith(f'error: {out}: not written, the disk is full') and 'run the command again' in err
    assert sorted(os.listdir(out)) == ['notes.txt']  # its own outputs gone, the rest kept
    monkeypatch.undo()
    assert prepare(argv) == {'train': 3, 'arch': 2, 'test': 2}  # and a rerun needs no --force


# --------------------------------------------------------------------------- two runs of one folder
def test_a_second_run_of_a_held_experiment_is_refused_before_touching_it(demo_data, tmp_path, one_thread):
    opt_file = write_yaml(tmp_path / 'run.yml', train_options(demo_data, 'twice', total_iter=2))
    run_train_inprocess(opt_file, tmp_path)
    exp = tmp_path / 'experiments' / 'twice'
    before = hashes(tmp_path / 'experiments')
    with folder_lock(exp, 'the first run'):  # the first run is still going
        for flags in ((), ('--auto_resume',)):
            with pytest.raises(UserInputError, match=f'another run is using it \\(process {os.getpid()}\\)'):
                run_train_inprocess(opt_file, tmp_path, *flags)
    assert hashes(tmp_path / 'experiments') == before  # nothing renamed, archived or written

    pid = os.fork()  # a run killed with its lock held never blocks the next one
    if pid == 0:
        with folder_lock(exp, 'x'):
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    run_train_inprocess(opt_file, tmp_path)  # a fresh start: the old folder is archived
    assert len(glob.glob(str(tmp_path / 'experiments' / 'twice_archived_*'))) == 1


def test_a_second_prepare_into_a_held_folder_is_refused(tmp_path):
    make_bsds(tmp_path, np.random.default_rng(0))
    out = tmp_path / 'out'
    with folder_lock(out, 'the first one'):
        with pytest.raises(UserInputError, match=f'out: another run is using it \\(process {os.getpid()}\\)'):
            prepare(['bsd500', str(tmp_path / 'BSR'), '--out', str(out)])
    assert not out.exists()
    assert prepare(['bsd500', str(tmp_path / 'BSR'), '--out', str(out)]) == {'train': 3, 'arch': 2, 'test': 2}


def test_a_fresh_start_leaves_no_temporary_file_in_the_archive(demo_data, tmp_path, one_thread):
    opt_file = write_yaml(tmp_path / 'run.yml', train_options(demo_data, 'killed', total_iter=2))
    exp = tmp_path / 'experiments' / 'killed'
    (exp / 'models').mkdir(parents=True)  # a run killed before its first state
    (exp / 'models' / 'net_g_2.pth.4242.tmp').write_bytes(b'partial')
    run_train_inprocess(opt_file, tmp_path)
    (archive,) = glob.glob(str(tmp_path / 'experiments' / 'killed_archived_*'))
    assert not glob.glob(os.path.join(archive, '**', '*.tmp'), recursive=True)


def test_a_resume_state_without_its_weights_names_the_key(demo_data, tmp_path, one_thread):
    opt_file = write_yaml(tmp_path / 'run.yml', train_options(demo_data, 'moved', total_iter=2))
    run_train_inprocess(opt_file, tmp_path)
    state = tmp_path / 'elsewhere' / '2.state'
    state.parent.mkdir()
    os.replace(tmp_path / 'experiments' / 'moved' / 'training_states' / '2.state', state)
    opt = train_options(demo_data, 'moved2', total_iter=4)
    opt['path']['resume_state'] = str(state)
    with pytest.raises(UserInputError, match=r"path: resume_state = '.*2.state': the network weights saved with it"):
        run_train_inprocess(write_yaml(tmp_path / 'resume.yml', opt), tmp_path)


# --------------------------------------------------------------------------- memory
def test_an_image_too_large_for_free_memory_is_tiled_to_the_whole_image_output(tmp_path, monkeypatch, capsys):
    net = trained_net()
    x = torch.rand(1, 1, 75, 61)
    with torch.no_grad():
        whole = restore_whole(net, x, net.size_multiple)
    per_pixel = memory.bytes_per_pixel(net, 1, net.size_multiple, x.device)
    radius, reached = memory.receptive_radius(net, 1, net.size_multiple, x.device)
    context = memory.round_up(radius, net.size_multiple)
    room = per_pixel * (16 + 2 * context) ** 2 / memory.HEADROOM  # a small machine: 16 x 16 tiles fit
    monkeypatch.setattr(memory, 'available_bytes', lambda device: room)
    notes = []
    with torch.no_grad():
        tiled = memory.restore_within_memory(
            lambda t: restore_whole(net, t, net.size_multiple), net, x, net.size_multiple, True, notes.append
        )
    assert reached and len(notes) == 1
    assert f'restored in 16x16 tiles with {context} px of context (the receptive radius' in notes[0]
    assert (tiled - whole).abs().max() < 1e-5

    (tmp_path / 'in').mkdir()
    big = (np.random.default_rng(0).random((75, 61)) * 255).astype(np.uint8)
    assert cv2.imwrite(str(tmp_path / 'in' / 'big.png'), big)
    opt = option_file_for(tmp_path, net)
    infer(['-opt', opt, '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'out')])
    printed = capsys.readouterr()
    assert 'big.png (61x75) needs about' in printed.out + printed.err and (tmp_path / 'out' / 'big.png').is_file()
    argv = ['-opt', opt, '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'off'), '--tile', '0']
    status, err = run_command(infer, argv, capsys)
    assert status == 2 and 'big.png (61x75) needs about' in err and 'restore it in tiles (--tile N' in err
    assert not (tmp_path / 'off' / 'big.png').exists()
