"""Fault suite: each fault triggered on purpose; the user gets one clear message and keeps every file.

Interrupted runs (a save killed midway, a search killed with SIGKILL at a random moment),
numerical faults in both steps of the search (stop with a resumable state, or skip and count),
data faults (unreadable, truncated, empty, corrupt LMDB record, missing key, grayscale in a
colour set) and test images of any size. Option mistakes are in test_options_check.py.
"""

import glob
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.models import build_model
from conftest import model_options, noise_dataset, run_train_inprocess, search_options, train_options, write_yaml
from helpers import hashes

from clearer_basicsr import checkpoint
from clearer_basicsr.checkpoint import atomic_torch_save, torch_load
from clearer_basicsr.compat import load_resume_state
from clearer_basicsr.data.gaussian_noise_dataset import GaussianNoiseDataset
from clearer_basicsr.data.lmdb_io import write_lmdb
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.models.finite_guard import NonFiniteError
from clearer_basicsr.options_check import mark_checked

NAN = float('nan')


# --------------------------------------------------------------------------- interrupted runs


def _kill_while_saving(obj, path):
    """Forks a process that starts ``atomic_torch_save(obj, path)``, writes part of the file and is
    SIGKILLed there; returns the child's pid (its temporary file is named after it)."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest from here on, only os._exit
        try:
            os.close(ready_r)

            def stalled_save(_obj, f):
                f.write(b'PK\x03\x04 the first bytes of a checkpoint')
                f.flush()
                os.write(ready_w, b'1')
                time.sleep(60)

            checkpoint.torch.save = stalled_save
            atomic_torch_save(obj, path)
        finally:
            os._exit(1)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b'1'
    os.close(ready_r)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return pid


def test_save_killed_midway_keeps_the_previous_checkpoint_and_auto_resume_ignores_the_temp(tmp_path):
    exp = tmp_path / 'experiments' / 'run'
    (exp / 'models').mkdir(parents=True)
    (exp / 'training_states').mkdir()
    latest = str(exp / 'models' / 'net_g_latest.pth')
    atomic_torch_save({'params': {'w': torch.ones(3)}}, latest)
    atomic_torch_save({'iter': 6, 'epoch': 1}, str(exp / 'training_states' / '6.state'))
    atomic_torch_save({'params': {'w': torch.ones(3)}}, str(exp / 'models' / 'net_g_6.pth'))  # saved with it
    before = hashes(exp)

    pid_net = _kill_while_saving({'params': {'w': torch.zeros(3)}}, latest)  # overwriting a file
    pid_state = _kill_while_saving({'iter': 9, 'epoch': 2}, str(exp / 'training_states' / '9.state'))  # a new one

    after = hashes(exp)
    assert {k: after[k] for k in before} == before  # the previous checkpoint and state are intact
    left = sorted(set(after) - set(before))
    assert left == sorted([f'models/net_g_latest.pth.{pid_net}.tmp', f'training_states/9.state.{pid_state}.tmp'])
    assert not any(name.endswith('state') for name in left)  # BasicSR's auto-resume parses those
    assert torch.equal(torch_load(latest)['params']['w'], torch.ones(3))

    opt = {
        'name': 'run',
        'root_path': str(tmp_path),
        'auto_resume': True,
        'network_g': {'type': 'CLEARERDnCNN'},
        'path': {'models': str(exp / 'models'), 'resume_state': None},
    }
    state = load_resume_state(opt)
    assert state == {'iter': 6, 'epoch': 1}
    assert opt['path']['resume_state'].endswith(os.path.join('training_states', '6.state'))
    assert opt['path']['pretrain_network_g'].endswith('net_g_6.pth')


def test_a_failing_save_leaves_the_previous_file_and_no_temp(tmp_path, monkeypatch):
    path = str(tmp_path / '4.state')
    atomic_torch_save({'iter': 4}, path)
    before = hashes(tmp_path)

    def disk_full(obj, f):
        f.write(b'partial')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(checkpoint.torch, 'save', disk_full)
    with pytest.raises(OSError, match='4.state: not written, the disk is full'):
        atomic_torch_save({'iter': 8}, path)
    assert hashes(tmp_path) == before  # same file, same bytes, no temporary left


def test_resume_from_a_checkpoint_on_a_validation_iteration_is_bit_exact(tiny_search, tmp_path):
    """Checkpoint and validation both at iteration 4 (building the validation loader draws from
    torch's generator). The run that validated equals the shared search (which did not); stopped
    after iteration 4, with a temporary file a killed save left, and resumed, it ends the same,
    and the temporary file is gone."""
    opt = yaml.safe_load(open(tiny_search['opt_file']))
    opt['val']['val_freq'] = opt['logger']['save_checkpoint_freq'] = 4
    opt_file = write_yaml(tmp_path / 'validates.yml', opt)
    (tmp_path / 'whole').mkdir()
    run_train_inprocess(opt_file, tmp_path / 'whole')
    whole = tmp_path / 'whole' / 'experiments' / 'tiny_search'
    reference = torch_load(whole / 'models' / 'net_g_8.pth')['params']
    shared = torch_load(tiny_search['exp'] / 'models' / 'net_g_8.pth')['params']
    for key in reference:
        assert torch.equal(reference[key], shared[key]), key  # validating changed nothing

    exp = tmp_path / 'resumed' / 'experiments' / 'tiny_search'
    shutil.copytree(whole, exp)
    for f in list((exp / 'models').iterdir()) + list((exp / 'training_states').iterdir()):
        if not f.name.startswith(('net_g_4.', '4.')):
            f.unlink()
    partial = exp / 'models' / f'net_g_8.pth.{os.getpid() + 1}.tmp'
    partial.write_bytes(b'PK\x03\x04 half a checkpoint')
    model = run_train_inprocess(opt_file, tmp_path / 'resumed', '--auto_resume')
    resumed = torch_load(exp / 'models' / 'net_g_8.pth')['params']
    for key in reference:
        assert torch.equal(reference[key], resumed[key]), key
    assert torch.equal(model.supernet.arch_logits.detach(), tiny_search['logits'])
    assert not partial.exists()
    log = open(sorted(exp.glob('train_*.log'))[-1]).read()
    assert f'Removed {partial}: a write that was killed left it.' in log


def _last_logged_iter(log_files):
    text = ''.join(open(f).read() for f in log_files)
    found = re.findall(r'iter:\s*(\d+),', text)
    return int(found[-1]) if found else 0


def test_search_killed_at_a_random_moment_resumes_to_the_same_genotype(tiny_search, tmp_path):
    """A search (the shared tiny one) run as a user would, SIGKILLed at a random moment after its
    first training state, then ``--auto_resume``d: it ends bit-exactly as the uninterrupted run."""
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    exp = tmp_path / 'experiments' / 'tiny_search'
    first_state = exp / 'training_states' / '4.state'  # save_checkpoint_freq 4 of 8 iterations
    kill_after_iter = rng.randint(4, 7)
    # The reference ran in this process: same thread count, or CPU reductions differ in the last bits.
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    output = open(tmp_path / 'killed_run.txt', 'w')  # a file, not a pipe: a full pipe would stall the run
    proc = subprocess.Popen(
        [sys.executable, '-m', 'clearer_basicsr.train', '-opt', tiny_search['opt_file']],
        cwd=str(tmp_path),
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    seen, last_gap, stamp, fired = 0, None, None, False
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            now_seen = _last_logged_iter(glob.glob(str(exp / 'train_*.log')))
            if now_seen > seen:
                now = time.monotonic()
                last_gap, stamp, seen = (now - stamp if stamp else None), now, now_seen
            if seen >= kill_after_iter and first_state.exists() and last_gap:
                time.sleep(rng.uniform(0, 0.5 * last_gap))  # somewhere in the next iteration or save
                fired = True
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output.close()
    where = f'(seed {seed}: kill after iteration {kill_after_iter}, last seen {seen})'
    ran = (tmp_path / 'killed_run.txt').read_text()[-3000:]
    assert fired and proc.returncode == -signal.SIGKILL, f'the run ended before it was killed {where}:\n{ran}'

    states = sorted(glob.glob(str(exp / 'training_states' / '*.state')))
    assert states, where
    for path in states:  # whatever the moment, every state file is complete
        assert torch_load(path)['iter'] == int(os.path.basename(path).split('.')[0]), where
    temporaries = glob.glob(str(exp / '**' / '*.tmp'), recursive=True)  # killed while saving
    print(
        f'killed {where}; states {[os.path.basename(p) for p in states]}; temporaries '
        f'{[os.path.basename(p) for p in temporaries]}'
    )
    for path in temporaries:
        assert not path.endswith('state'), where
    resume_iter = max(int(os.path.basename(p).split('.')[0]) for p in states)
    kept = {
        k: v
        for k, v in hashes(exp / 'training_states').items()
        if k.endswith('.state') and int(k.split('.')[0]) <= resume_iter
    }

    model = run_train_inprocess(tiny_search['opt_file'], tmp_path, '--auto_resume')
    log = ''.join(open(f).read() for f in glob.glob(str(exp / 'train_*.log')))
    assert f'iter: {resume_iter} ' in log and 'Resuming training from epoch' in log, where
    assert model.supernet.genotype() == tiny_search['genotype'], where
    assert torch.equal(model.supernet.arch_logits.detach(), tiny_search['logits']), where
    reference = torch_load(tiny_search['exp'] / 'models' / 'net_g_8.pth')['params']
    resumed = torch_load(exp / 'models' / 'net_g_8.pth')['params']
    for key in reference:
        assert torch.equal(reference[key], resumed[key]), f'{key} {where}'
    after = hashes(exp / 'training_states')
    assert {k: after[k] for k in kept} == kept, where  # states up to the resumed one untouched


# --------------------------------------------------------------------------- files from users are data
class Payload:
    """Unpickling it runs a shell command that creates ``marker`` (what a hostile file would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def _test_options(demo_data, name, checkpoint):
    opt = train_options(demo_data, name)
    del opt['train']
    opt['datasets'] = {'test_1': noise_dataset(demo_data['test_folder'], phase='test')}
    opt['path']['pretrain_network_g'] = str(checkpoint)
    return opt


@pytest.mark.parametrize('where', ['resume state', 'pretrained network', 'tested network'])
def test_a_crafted_file_is_refused_and_its_payload_never_runs(demo_data, tmp_path, monkeypatch, where):
    from clearer_basicsr.test import test_pipeline

    marker = tmp_path / 'payload_ran'
    opt = train_options(demo_data, 'crafted')
    if where == 'resume state':
        crafted, flags = tmp_path / 'experiments' / 'crafted' / 'training_states' / '3.state', ['--auto_resume']
        crafted.parent.mkdir(parents=True)
        torch.save({'iter': 3, 'epoch': 0, 'optimizers': [Payload(marker)], 'schedulers': []}, crafted)
    else:
        crafted, flags = tmp_path / 'crafted.pth', []
        torch.save({'params': {'body.0.weight': Payload(marker)}}, crafted)
        opt['path']['pretrain_network_g'] = str(crafted)
        if where == 'tested network':
            opt = _test_options(demo_data, 'crafted', crafted)
    opt_file = write_yaml(tmp_path / 'opt.yml', opt)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(
        UserInputError,
        match=rf'^{re.escape(str(crafted))}: refused: loading it would call posix\.system, which no checkpoint '
        r'or training state holds',
    ):
        if where == 'tested network':
            monkeypatch.chdir(tmp_path)
            test_pipeline(str(tmp_path), ['-opt', opt_file])
        else:
            run_train_inprocess(opt_file, tmp_path, *flags)
    assert not marker.exists()
    assert sorted(os.listdir(tmp_path)) == before  # no experiments or results folder either
    torch.load(crafted, weights_only=False)  # the payload is real: loaded as pickle, it runs
    assert marker.exists()


def test_states_of_basicsr_resume_and_a_state_holding_objects_is_refused(demo_data, tmp_path, one_thread):
    from basicsr.models.base_model import BaseModel

    opt = model_options(train_options(demo_data, 'formats'), tmp_path)
    model = build_model(opt)
    model.feed_data(fixed_batch(1))
    model.optimize_parameters(1)
    BaseModel.save_training_state(model, 0, 1)  # BasicSR 1.4.2's own format (its schedulers hold Counters)
    state = torch_load(tmp_path / 'experiments' / 'formats' / 'training_states' / '1.state')
    resumed = build_model(opt)
    resumed.resume_training(state)
    assert resumed.optimizer_g.state_dict()['state'][0]['step'] == 1
    assert resumed.schedulers[0].milestones == model.schedulers[0].milestones

    # the plugin's states hold plain data (numpy's random state as a list), and its random
    # states come back exactly
    rng = model.training_state(0, 1)['rng']
    assert isinstance(rng['numpy']['state']['key'], list)
    expected = np.random.rand(3)
    np.random.seed(0)
    checkpoint.set_rng_state(rng)
    assert np.array_equal(np.random.rand(3), expected)
    # a state holding a numpy array (an object to unpickle) is refused, naming what it would call
    torch.save({**model.training_state(0, 1), 'rng': {'numpy': np.random.get_state()}}, tmp_path / 'other.state')
    with pytest.raises(UserInputError, match=r'other.state: refused: loading it would call numpy'):
        torch_load(tmp_path / 'other.state')


def test_a_checkpoint_of_other_network_options_is_named_before_any_folder(demo_data, tmp_path):
    """A resume (or a pretrained network) whose options no longer match the saved network: one
    line naming the first key that differs, found before anything is made."""
    opt = train_options(demo_data, 'changed', total_iter=2)
    run_train_inprocess(write_yaml(tmp_path / 'run.yml', opt), tmp_path)
    exp = tmp_path / 'experiments' / 'changed'
    before = hashes(tmp_path)
    opt['network_g']['num_feat'] = 4  # was 8
    shape = r'body\.0\.weight has shape \[8, 1, 3, 3\] there but \[4, 1, 3, 3\] in the network'
    with pytest.raises(UserInputError, match=rf'^{re.escape(str(exp))}/models/net_g_2\.pth: does not fit .*{shape}'):
        run_train_inprocess(write_yaml(tmp_path / 'changed.yml', opt), tmp_path, '--auto_resume')
    opt['name'] = 'fresh'  # a new run starting from that checkpoint
    opt['path']['pretrain_network_g'] = str(exp / 'models' / 'net_g_2.pth')
    with pytest.raises(UserInputError, match=shape):
        run_train_inprocess(write_yaml(tmp_path / 'fresh.yml', opt), tmp_path)
    after = hashes(tmp_path)
    assert {k: after[k] for k in before} == before
    assert not (tmp_path / 'experiments' / 'fresh').exists() and os.listdir(tmp_path / 'experiments') == ['changed']


# --------------------------------------------------------------------------- numerical faults
def search_model(demo_data, root, **train):
    """A tiny search model on the demo folders (no LMDB: several models may read them in one test)."""
    train = {'arch_warmup_iter': 0, 'arch_loss': {'type': 'CLEARERArchLoss', 'lambda_arch': 0.01}, **train}
    opt = search_options(demo_data, 'faults', total_iter=100, **train)
    opt['datasets']['train'] = noise_dataset(demo_data['train_folder'])
    opt['train']['arch_dataset'] = noise_dataset(demo_data['arch_folder'])
    return build_model(model_options(opt, root))


def fixed_batch(seed, lq=None):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(2, 1, 16, 16, generator=g)
    noisy = gt + 0.1 * torch.randn(2, 1, 16, 16, generator=g)
    return {'lq': noisy if lq is None else torch.full_like(gt, lq), 'gt': gt}


def inject(model, fault, monkeypatch):
    """Makes the next iteration's ``fault`` happen; returns the batch to feed."""
    if fault == 'weight loss':  # a corrupt training batch
        return fixed_batch(3, lq=NAN)
    if fault == 'weight gradient':  # a finite loss whose gradient overflows
        model.supernet.head.conv.weight.register_hook(lambda g: g * float('inf'))
    elif fault == 'architecture loss':  # a corrupt arch batch
        monkeypatch.setattr(model.arch_loader, 'next', lambda: fixed_batch(3, lq=float('inf')))
    elif fault == 'architecture gradient':
        model.supernet.arch_logits.register_hook(lambda g: torch.full_like(g, NAN))
    elif fault == 'architecture logits':  # logits that diverged
        with torch.no_grad():
            model.supernet.arch_logits[0, 0] = float('inf')
    return fixed_batch(3)


def iterate(model, it, batch):
    """One iteration as the training loop runs it (the state it reached kept for a non-finite stop)."""
    model.feed_data(batch)
    model.optimize_parameters(it)
    model.keep_finite_state(it)


DATA = "the {} step's input batch holds NaN or Inf values. Check the data \\(a resume meets the same batch\\)"
DIVERGED = 'the {} diverged \\(train: {key}\\). Lower train: {key}: lr and resume with --auto_resume'
FAULTS = {  # fault: (the problem at iteration 4, its cause)
    'weight loss': (r'loss l_pix = nan in the weight step', DATA.format('weight')),
    'weight gradient': (
        r'gradient norm = (inf|nan) \(of l_pix\) in the weight step',
        DIVERGED.format('network weights', key='optim_g'),
    ),
    'architecture loss': (r'loss l_arch_pix = (inf|nan) in the architecture step', DATA.format('architecture')),
    'architecture gradient': (  # through finite logits, only the weights can make it overflow
        r'gradient norm = nan \(of l_arch_pix \+ l_arch_entropy\) in the architecture step',
        DIVERGED.format('network weights', key='optim_g'),
    ),
    'architecture logits': (
        r'loss l_arch_pix = nan in the architecture step',
        DIVERGED.format('architecture logits', key='optim_arch'),
    ),
}


@pytest.mark.parametrize('fault', list(FAULTS))
def test_nonfinite_stops_saving_the_last_finite_state_and_names_the_cause(
    demo_data, tmp_path, monkeypatch, fault, one_thread
):
    """Iteration 4 fails: the state after iteration 3 is what led there, so the one after
    iteration 2 is saved; nothing the user had is touched."""
    model = search_model(demo_data, tmp_path)
    exp = tmp_path / 'experiments' / 'faults'
    for it in (1, 2, 3):
        iterate(model, it, fixed_batch(it))
        if it == 1:
            model.save(0, 1)  # the user's checkpoint of iteration 1
    before = hashes(exp)
    weights_after_2 = model.guard.states[0]['networks']['params']

    model.feed_data(inject(model, fault, monkeypatch))
    problem, cause = FAULTS[fault]
    state_path = exp / 'training_states' / '2.state'
    with pytest.raises(
        NonFiniteError,
        match=rf'^non-finite {problem} at iteration 4: {cause}, or set train: skip_nonfinite: true to skip such '
        rf'steps\. The last finite state, after iteration 2, was saved to {re.escape(str(state_path))}\.$',
    ):
        model.optimize_parameters(4)

    after = hashes(exp)
    assert {k: after[k] for k in before} == before  # nothing the user had is touched
    state = torch_load(state_path)
    assert state['iter'] == 2 and len(state['optimizers']) == 2 and len(state['column_weight_history']) == 2
    saved = torch_load(exp / 'models' / 'net_g_2.pth')['params']
    for key, value in saved.items():
        assert torch.equal(value, weights_after_2[key]), key  # the weights after iteration 2, not the later ones

    if fault == 'weight gradient':  # resumed with a lower learning rate, as the message says
        del model
        retry = search_model(demo_data, tmp_path / 'retry', optim_g={'type': 'SGD', 'lr': 0.005, 'momentum': 0.9})
        retry.load_network(retry.net_g, str(exp / 'models' / 'net_g_2.pth'))
        retry.resume_training(state)  # BasicSR alone would bring back the saved lr 0.025
        retry.update_learning_rate(3)
        assert retry.optimizer_g.param_groups[0]['lr'] == pytest.approx(0.005)  # the lowered one
        assert retry.optimizer_arch.param_groups[0]['lr'] == pytest.approx(0.05)  # as configured and saved
        iterate(retry, 3, fixed_batch(3))
        assert np.isfinite(retry.get_current_log()['l_pix'])


def test_a_newer_state_is_set_aside_and_a_saved_finite_one_kept(demo_data, tmp_path, monkeypatch, one_thread):
    model = search_model(demo_data, tmp_path)
    exp = tmp_path / 'experiments' / 'faults'
    for it in (1, 2):
        iterate(model, it, fixed_batch(it))
        model.save(0, it)  # periodic checkpoints of iterations 1 and 2
    before = hashes(exp)
    model.feed_data(inject(model, 'weight gradient', monkeypatch))
    states = exp / 'training_states'
    with pytest.raises(
        NonFiniteError,
        match=rf'The last finite state, after iteration 1, is at {re.escape(str(states / "1.state"))} '
        r'\(2\.state set aside as \*\.state\.nonfinite\)\.$',
    ):
        model.optimize_parameters(3)
    after = hashes(exp)
    assert after.pop('training_states/2.state.nonfinite') == before.pop('training_states/2.state')
    assert after == before  # renamed, not lost; --auto_resume now picks 1.state


@pytest.mark.parametrize('fails_at', [1, 2])
def test_nonfinite_before_a_finite_state_exists_saves_nothing(demo_data, tmp_path, fails_at, one_thread):
    model = search_model(demo_data, tmp_path)
    for it in range(1, fails_at):
        iterate(model, it, fixed_batch(it))
    model.feed_data(fixed_batch(fails_at, lq=NAN))
    with pytest.raises(
        NonFiniteError,
        match=rf'iteration {fails_at}: .* No finite state after a completed iteration is kept, so nothing was '
        r'saved: start the run again\.$',
    ):
        model.optimize_parameters(fails_at)
    assert hashes(tmp_path / 'experiments') == {}


@pytest.mark.parametrize('print_freq, saved', [(1, 3), (2, 2)])
def test_a_diverging_run_resumed_with_a_lower_rate_gets_past_the_bad_iteration(demo_data, tmp_path, print_freq, saved):
    """The learning rate jumps at iteration 4 (MultiStepLR, gamma 1e30), so iteration 5 overflows;
    the run stops naming optim_g and saves the last state kept before iteration 4 (states are
    kept at log lines only: after 3 with print_freq 1, after 2 with print_freq 2); resumed from
    there with the rate lowered, it trains to the end."""
    net = {'type': 'CLEARERDnCNN', 'in_channels': 1, 'out_channels': 1, 'num_feat': 4, 'num_layers': 3, 'bn': False}
    opt = train_options(demo_data, 'diverges', network_g=net, total_iter=6)
    opt['train']['scheduler'] = {'type': 'MultiStepLR', 'milestones': [3], 'gamma': 1e30}
    opt['logger'].update(save_checkpoint_freq=100, print_freq=print_freq)
    opt['val']['val_freq'] = 100
    with pytest.raises(NonFiniteError, match=r'iteration 5: the network weights diverged \(train: optim_g\)'):
        run_train_inprocess(write_yaml(tmp_path / 'run.yml', opt), tmp_path)
    states = tmp_path / 'experiments' / 'diverges' / 'training_states'
    assert sorted(os.listdir(states)) == [f'{saved}.state']

    opt['train']['optim_g']['lr'] = 1e-33  # from iteration 4: 1e-33 x 1e30 = 1e-3
    model = run_train_inprocess(write_yaml(tmp_path / 'lower.yml', opt), tmp_path, '--auto_resume')
    log = open(sorted((tmp_path / 'experiments' / 'diverges').glob('train_*.log'))[-1]).read()
    assert f'Resuming training from epoch: 0, iter: {saved}' in log and 'iter:       6,' in log
    assert all(torch.isfinite(p).all() for p in model.net_g.parameters())


@pytest.mark.parametrize('fault', [f for f in FAULTS if f != 'architecture logits'])  # one bad step each
def test_skip_nonfinite_skips_the_step_and_counts_it(demo_data, tmp_path, monkeypatch, fault, one_thread):
    model = search_model(demo_data, tmp_path, skip_nonfinite=True)
    for it in (1, 2):
        model.feed_data(fixed_batch(it))
        model.optimize_parameters(it)
    assert 'nonfinite_skips' not in model.get_current_log()
    weights = [p.detach().clone() for p in model.weight_parameters()]
    logits = model.supernet.arch_logits.detach().clone()
    buffers = [b.detach().clone() for b in model.net_g.buffers()]

    model.feed_data(inject(model, fault, monkeypatch))
    model.optimize_parameters(3)  # no exception
    assert model.get_current_log()['nonfinite_skips'] == 1
    weights_same = all(torch.equal(a, b) for a, b in zip(weights, model.weight_parameters()))
    if fault.startswith('weight'):
        assert weights_same  # the weight step was skipped ...
        assert not torch.equal(logits, model.supernet.arch_logits)  # ... the logit step was not
    else:
        assert torch.equal(logits, model.supernet.arch_logits) and not weights_same
    for b in model.net_g.buffers():  # a skipped forward leaves no NaN in the BatchNorm statistics
        assert torch.isfinite(b.float()).all()
    if fault == 'weight loss':
        assert all(torch.equal(a, b) for a, b in zip(buffers, model.net_g.buffers()))

    model.feed_data(fixed_batch(4))
    monkeypatch.undo()
    model.optimize_parameters(4)
    log = model.get_current_log()
    assert log['nonfinite_skips'] == (2 if fault.endswith('gradient') else 1)  # hooks stay: counted again
    assert model.training_state(0, 4)['nonfinite_skips'] == log['nonfinite_skips']


def test_skip_nonfinite_stops_past_its_bound_and_writes_no_untrained_genotype(demo_data, tmp_path, one_thread):
    """Every weight batch corrupt: half the steps skipped, more than the 10 % bound; the run stops
    at the first check (10 steps tried: 5 iterations of a logit and a weight step)."""
    model = search_model(demo_data, tmp_path, skip_nonfinite=True)
    with pytest.raises(
        NonFiniteError,
        match=r'^train: skip_nonfinite: 5 of 10 steps were non-finite and skipped, more than 10%: the run stopped',
    ):
        for it in range(1, 8):
            model.feed_data(fixed_batch(it, lq=NAN))
            model.optimize_parameters(it)
    assert it == 5

    # logits that never took a step are no search result: no genotype.yml
    model = search_model(demo_data, tmp_path / 'warmup', arch_warmup_iter=50)
    model.feed_data(fixed_batch(1))
    model.optimize_parameters(1)
    model.export_architecture(1)
    assert not (tmp_path / 'warmup' / 'experiments' / 'faults' / 'genotype.yml').exists()


# --------------------------------------------------------------------------- data faults
def _colour(seed, h=24, w=20):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_unreadable_truncated_and_empty_images_are_named(tmp_path):
    root = tmp_path / 'clean'
    root.mkdir()
    ok, png = cv2.imencode('.png', _colour(0))
    (root / 'a_good.png').write_bytes(png.tobytes())
    (root / 'b_garbage.png').write_bytes(b'not an image at all')
    (root / 'c_truncated.png').write_bytes(png.tobytes()[: len(png) // 2])
    (root / 'd_empty.png').write_bytes(b'')
    before = hashes(root)
    dataset = GaussianNoiseDataset({'dataroot_gt': str(root), 'phase': 'val', 'sigma': 25})
    assert dataset[0]['gt'].shape == (3, 24, 20)
    for index, name in enumerate(['b_garbage.png', 'c_truncated.png', 'd_empty.png'], 1):
        with pytest.raises(
            ValueError,
            match=rf"cannot decode image '{re.escape(str(root / name))}': unreadable, "
            'truncated or not an image',
        ):
            dataset[index]
    assert hashes(root) == before


def test_corrupt_lmdb_record_and_missing_key_are_named(tmp_path):
    import lmdb

    folder = tmp_path / 'clean'
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f'img{i}.png'), _colour(i))
    db = str(tmp_path / 'clean.lmdb')
    write_lmdb(str(folder), db)
    env = lmdb.open(db, map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b'img1', b'\x89PNG garbage bytes under a valid key')
        txn.put(b'img2', b'')
    env.close()
    meta = tmp_path / 'meta.txt'
    meta.write_text('img0.png\nimg1.png\nimg2.png\nghost.png\n')
    before = hashes(tmp_path)
    dataset = GaussianNoiseDataset(
        {'dataroot_gt': db, 'io_backend': {'type': 'lmdb'}, 'phase': 'val', 'sigma': 25, 'meta_info_file': str(meta)}
    )
    assert dataset[0]['gt'].shape == (3, 24, 20)
    for index, key in ((1, 'img1'), (2, 'img2')):
        with pytest.raises(
            ValueError,
            match=rf"cannot decode image LMDB '{re.escape(db)}', key '{key}': unreadable, "
            'truncated or not an image',
        ):
            dataset[index]
    with pytest.raises(
        KeyError,
        match=rf"key 'ghost' not found in LMDB '{re.escape(db)}' \(listed in "
        rf"'{re.escape(str(meta))}'\)",
    ):
        dataset[3]
    del dataset
    assert hashes(tmp_path) == before


@pytest.mark.parametrize(
    'name, problem',
    [
        ('a b.png', r'white space \(meta_info\.txt lines are split at spaces\)'),
        ('café.png', r"characters outside ASCII \(BasicSR's LMDB readers encode keys as ASCII\)"),
        ('v1.2.png', r"a '\.' besides the extension"),
    ],
)
def test_lmdb_keys_that_cannot_be_read_back_are_refused_before_writing(tmp_path, name, problem):
    folder = tmp_path / 'clean'
    folder.mkdir()
    cv2.imwrite(str(folder / 'good.png'), _colour(0))
    db = str(tmp_path / 'clean.lmdb')
    write_lmdb(str(folder), db)
    cv2.imencode('.png', _colour(1))[1].tofile(str(folder / name))  # cv2.imwrite refuses non-ASCII paths
    before = hashes(tmp_path / 'clean.lmdb')
    with pytest.raises(UserInputError, match=rf"^image '{re.escape(name)}': its name has {problem}"):
        write_lmdb(str(folder), db, overwrite=True)
    assert hashes(tmp_path / 'clean.lmdb') == before  # the LMDB it would have replaced is kept


def test_grayscale_image_in_a_colour_set_is_replicated(tmp_path):
    gray = np.random.default_rng(0).integers(0, 256, (24, 20), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'gray.png'), gray)
    cv2.imwrite(str(tmp_path / 'rgba.png'), np.dstack([_colour(1), np.full((24, 20), 7, np.uint8)]))
    dataset = GaussianNoiseDataset({'dataroot_gt': str(tmp_path), 'phase': 'val', 'sigma': 0, 'in_ch': 3})
    gt = dataset[0]['gt']
    assert gt.shape == (3, 24, 20)
    for c in range(3):  # the documented conversion: the gray plane in every channel
        assert torch.equal((gt[c] * 255).round().to(torch.uint8), torch.from_numpy(gray))
    assert dataset[1]['gt'].shape == (3, 24, 20)  # alpha dropped


# --------------------------------------------------------------------------- arbitrary test images
@pytest.mark.parametrize('channels', [1, 3])
def test_any_test_image_size_keeps_its_size(demo_data, tmp_path, channels, one_thread):
    net = {
        'type': 'CLEARERNet',
        'genotype': 'P F | F P',
        'branch_channels': [4, 8, 16],
        'in_channels': channels,
        'out_channels': channels,
        'stem_blocks': 1,
        'stem_width': 2,
        'residual': True,
    }  # total stride 4
    opt = train_options(demo_data, 'any_size', network_g=net)
    del opt['train']
    opt['datasets'] = {'test_1': noise_dataset(demo_data['test_folder'], phase='test', in_ch=channels)}
    opt['val'] = {'suffix': 'out', 'save_img': True, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}}
    opt = model_options(opt, tmp_path, is_train=False)
    mark_checked(opt)  # untrained weights on purpose: only the sizes matter here
    model = build_model(opt)
    model.net_g.eval()
    all_sizes, few = ((1, 1), (1, 6), (3, 2), (5, 7), (4, 4), (13, 9)), ((1, 1), (5, 7))
    for pad, ensemble, sizes in ((None, False, all_sizes), (4, False, all_sizes), (3, True, few)):
        model.opt['val'].update(pad_multiple=pad, self_ensemble=ensemble)
        for h, w in sizes:
            model.feed_data({'lq': torch.rand(1, channels, h, w)})
            model.test()
            assert model.output.shape == (1, channels, h, w), (pad, ensemble, h, w)
            assert torch.isfinite(model.output).all()

    # whole images from a folder of odd sizes, through BasicSR's validation and save_img
    from basicsr.data import build_dataloader, build_dataset

    folder = tmp_path / 'odd'
    folder.mkdir()
    sizes = {'tiny': (1, 1), 'thin': (2, 9), 'odd': (17, 11)}
    for name, (h, w) in sizes.items():
        cv2.imwrite(str(folder / f'{name}.png'), _colour(h * w, h, w))
    val_opt = noise_dataset(str(folder), phase='val', in_ch=channels, name='odd')
    val_opt.update(phase='val', num_worker_per_gpu=0, batch_size_per_gpu=1)
    loader = build_dataloader(build_dataset(val_opt), val_opt, num_gpu=0, dist=False)
    model.opt['val'].update(pad_multiple=4, self_ensemble=False)
    model.validation(loader, 0, None, save_img=True)
    assert np.isfinite(model.metric_results['psnr'])
    for name, (h, w) in sizes.items():
        saved = cv2.imread(
            os.path.join(model.opt['path']['visualization'], 'odd', f'{name}_out.png'), cv2.IMREAD_UNCHANGED
        )
        assert saved.shape[:2] == (h, w), name
