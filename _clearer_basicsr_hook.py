"""Start-up hook of clearer-basicsr, run by ``clearer_basicsr.pth`` in site-packages.

It must stay cheap: it imports nothing heavy (no torch) and only installs a meta-path
finder. The finder does two things, both lazily, when a program imports them:

* ``torchvision.transforms.functional_tensor`` (removed from torchvision, still imported by
  basicsr 1.4.2) is served from its successor ``torchvision.transforms._functional_tensor``;
* right after ``basicsr`` finishes importing, ``clearer_basicsr`` is imported, so BasicSR's own
  entry points (``basicsr/train.py``, ``python -m basicsr.train``) see the plugin's registered
  types. ``CLEARER_BASICSR_AUTOLOAD=0`` switches that second part off.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

_FUNCTIONAL_TENSOR = 'torchvision.transforms.functional_tensor'


def autoload_enabled():
    return os.environ.get('CLEARER_BASICSR_AUTOLOAD', '1').strip().lower() not in ('0', 'false', 'no', 'off')


class _FunctionalTensorAlias(importlib.abc.Loader):
    """Fills the old module with the names of ``torchvision.transforms._functional_tensor``."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        real = importlib.import_module('torchvision.transforms._functional_tensor')
        module.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith('__')})


class _ImportPluginAfter(importlib.abc.Loader):
    """Wraps basicsr's own loader; imports the plugin once basicsr's ``__init__`` has run."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        if autoload_enabled():
            importlib.import_module('clearer_basicsr')

    def __getattr__(self, name):  # get_resource_reader, is_package, ... of the real loader
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == _FUNCTIONAL_TENSOR:
            try:
                importlib.util.find_spec('torchvision.transforms._functional_tensor')
            except ImportError:
                return None
            return importlib.util.spec_from_loader(fullname, _FunctionalTensorAlias())
        if fullname != 'basicsr':
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ImportPluginAfter(spec.loader)
                return spec
        return None


def install():
    """Idempotent: puts the finder first on ``sys.meta_path``."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
