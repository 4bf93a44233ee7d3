"""The command line: clearer-train / clearer-test parsers (help, --local-rank), the exit-status
convention (_clearer_basicsr_cli.run), and every entry point's exit status on success and on
failure, run through its installed console script, ``python -m`` name or script file."""

import json
import os
import shlex
import shutil
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import REPO, run_cli, search_options, train_options, write_yaml
from helpers import evaluation_file, make_bsds, make_rain800, templates

import _clearer_basicsr_cli as cli
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.option_file import read_option_file

BIN = os.path.dirname(sys.executable)


def console_script(name):
    path = shutil.which(name, path=BIN)
    assert path, f'console script {name} is not installed (pip install -e .)'
    return path


# ----------------------------------------------------------------------------- parsers


def test_train_and_test_help_explain_every_flag_without_loading_torch(tmp_path):
    env = {'PYTHONPROFILEIMPORTTIME': '1'}  # every import on stderr
    train = run_cli(['--help'], tmp_path, env=env, program=console_script('clearer-train'))
    test = run_cli(['--help'], tmp_path, env=env, program=console_script('clearer-test'))
    for proc in (train, test):
        assert proc.returncode == 0, proc.stderr[-2000:]
        imported = {line.rsplit('|', 1)[-1].strip() for line in proc.stderr.splitlines()}
        assert 'torch' not in imported and 'basicsr' not in imported and 'clearer_basicsr' not in imported
        assert '--local_rank N, --local-rank N' in proc.stdout and 'examples:' in proc.stdout
        assert 'exit status: 0 done; 2 bad input' in proc.stdout
    assert train.stdout.startswith('usage: clearer-train ') and test.stdout.startswith('usage: clearer-test ')
    assert 'experiments/<name>/training_states/' in train.stdout  # what --auto_resume continues from
    assert 'tb_logger/<name>/' in train.stdout and 'results/<name>/' in test.stdout
    assert '--auto_resume' not in test.stdout


@pytest.mark.parametrize('parser', [cli.train_parser, cli.test_parser])
def test_local_rank_in_either_spelling(parser, tmp_path):
    """torch.distributed.launch passes --local-rank=N (PyTorch >= 2), older launchers --local_rank N."""
    opt = tmp_path / 'x.yml'
    opt.write_text('name: x\n')
    assert parser().parse_args(['-opt', str(opt), '--local-rank=3']).local_rank == 3
    assert parser().parse_args(['--local_rank', '1', '-opt', str(opt)]).local_rank == 1
    assert parser().parse_args(['-opt', str(opt)]).local_rank == 0


def test_help_of_tools_has_no_rest_markup(capsys):
    from clearer_basicsr.tools import compare, complexity

    for main in (compare.main, complexity.main):
        with pytest.raises(SystemExit):
            main(['--help'])
        out = capsys.readouterr().out
        assert '``' not in out and ':mod:' not in out
    assert '--patch_size N, --patch-size N' in out


# ----------------------------------------------------------------------------- run()


def test_run_exits_0_without_printing_the_result(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.run(lambda argv: {'psnr': 27.5}, [])
    assert exit_info.value.code == 0 and capsys.readouterr() == ('', '')


def test_run_shows_bad_input_as_one_line_with_status_2(capsys):
    def bad(argv):
        raise UserInputError('opt.yml: datasets: train: gt_size = -1: expected a positive number')

    with pytest.raises(SystemExit) as exit_info:
        cli.run(bad, ['-opt', 'opt.yml'])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == 'error: opt.yml: datasets: train: gt_size = -1: expected a positive number\n'

    with pytest.raises(SystemExit) as exit_info:
        cli.run(bad, ['-opt', 'opt.yml', '--debug'])  # --debug keeps the traceback
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith('Traceback') and 'in bad' in err
    assert err.endswith('error: opt.yml: datasets: train: gt_size = -1: expected a positive number\n')


def test_run_lets_other_failures_raise(capsys):
    def broken(argv):
        raise RuntimeError('a bug')

    with pytest.raises(RuntimeError, match='a bug'):  # the interpreter prints it and exits 1
        cli.run(broken, [])


# ----------------------------------------------------------------------------- every entry point

# Runs the cases in a fresh interpreter that loads torch, BasicSR and the plugin once and forks a
# child per case (seconds saved per case): the child runs the console script's file from the
# venv's bin/, a python -m module or a script file, exactly as the interpreter would run it,
# with its output in a log, and exits with the status the interpreter would give.
DRIVER = textwrap.dedent(
    """
    import json, os, runpy, shutil, sys, traceback
    import torch, basicsr, clearer_basicsr  # noqa: F401

    statuses = {}
    for case in json.load(open(sys.argv[1])):
        pid = os.fork()
        if pid == 0:
            os.chdir(case['cwd'])
            for src, dst in case['copies']:
                shutil.copytree(src, dst)
            log = os.open(case['log'], os.O_WRONLY | os.O_CREAT)
            os.dup2(log, 1)
            os.dup2(log, 2)
            sys.argv = [case['target'], *case['argv']]
            code = 0
            try:
                if case['kind'] == 'module':
                    runpy.run_module(case['target'], run_name='__main__', alter_sys=True)
                else:  # as `python file.py`: its folder first on sys.path
                    sys.path.insert(0, os.path.dirname(case['target']))
                    runpy.run_path(case['target'], run_name='__main__')
            except SystemExit as exit:
                code = 0 if exit.code is None else exit.code
                if not isinstance(code, int):
                    print(code, file=sys.stderr)
                    code = 1
            except BaseException:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        statuses[case['name']] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    print(json.dumps(statuses))
    """
)


def case(target, kind, argv, status, copies=()):
    """One run: ``kind`` is script (an installed console script), module (python -m) or path (a
    script file); ``copies`` are (src, dst) folders copied before it runs."""
    argv = shlex.split(argv) if isinstance(argv, str) else argv
    return {'target': target, 'kind': kind, 'argv': argv, 'status': status, 'copies': list(copies)}


def entry_point_cases(root, demo_data, tiny_data):
    """Every entry point on success and on failure, in run order (the test needs the train)."""
    demo_root = demo_data['root']
    write_yaml(root / 'train.yml', train_options(demo_data, 'cli_train', total_iter=2))
    test = train_options(demo_data, 'cli_test')
    test['datasets'] = {'test_1': test['datasets']['val']}
    test['path']['pretrain_network_g'] = 'experiments/cli_train/models/net_g_latest.pth'
    write_yaml(root / 'test.yml', test)
    write_yaml(root / 'search.yml', search_options(demo_data, 'cli_search'))
    (root / 'payload.yml').write_text(f"name: !!python/object/apply:builtins.open ['{root / 'ran'}', 'w']\n")
    (root / 'not_a_run').mkdir()
    (root / 'evaluation').mkdir()  # its own search.yml, test.yml, ...
    evaluation = evaluation_file(root / 'evaluation', templates(demo_data, root / 'evaluation')[0])
    write_yaml(root / 'bad_evaluation.yml', {**read_option_file(evaluation), 'budgets': [1.5]})
    bsds, rain800 = make_bsds(root, np.random.default_rng(0)), make_rain800(root / 'Rain800', np.random.default_rng(1))
    scripts, benchmarks = os.path.join(REPO, 'scripts'), os.path.join(REPO, 'benchmarks')
    demo_test = os.path.join(REPO, 'clearer_basicsr', 'options', 'demo_test.yml')
    zoo = ['--search', 'experiments/demo_clearer_search', '--retrain', 'experiments/demo_clearer_train']
    zoo += ['--test', demo_test, '--budget', '0.75']
    # the demo's runs under the names the sweep gives them: the sweep skips finished stages
    demo_runs = [
        (f'{folder}/demo_clearer_{stage}', f'{folder}/sweep_lc0_{stage}')
        for folder, stage in (('experiments', 'search'), ('experiments', 'train'), ('results', 'test'))
    ]
    sweep = ['--lambdas', '0', '--data', demo_root, '--size', '16', '--out', 'sweep']
    gt = ['--gt', tiny_data['gt'], '--arch-fraction', '0.34']
    cases = [
        case('clearer-train', 'script', '-opt train.yml', 0),
        case('clearer-train', 'script', '-opt payload.yml', 2),
        case('clearer_basicsr.train', 'module', '-opt train.yml --launcher bogus', 2),
        case('clearer-test', 'script', '-opt test.yml', 0),
        case('clearer-test', 'script', '-opt test.yml --auto_resume', 2),
        case('clearer_basicsr.test', 'module', '-opt test.yml --force_yml name=', 2),
        case('clearer-infer', 'script', f'-opt test.yml --input {demo_data["test_folder"]} --output inferred', 0),
        case('clearer-infer', 'script', f'-opt test.yml --input {demo_data["test_folder"]} --output x --tile -1', 2),
        case('clearer_basicsr.infer', 'module', '-opt test.yml --input no_such_image.png --output x', 2),
        case('clearer-evaluate', 'script', f'-opt {evaluation} --plan', 0),
        case('clearer-evaluate', 'script', '-opt bad_evaluation.yml --plan', 2),
        case('clearer_basicsr.evaluate', 'module', '-opt no_such_file.yml', 2),
        case('clearer-compare', 'script', 'results/cli_test --out cmp --size 16 --no-latency', 0),
        case('clearer-compare', 'script', 'not_a_run --out cmp2', 2),
        case('clearer_basicsr.compare', 'module', 'results/cli_test --out cmp3 --size 16 --no-latency', 0),
        case('clearer-complexity', 'script', '-opt search.yml', 0),
        case('clearer-complexity', 'script', '-opt train.yml', 2),
        case('clearer_basicsr.complexity', 'module', '-opt search.yml --genotype "P Q"', 2),
        case('clearer-options', 'script', 'list', 0),
        case('clearer-options', 'script', 'copy no_such_file copied/', 2),
        case('clearer_basicsr.options', 'module', 'copy demo_search copied/', 0),
        case('clearer-zoo', 'script', 'list', 0),
        case('clearer-zoo', 'script', 'copy no_such_entry zoo_copy/', 2),
        case('clearer_basicsr.zoo', 'module', 'copy clearer_gray_s30 zoo_copy/', 0),
        case('clearer-infer', 'script', f'--zoo clearer_gray_s30 --input {demo_data["test_folder"]} --output zi', 0),
        case('clearer-infer', 'script', f'--zoo no_such_entry --input {demo_data["test_folder"]} --output zi2', 2),
        case('clearer-demo', 'script', f'--quick --data {demo_root}', 0),
        case('clearer-demo', 'script', '--force_yml train:total_iter', 2),
        case('clearer_basicsr.demo', 'module', '--quick --force_yml no_section:key=1', 2),
        case('clearer-export', 'script', f'-opt {demo_test} --torchscript net.pt', 0),  # the demo's net
        case('clearer-export', 'script', f'-opt {demo_test}', 2),
        case('clearer_basicsr.export', 'module', '-opt payload.yml --torchscript net2.pt', 2),
        case('clearer_basicsr.tools.sweep_complexity', 'module', sweep, 0, demo_runs),
        case('clearer_basicsr.tools.sweep_complexity', 'module', '--warmup 0', 2),
        case('clearer_basicsr.data.demo_data', 'module', f'--out {demo_root}', 0),
        case('clearer_basicsr.data.demo_data', 'module', '--out train.yml/demo', 1),
        case('clearer-prepare', 'script', f'bsd500 {bsds} --out bsd', 0),
        case('clearer-prepare', 'script', f'bsd500 {bsds} --out bsd', 2),  # outputs there, no --force
        case('clearer_basicsr.prepare', 'module', f'rain800 {rain800} --out rain --arch-fraction 0.34', 0),
        case('clearer-prepare', 'script', 'rain800 no_such_folder', 2),
        case(
            'clearer-prepare',
            'script',
            ['paired', '--layout', 'generic', '--lq', tiny_data['lq'], *gt, '--out', 'p'],
            0,
        ),
        case(f'{scripts}/prepare_paired.py', 'path', ['--layout', 'generic', '--lq', 'missing', *gt, '--out', 'p2'], 2),
        case('clearer-prepare', 'script', 'photos no_such_package.deb --out photos', 2),
        # a zoo entry from the demo's search and retrain (made by the clearer-demo case above)
        case(f'{scripts}/make_zoo_entry.py', 'path', zoo + ['--out', 'zoo/demo'], 0),
        case(f'{scripts}/make_zoo_entry.py', 'path', ['--search', 'not_a_run', *zoo[2:], '--out', 'zoo/x'], 2),
        case(f'{scripts}/make_zoo_entry.py', 'path', [*zoo, '--out', 'zoo/y', '--checkpoint', '99999'], 2),
        case(f'{scripts}/draw_architecture.py', 'path', '--out arch.svg', 0),
        case(f'{scripts}/draw_architecture.py', 'path', '--out missing/arch.svg', 1),
        case(f'{scripts}/import_graph.py', 'path', '--folders', 0),
        case(f'{scripts}/import_graph.py', 'path', '--modules', 2),
    ]
    cases.append(case(f'{benchmarks}/bench_startup.py', 'path', '--source no_such_checkout', 2))
    cases.append(case(f'{benchmarks}/logit_gradient.py', 'path', '--steps 0', 2))
    cases.append(case(f'{benchmarks}/val_curves.py', 'path', 'not_a_run', 2))
    cases.append(case(f'{benchmarks}/checkpoint_gap.py', 'path', '-opt t.yml --experiment not_a_run', 2))
    spaces = [f'--space=a={REPO}/docs/evaluation_ema.csv', f'--space=b={REPO}/docs/evaluation_open_ema.csv']
    cases.append(case(f'{benchmarks}/space_comparison.py', 'path', ['--budget', '0.75', '0.75', '0.75', *spaces], 2))
    cases.append(case(f'{benchmarks}/space_comparison.py', 'path', ['--budget', '0.75', *spaces, '--plot', 's.png'], 0))
    cases.append(case(f'{benchmarks}/bench_train_step.py', 'path', '--steps 0', 2))
    if not torch.cuda.is_available():  # a device that is not there is bad input
        cases.append(case(f'{benchmarks}/bench_archs.py', 'path', '--device cuda', 2))
        cases.append(case(f'{benchmarks}/bench_search.py', 'path', '--device cuda --no-derived', 2))
        cases.append(case(f'{benchmarks}/bench_train_step.py', 'path', '--device cuda', 2))
        cases.append(case(f'{scripts}/gpu_check.py', 'path', '--device cuda', 2))
        cases.append(case('clearer-export', 'script', '--zoo clearer_gray_s30 --torchscript z.pt --device cuda', 2))
    return cases


def test_every_entry_point_exits_0_on_success_and_non_zero_on_failure(demo_data, tiny_data, tmp_path):
    """Issue 14: clearer-demo printed its scores dict and exited 1 after a successful run."""
    cases = entry_point_cases(tmp_path, demo_data, tiny_data)
    for i, c in enumerate(cases):
        c['name'] = f'{i:02d} {os.path.basename(c["target"])} {shlex.join(c["argv"])}'
        c['target'] = console_script(c['target']) if c['kind'] == 'script' else c['target']
        c.update(cwd=str(tmp_path), log=str(tmp_path / f'case{i:02d}.log'))
    (tmp_path / 'cases.json').write_text(json.dumps(cases))
    proc = run_cli(['-c', DRIVER, str(tmp_path / 'cases.json')], tmp_path, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    statuses = json.loads(proc.stdout.splitlines()[-1])
    logs = {c['name']: open(c['log']).read() for c in cases}
    wrong = {
        c['name']: (statuses[c['name']], logs[c['name']][-1500:]) for c in cases if statuses[c['name']] != c['status']
    }
    assert not wrong, wrong

    def log_of(text):
        return next(log for name, log in logs.items() if text in name)

    demo = log_of(f'clearer-demo --quick --data {demo_data["root"]}')
    assert 'CLEARER demo' in demo and "{'noisy input'" not in demo  # the table, not the returned dict
    assert log_of('payload.yml').splitlines() == [
        'error: payload.yml: line 1: the tag !!python/object/apply:builtins.open is not allowed: '
        'option files are read as plain data (mappings, lists, strings, numbers, booleans; YAML standard tags '
        'such as !!float only)'
    ]
    assert not (tmp_path / 'ran').exists()  # the payload did not run
    assert log_of('photos no_such_package.deb').splitlines() == [
        'error: no_such_package.deb: no such file or folder; expected a .deb package or the folder it was '
        'extracted to (clearer-prepare photos --help shows the layout)'
    ]
    assert 'unrecognized arguments: --auto_resume' in log_of('test.yml --auto_resume')
    assert 'no_section' in log_of('no_section:key=1').splitlines()[-1]
    assert (tmp_path / 's.png').read_bytes().startswith(b'\x89PNG')  # the two spaces drawn
    assert (tmp_path / 'sweep.csv').is_file() and (tmp_path / 'copied' / 'demo_search.yml').is_file()
    assert len(os.listdir(tmp_path / 'inferred')) == 3 and (tmp_path / 'net.pt').is_file()
    assert sorted(os.listdir(tmp_path / 'zoo' / 'demo')) == [
        'card.yml',
        'genotype.png',
        'genotype.yml',
        'net_g.pth',
        'test.yml',
    ]
    assert sorted(os.listdir(tmp_path / 'zoo_copy' / 'clearer_gray_s30')) == [
        'genotype.png',
        'genotype.yml',
        'net_g.pth',
        'test.yml',
    ]


def test_a_file_it_may_not_write_is_one_line_with_status_2(capsys):
    """A read-only experiments/ (or any file the user may not write or read): no traceback."""

    def denied(argv):
        raise PermissionError(13, 'Permission denied', 'experiments/run/models')

    with pytest.raises(SystemExit) as exit_info:
        cli.run(denied, [])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: experiments/run/models: permission denied') and err.count('\n') == 1
