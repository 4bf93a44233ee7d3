"""BasicSR's own entry points and the plugin's, in fresh interpreters, as users type them."""

import os
import shutil
import sys

import basicsr
import torch
import yaml
from conftest import REPO, run_cli, search_options, train_options, write_yaml

SITE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(basicsr.__file__)))  # BasicSR's root_path


def check(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_start_up_hook_is_cheap_and_basicsr_import_loads_the_plugin(tmp_path):
    out = check(
        run_cli(['-c', "import sys; print('torch' in sys.modules, '_clearer_basicsr_hook' in sys.modules)"], tmp_path)
    )
    assert out.split() == ['False', 'True']  # the hook is installed, torch is not imported


def test_autoload_off_leaves_basicsr_without_plugin_types(tmp_path):
    code = (
        'import sys, basicsr; from basicsr.utils.registry import DATASET_REGISTRY as D, ARCH_REGISTRY as A; '
        "print('clearer_basicsr' in sys.modules, 'GaussianNoiseDataset' in D._obj_map, "
        "'CLEARERSearchNet' in A._obj_map, 'SwinIR' in A._obj_map)"
    )
    out = check(run_cli(['-c', code], tmp_path, env={'CLEARER_BASICSR_AUTOLOAD': '0'}))
    assert out.split()[-4:] == ['False', 'False', 'False', 'True']  # BasicSR itself still works


def test_basicsr_source_tree_script_trains_with_plugin_types(demo_data, basicsr_tree):
    opt = write_yaml(basicsr_tree / 'tiny.yml', train_options(demo_data, 'tree_run', total_iter=2))
    out = check(run_cli(['basicsr/train.py', '-opt', 'tiny.yml'], basicsr_tree))
    assert 'Dataset [GaussianNoiseDataset]' in out and 'Model [RestorationModel]' in out
    assert (basicsr_tree / 'experiments' / 'tree_run' / 'models' / 'net_g_2.pth').is_file()
    assert opt


def test_python_m_basicsr_train_and_test(demo_data, tmp_path):
    name = f'clearer_pytest_{os.getpid()}'
    train_opt = write_yaml(tmp_path / 'train.yml', train_options(demo_data, name, total_iter=2))
    exp, results = os.path.join(SITE_ROOT, 'experiments', name), os.path.join(SITE_ROOT, 'results', name + '_test')
    try:
        check(run_cli(['-m', 'basicsr.train', '-opt', train_opt], tmp_path))
        ckpt = os.path.join(exp, 'models', 'net_g_latest.pth')
        assert os.path.isfile(ckpt)  # BasicSR's module entry writes under its own root_path
        test = train_options(demo_data, name + '_test')
        test['datasets'] = {'test_1': test['datasets']['val']}
        test['path']['pretrain_network_g'] = ckpt
        test['val'].update(save_img=True, suffix='out', self_ensemble=True)
        out = check(run_cli(['-m', 'basicsr.test', '-opt', write_yaml(tmp_path / 'test.yml', test)], tmp_path))
        assert 'psnr' in out.lower()
        assert len(os.listdir(os.path.join(results, 'visualization', 'test'))) == 3
    finally:
        shutil.rmtree(exp, ignore_errors=True)
        shutil.rmtree(results, ignore_errors=True)


def test_plugin_entry_auto_resume_on_cpu_under_the_cwd(demo_data, tmp_path):
    opt = write_yaml(tmp_path / 'tiny.yml', train_options(demo_data, 'resume_run', total_iter=2))
    check(run_cli(['-m', 'clearer_basicsr.train', '-opt', 'tiny.yml'], tmp_path))
    clearer_train = shutil.which('clearer-train', path=os.path.dirname(sys.executable))
    assert clearer_train, 'console script clearer-train is not installed'
    out = check(
        run_cli(
            ['-opt', 'tiny.yml', '--auto_resume', '--force_yml', 'train:total_iter=4'], tmp_path, program=clearer_train
        )
    )
    assert 'Resuming training from epoch: 0, iter: 2' in out
    models = tmp_path / 'experiments' / 'resume_run' / 'models'
    assert (models / 'net_g_4.pth').is_file() and (tmp_path / 'experiments' / 'resume_run' / 'tiny.yml').is_file()
    assert not os.path.exists(os.path.join(SITE_ROOT, 'experiments', 'resume_run'))
    assert opt


def test_launcher_pytorch_on_cpu_keeps_logits_identical_across_ranks(demo_data, tmp_path):
    """BasicSR's documented launcher, torch.distributed.launch, which passes --local-rank=N."""
    opt = search_options(demo_data, 'ddp_search', total_iter=4, arch_warmup_iter=1)
    opt['logger']['save_checkpoint_freq'] = 100
    write_yaml(tmp_path / 'ddp.yml', opt)
    out = check(
        run_cli(
            [
                '-m',
                'torch.distributed.launch',
                '--nproc_per_node',
                '2',
                '--master_port',
                '29517',
                os.path.join(REPO, 'tests', 'ddp_worker.py'),
                '-opt',
                'ddp.yml',
                '--launcher',
                'pytorch',
            ],
            tmp_path,
            env={'OMP_NUM_THREADS': '1'},
        )
    )
    result = torch.load(tmp_path / 'ddp_logits.pt')
    rank0, rank1 = result['logits']
    assert torch.equal(rank0, rank1), out[-2000:]
    assert not torch.allclose(torch.softmax(rank0, -1), torch.tensor(result['initial']))  # the logits did move
    assert (tmp_path / 'experiments' / 'ddp_search' / 'genotype.yml').is_file()


def test_copied_search_option_runs_through_basicsr_script(demo_data, basicsr_tree):
    """The user's path: copy the shipped options/search_clearer_denoise.yml (paper preset) into a
    BasicSR tree, then BasicSR's own train.py on it, 2 iterations, on the demo data."""
    from clearer_basicsr.tools.option_files import main as options_command

    options_command(['copy', 'search_clearer_denoise', str(basicsr_tree / 'options')])
    force = [
        f'datasets:train:dataroot_gt={demo_data["train_lmdb"]}',
        'datasets:train:batch_size_per_gpu=2',
        'datasets:train:num_worker_per_gpu=0',
        f'datasets:val:dataroot_gt={demo_data["arch_lmdb"]}',  # the held-apart split, as the file has it
        f'train:arch_dataset:dataroot_gt={demo_data["arch_lmdb"]}',
        'train:total_iter=2',
        'train:arch_warmup_iter=1',
        'logger:use_tb_logger=false',
    ]
    out = check(
        run_cli(
            [
                'basicsr/train.py',
                '-opt',
                'options/search_clearer_denoise.yml',
                '--force_yml',
                *force,
            ],
            basicsr_tree,
        )
    )
    exp = basicsr_tree / 'experiments' / 'CLEARER_search_denoise_gray_s30'
    found = yaml.safe_load(open(exp / 'genotype.yml'))
    assert found['iteration'] == 2 and len(found['column_weights']) == 12
    assert found['genotype']['branch_channels'] == [32, 64, 128, 256]
    assert 'Genotype:' in out and (exp / 'models' / 'net_g_latest.pth').is_file()


HELP_WITHOUT_TORCH = """
import sys
import _clearer_basicsr_cli as cli

for name in sorted(n for n in dir(cli) if isinstance(getattr(cli, n), cli.Command)):
    command = getattr(cli, name)
    for argv in (['--help'], *([['list']] if command.module in cli.LISTS else [])):
        sys.argv = [f'clearer-{name}', *argv]
        try:
            command()
        except SystemExit as exit:
            assert exit.code == 0, (name, argv, exit.code)
        assert not cli.LIGHT, name  # back off: a later import in this process loads the whole plugin
        print('LOADED', name, *argv, [m for m in ('torch', 'basicsr', 'cv2') if m in sys.modules], file=sys.stderr)
"""


def test_every_console_script_answers_help_and_list_without_torch(tmp_path):
    """--help of every command, clearer-zoo list and clearer-options list import neither torch nor
    BasicSR (the plugin loads only for the work: _clearer_basicsr_cli.LIGHT)."""
    out = check(run_cli(['-c', HELP_WITHOUT_TORCH], tmp_path))
    lines = [line.removeprefix('LOADED ') for line in out.splitlines() if line.startswith('LOADED ')]
    assert {line.split()[0] for line in lines} >= {'train', 'test', 'infer', 'export', 'prepare', 'zoo', 'options'}
    assert 'zoo list []' in lines and 'options list []' in lines
    assert all(line.endswith(' []') for line in lines), lines


def test_basicsr_parse_options_gives_every_model_type_a_genotype_not_a_file(tmp_path, monkeypatch):
    """BasicSR's own scripts parse with basicsr.utils.options.parse_options: the plugin resolves a
    network_g genotype.yml there, so a CLEARERNet builds under any model_type (SRModel too)."""
    import basicsr.utils.options
    from basicsr.archs import build_network

    from clearer_basicsr.archs.genotype import Genotype
    from clearer_basicsr.checkpoint import rng_kept
    from clearer_basicsr.search_result import SearchResult

    genotype = Genotype.parse('P F | F P', [4, 8, 16])
    SearchResult(genotype).save(tmp_path / 'genotype.yml')
    net = {'type': 'CLEARERNet', 'genotype': str(tmp_path / 'genotype.yml'), 'stem_blocks': 1, 'stem_width': 2}
    option_file = write_yaml(
        tmp_path / 'srmodel.yml',
        {'name': 'sr', 'model_type': 'SRModel', 'num_gpu': 0, 'datasets': {}, 'path': {}, 'network_g': net},
    )
    monkeypatch.setattr(sys, 'argv', ['basicsr/test.py', '-opt', option_file])
    with rng_kept():  # parse_options seeds the global generators
        opt, _ = basicsr.utils.options.parse_options(str(tmp_path), is_train=False)
    assert opt['network_g']['genotype'] == genotype.to_dict()
    assert build_network(dict(opt['network_g'])).genotype() == genotype
