"""The start-up hook never hurts another program: other BasicSR-based code that registers the
generic names, a plugin that fails to import, a hook module that was moved away."""

import os
import textwrap

from conftest import REPO, run_cli

# Another BasicSR-based program: its own DnCNN, RestorationModel and GaussianNoiseDataset.
OTHER_PROGRAM = """
    import sys, warnings
    warnings.simplefilter('always')
    import torch
    {first}
    from basicsr.models.sr_model import SRModel
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY

    @ARCH_REGISTRY.register()
    class DnCNN(torch.nn.Module):
        pass

    @MODEL_REGISTRY.register()
    class RestorationModel(SRModel):
        pass

    @DATASET_REGISTRY.register()
    class GaussianNoiseDataset(torch.utils.data.Dataset):
        pass

    {then}
    mine = [r.get(n).__module__ for r, n in ((ARCH_REGISTRY, 'DnCNN'), (MODEL_REGISTRY, 'RestorationModel'),
                                               (DATASET_REGISTRY, 'GaussianNoiseDataset'))]
    plugin = [r.get(n).__module__ for r, n in ((ARCH_REGISTRY, 'CLEARERDnCNN'),
              (MODEL_REGISTRY, 'CLEARERRestorationModel'), (DATASET_REGISTRY, 'CLEARERGaussianNoiseDataset'))]
    print('mine', *mine)
    print('plugin', *plugin)
"""


def test_other_code_registering_the_generic_names_runs(tmp_path):
    # The plugin's names all start with CLEARER: a program's own DnCNN, RestorationModel and
    # GaussianNoiseDataset register whether the hook imported the plugin first or not.
    plugin_modules = (
        'plugin clearer_basicsr.archs.dncnn_arch clearer_basicsr.models.restoration_model '
        'clearer_basicsr.data.gaussian_noise_dataset'
    )
    for first, then, env in (
        ("import basicsr; assert 'clearer_basicsr' in sys.modules", '', None),
        ('import basicsr', 'import clearer_basicsr', {'CLEARER_BASICSR_AUTOLOAD': '0'}),
    ):
        program = OTHER_PROGRAM.format(first=first, then=then)
        proc = run_cli(['-c', textwrap.dedent(program)], tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.split('\n')[:2] == ['mine __main__ __main__ __main__', plugin_modules]
        assert 'RuntimeWarning' not in proc.stderr, proc.stderr  # nothing of the plugin's to warn about


def test_a_failing_plugin_import_leaves_basicsr_working(tmp_path):
    broken = tmp_path / 'broken' / 'clearer_basicsr'
    broken.mkdir(parents=True)
    (broken / '__init__.py').write_text("raise ImportError('a dependency is missing')\n")
    code = (
        'import basicsr, sys; from basicsr.utils.registry import ARCH_REGISTRY; '
        "print('clearer_basicsr' in sys.modules, ARCH_REGISTRY.get('SwinIR').__name__)"
    )
    proc = run_cli(['-c', code], tmp_path, env={'PYTHONPATH': str(tmp_path / 'broken')})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['False', 'SwinIR']
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr  # one warning line, no traceback
    assert (
        'RuntimeWarning: clearer_basicsr could not be imported (ImportError: a dependency is missing); '
        "BasicSR runs without the plugin's types" in lines[0]
    )


def test_a_hook_module_moved_away_is_silent(tmp_path):
    """The .pth line of an install whose hook module is gone (an editable source moved away)."""
    site = tmp_path / 'site'
    site.mkdir()
    with open(os.path.join(REPO, 'clearer_basicsr.pth')) as f:
        (site / 'clearer_basicsr.pth').write_text(f.read())
    code = "import site, sys; site.addsitedir(sys.argv[1]); print('started')"
    proc = run_cli(['-S', '-c', code, str(site)], tmp_path)  # -S: only this site dir's .pth runs
    assert proc.returncode == 0 and proc.stdout.split() == ['started']
    assert proc.stderr == ''
    # with the module there, the same line installs the hook
    code = 'import site, sys; site.addsitedir(sys.argv[1]); print(type(sys.meta_path[0]).__name__)'
    proc = run_cli(['-S', '-c', code, str(site)], tmp_path, env={'PYTHONPATH': REPO})
    assert proc.stdout.split() == ['_Finder'] and proc.stderr == ''
