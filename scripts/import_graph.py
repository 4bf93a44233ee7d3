"""The import graph of the package, read from its source (nothing is imported).

    python scripts/import_graph.py            # one line per module: what of the package it imports
    python scripts/import_graph.py --folders  # the same, folder by folder

Every ``import`` and ``from ... import`` statement counts, those inside functions too (an import
put in a function to dodge a cycle is still a cycle). A module's implicit import of its parent
packages is not an edge. tests/test_import_graph.py checks that the graph has no cycle.
"""

import argparse
import ast
import importlib.util
import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec('_clearer_basicsr_cli') is None:  # not installed: the checkout's
    sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import run  # noqa: E402

PACKAGE = 'clearer_basicsr'
HOOK = '_clearer_basicsr_hook'
CLI = '_clearer_basicsr_cli'


def modules():
    """``{module name: file}`` of the package, the start-up hook and the command line's leaf."""
    found = {name: os.path.join(ROOT, f'{name}.py') for name in (HOOK, CLI)}
    for folder, dirs, files in os.walk(os.path.join(ROOT, PACKAGE)):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        for name in sorted(files):
            if name.endswith('.py'):
                parts = os.path.relpath(os.path.join(folder, name), ROOT)[: -len('.py')].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                found['.'.join(parts)] = os.path.join(folder, name)
    return found


def imported_modules(module, path, found):
    """The modules of ``found`` that ``module`` imports (``from a import b``: a.b when it is a module, else a)."""
    is_package = os.path.basename(path) == '__init__.py'
    package = module if is_package else module.rpartition('.')[0]
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[: len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            names |= {f'{base}.{a.name}' if f'{base}.{a.name}' in found else base for a in node.names}
    return sorted(n for n in names if n in found and n != module)


def import_graph():
    """``{module: sorted modules of the package it imports}``."""
    found = modules()
    return {module: imported_modules(module, path, found) for module, path in found.items()}


def find_cycle(graph):
    """One cycle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = 'done'
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


SUBPACKAGES = ('archs', 'data', 'losses', 'models', 'prepare', 'tools')


def folder_of(module):
    """``clearer_basicsr/archs/``, ``clearer_basicsr/*.py`` (top-level modules), or the module itself."""
    parts = module.split('.')
    if parts[0] != PACKAGE or len(parts) == 1:
        return module
    return f'{PACKAGE}/{parts[1]}/' if parts[1] in SUBPACKAGES else f'{PACKAGE}/*.py'


def main(argv=None):
    """Prints the graph; returns it. A cycle is a failure (exit status 1)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--folders', action='store_true', help='folder to folder instead of module to module')
    args = parser.parse_args(argv)
    graph = import_graph()
    if args.folders:
        folders = defaultdict(set)
        for module, targets in graph.items():
            folders[folder_of(module)] |= {folder_of(t) for t in targets} - {folder_of(module)}
        graph = {k: sorted(v) for k, v in folders.items()}
    width = max(len(m) for m in graph)
    for module in sorted(graph):
        print(f'{module:<{width}}  -> {", ".join(graph[module]) or "(nothing of the package)"}')
    cycle = find_cycle(import_graph())
    if cycle:
        raise SystemExit('cycle: ' + ' -> '.join(cycle))
    print('no cycle')
    return graph


if __name__ == '__main__':
    run(main)
