"""The package's imports: no cycle in the source (every import statement, those inside functions
too), each module importable first in a fresh interpreter, the start-up hook a leaf, and the
runtime independent of the tools."""

import os
import sys
import textwrap

from conftest import REPO, run_cli

sys.path.insert(0, os.path.join(REPO, 'scripts'))
import import_graph  # noqa: E402

ALIASES = (  # python -m names of tools/ modules
    'clearer_basicsr.demo',
    'clearer_basicsr.compare',
    'clearer_basicsr.complexity',
    'clearer_basicsr.options.__main__',
    'clearer_basicsr.zoo.__main__',
    'clearer_basicsr.infer',
    'clearer_basicsr.export',
    'clearer_basicsr.evaluate',
)


def test_no_import_cycle():
    graph = import_graph.import_graph()
    assert len(graph) > 30 and 'clearer_basicsr.options_check' in graph
    assert import_graph.find_cycle(graph) is None


def test_a_cycle_would_be_found():
    assert import_graph.find_cycle({'a': ['b'], 'b': ['c'], 'c': ['a']}) == ['a', 'b', 'c', 'a']
    assert import_graph.find_cycle({'a': ['b', 'c'], 'b': ['c'], 'c': []}) is None


def test_layers():
    """The start-up hook and the command line's leaf import nothing of the package, the option
    rules only its errors; archs and data nothing above them (they build networks and read data:
    no genotype.yml, plot or run-time fix); nothing of the runtime imports the
    tools (only the aliases of tools do), nothing imports clearer-prepare's modules."""
    graph = import_graph.import_graph()
    assert graph['_clearer_basicsr_hook'] == [] and graph['_clearer_basicsr_cli'] == []
    assert graph['clearer_basicsr.errors'] == ['_clearer_basicsr_cli']
    assert graph['clearer_basicsr.option_rules'] == ['clearer_basicsr.errors']
    above_archs_and_data = (
        'clearer_basicsr.search_result',
        'clearer_basicsr.plots',
        'clearer_basicsr.options_check',
        'clearer_basicsr.compat',
        'clearer_basicsr.models',
        'clearer_basicsr.losses',
        'clearer_basicsr.tools',
        'clearer_basicsr.options_check',
        'clearer_basicsr.train',
        'clearer_basicsr.test',
    )
    for module, imports in graph.items():
        if module.startswith(('clearer_basicsr.archs', 'clearer_basicsr.data')):
            assert not [m for m in imports if m.startswith(above_archs_and_data)], module
        if not module.startswith('clearer_basicsr.tools') and module not in ALIASES:
            assert not [m for m in imports if m.startswith('clearer_basicsr.tools')], module
        if not is_prepare(module):  # clearer-prepare: a command of its own, nothing imports it
            assert not [m for m in imports if is_prepare(m)], module


def is_prepare(module):
    return module == 'clearer_basicsr.prepare' or module.startswith('clearer_basicsr.prepare.')


IMPORT_EACH_FIRST = """
    import importlib, os, sys
    import torch, basicsr  # the heavy part once; the plugin is not loaded (autoload off)
    assert 'clearer_basicsr' not in sys.modules
    failed = []
    for name in sys.argv[1:]:
        pid = os.fork()
        if pid == 0:  # a child that has not imported any of the package yet
            try:
                importlib.import_module(name)
            except BaseException as err:
                print(f'{name}: {type(err).__name__}: {err}', flush=True)
                os._exit(1)
            os._exit(0)
        if os.waitpid(pid, 0)[1]:
            failed.append(name)
    print('failed:', failed)
    sys.exit(1 if failed else 0)
"""


def test_each_module_imports_first(tmp_path):
    """Every module imported before any other of the package (a fresh interpreter per module,
    forked after torch and basicsr are loaded) imports without error."""
    names = sorted(m for m in import_graph.modules() if m.startswith('clearer_basicsr'))
    proc = run_cli(['-c', textwrap.dedent(IMPORT_EACH_FIRST), *names], tmp_path, env={'CLEARER_BASICSR_AUTOLOAD': '0'})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'failed: []' in proc.stdout


def test_the_hook_installs_itself_only_when_asked(tmp_path):
    code = (
        'import sys; sys.path.insert(0, sys.argv[1]); import _clearer_basicsr_hook as hook; '
        'finders = lambda: sum(isinstance(f, hook._Finder) for f in sys.meta_path); '
        'before = finders(); hook.install(); hook.install(); print(before, finders())'
    )
    proc = run_cli(['-S', '-c', code, REPO], tmp_path)  # -S: no site-packages, so no .pth ran
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['0', '1']
