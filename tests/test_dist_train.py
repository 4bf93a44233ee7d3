"""scripts/dist_train.sh, BasicSR's launch script for the plugin: a tiny search in 2 processes (gloo on the CPU)."""

import os
import sys

import yaml
from conftest import REPO, run_cli, search_options, write_yaml


def test_dist_train_script_runs_a_search_in_two_processes(demo_data, tmp_path):
    opt = search_options(demo_data, 'dist_search', total_iter=4, arch_warmup_iter=1)
    opt['logger']['save_checkpoint_freq'] = 100
    write_yaml(tmp_path / 'search.yml', opt)
    script = os.path.join(REPO, 'scripts', 'dist_train.sh')
    env = {'PORT': '29531', 'PYTHON': sys.executable, 'OMP_NUM_THREADS': '1'}
    proc = run_cli([script, '2', 'search.yml'], tmp_path, env=env, program='bash')
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    exp = tmp_path / 'experiments' / 'dist_search'
    (log,) = exp.glob('train_dist_search_*.log')
    assert 'world size 2' in log.read_text()  # BasicSR's training statistics: the batch is split over 2 processes
    found = yaml.safe_load(open(exp / 'genotype.yml'))
    assert found['iteration'] == 4


def test_dist_train_script_usage(tmp_path):
    proc = run_cli([os.path.join(REPO, 'scripts', 'dist_train.sh'), '2'], tmp_path, program='bash')
    assert proc.returncode == 2 and 'usage:' in proc.stderr
