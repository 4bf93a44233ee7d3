"""Regular and editable installs both put the start-up hook where site-packages processing finds it."""

import glob
import os
import subprocess
import sys
import sysconfig
import zipfile

import pytest
from conftest import REPO, run_cli

# Imports basicsr with the target folder as the only site dir that is processed (python -S):
# the hook must come from that install and import the plugin from there.
PROBE = (
    'import site, sys; sys.path.append({site_packages!r}); site.addsitedir({target!r}); '
    'import basicsr, clearer_basicsr; from basicsr.utils.registry import MODEL_REGISTRY as M; '
    "print(clearer_basicsr.__file__); print('CLEARERSearchModel' in M._obj_map)"
)


def build_and_install(kind, tmp_path):
    wheels, target = tmp_path / 'wheels', tmp_path / 'site'
    if kind == 'regular':
        cmd = [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(wheels), REPO]
    else:  # what `pip install -e .` builds: PEP 660's build_editable
        cmd = [sys.executable, '-c', f'from setuptools import build_meta as b; b.build_editable({str(wheels)!r})']
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    (wheel,) = glob.glob(str(wheels / '*.whl'))
    names = zipfile.ZipFile(wheel).namelist()
    assert 'clearer_basicsr.pth' in names, names
    line = zipfile.ZipFile(wheel).read('clearer_basicsr.pth').decode().strip()
    with open(os.path.join(REPO, 'clearer_basicsr.pth'), encoding='utf-8') as f:
        assert line == f.read().strip()  # the checkout's line, as written
    assert line.startswith('import ') and 'hook.install()' in line  # site runs import lines only
    subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(target), wheel],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


@pytest.mark.parametrize('kind', ['regular', 'editable'])
def test_install_registers_the_plugin_when_basicsr_is_imported(kind, tmp_path):
    target = build_and_install(kind, tmp_path)
    code = PROBE.format(site_packages=sysconfig.get_paths()['purelib'], target=str(target))
    proc = run_cli(['-S', '-c', code], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plugin_file, registered = proc.stdout.split()[-2:]
    expected_root = str(target) if kind == 'regular' else REPO  # editable: the source tree itself
    assert plugin_file.startswith(expected_root) and registered == 'True'
    assert os.path.isfile(os.path.join(target, 'clearer_basicsr.pth'))
    if kind == 'regular':  # the data a pip user runs: the zoo's entries and the option files
        entry = os.path.join(target, 'clearer_basicsr', 'zoo', 'clearer_gray_s30')
        for file in ('net_g.pth', 'genotype.yml', 'test.yml', 'card.yml'):
            assert os.path.isfile(os.path.join(entry, file)), file
        assert os.path.isfile(os.path.join(target, 'clearer_basicsr', 'options', 'demo_search.yml'))
        assert os.path.isfile(os.path.join(target, 'clearer_basicsr', 'options', 'evaluate', 'demo', 'evaluate.yml'))
        # the project's own plans and records (lab/) stay out of the wheel
        installed = [os.path.relpath(os.path.join(d, f), target) for d, _, files in os.walk(target) for f in files]
        assert not [p for p in installed if p.split(os.sep)[0] == 'lab' or 'photos' in p.split(os.sep)], installed
        assert os.path.isfile(os.path.join(target, 'clearer_basicsr', 'prepare', 'photos.py'))
