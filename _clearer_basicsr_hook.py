"""Start-up hook of clearer-basicsr: a leaf module that imports nothing of the package.

``clearer_basicsr.pth`` in site-packages calls :func:`install` at interpreter start-up, and
``clearer_basicsr.compat`` calls it again (a no-op then) for a plugin used without the ``.pth``.
Importing this module does nothing by itself. It must stay cheap: it imports only ``os`` and
``sys`` (both already loaded at start-up) and installs a meta-path finder that acts lazily,
when a program imports one of two names:

* ``torchvision.transforms.functional_tensor`` (removed from torchvision, still imported by
  basicsr 1.4.2) is served from its successor ``torchvision.transforms._functional_tensor``;
* right after ``basicsr`` finishes importing, ``clearer_basicsr`` is imported (unless it is
  already imported or being imported), so BasicSR's own entry points (``basicsr/train.py``,
  ``python -m basicsr.train``) see the plugin's registered types.
  ``CLEARER_BASICSR_AUTOLOAD=0`` switches that second part off.

The finder and loaders follow the import protocol by duck typing (``find_spec``,
``create_module``, ``exec_module``), which spares the import of ``importlib.abc``.
"""

import os
import sys

_FUNCTIONAL_TENSOR = 'torchvision.transforms.functional_tensor'
_FUNCTIONAL_TENSOR_NOW = 'torchvision.transforms._functional_tensor'


def autoload_enabled() -> bool:
    return os.environ.get('CLEARER_BASICSR_AUTOLOAD', '1').strip().lower() not in ('0', 'false', 'no', 'off')


class _FunctionalTensorAlias:
    """Loader that fills the old module with the names of its successor."""

    def create_module(self, spec: object) -> None:
        return None  # the default module object

    def exec_module(self, module: object) -> None:
        import importlib

        successor = importlib.import_module(_FUNCTIONAL_TENSOR_NOW)
        module.__dict__.update({k: v for k, v in vars(successor).items() if not k.startswith('__')})


class _ImportPluginAfter:
    """Wraps basicsr's own loader; imports the plugin once basicsr's ``__init__`` has run."""

    def __init__(self, loader: object) -> None:
        self.loader = loader

    def create_module(self, spec: object) -> object:
        return self.loader.create_module(spec)

    def exec_module(self, module: object) -> None:
        self.loader.exec_module(module)
        if autoload_enabled() and 'clearer_basicsr' not in sys.modules:
            _import_plugin()

    def __getattr__(self, name: str) -> object:  # get_resource_reader, is_package, ... of the real loader
        return getattr(self.loader, name)


def _import_plugin() -> None:
    """Imports the plugin; a failure is one warning, and BasicSR (already imported) carries on."""
    import importlib

    try:
        importlib.import_module('clearer_basicsr')
    except Exception as err:  # a broken plugin must not break every program that imports basicsr
        import warnings

        warnings.warn(  # stacklevel 3: the import machinery's frame, which prints no source line
            f'clearer_basicsr could not be imported ({type(err).__name__}: {err}); BasicSR runs without the '
            "plugin's types (CLEARER_BASICSR_AUTOLOAD=0 skips the attempt)",
            RuntimeWarning,
            stacklevel=3,
        )


class _Finder:
    """Meta-path finder for the two names above; every other import passes through untouched."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname == _FUNCTIONAL_TENSOR:
            return self._alias_spec(fullname)
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

    @staticmethod
    def _alias_spec(fullname: str) -> object:
        import importlib.machinery
        import importlib.util

        try:
            if importlib.util.find_spec(_FUNCTIONAL_TENSOR_NOW) is None:
                return None
        except ImportError:  # no torchvision
            return None
        return importlib.machinery.ModuleSpec(fullname, _FunctionalTensorAlias())


def install() -> None:
    """Puts the finder first on ``sys.meta_path``; calling it again changes nothing."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
