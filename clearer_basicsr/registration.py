"""The plugin's names in BasicSR's registries, chosen so that nothing collides with other
BasicSR-based code in the same environment.

The start-up hook imports the plugin as soon as a program imports ``basicsr``, so the plugin
registers before the program's own modules do. A generic name registered by the plugin would
make such a program fail (``An object named 'DnCNN' was already registered``). Hence:

* every name the plugin owns starts with ``CLEARER`` (``CLEARERSearchNet``, ``CLEARERDnCNN``,
  ``CLEARERRestorationModel``, ``CLEARERGaussianNoiseDataset``, ...);
* the generic names of version 0.1 (``DnCNN``, ``RestorationModel``, ``GaussianNoiseDataset``)
  stay as aliases for old option files, and give way: a program that registers one of them
  later takes it over (silently: the name is its own), and a name that is already taken when
  the plugin is imported is left to its owner (one warning, for the plugin's user).

This module imports nothing of the package.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

_ALIASES = '_clearer_aliases'  # attribute of a registry: {alias: the plugin's object}


def register(registry: Any, name: str, alias: str | None = None) -> Callable[[type], type]:
    """Class decorator: registers the class in ``registry`` as ``name`` (and as ``alias`` while
    nothing else wants that name)."""

    def decorate(cls: type) -> type:
        registry._do_register(name, cls)
        if alias is not None:
            _register_alias(registry, alias, cls, name)
        return cls

    return decorate


def _register_alias(registry: Any, alias: str, cls: type, name: str) -> None:
    owner = registry._obj_map.get(alias)
    if owner is not None:
        warnings.warn(
            f"BasicSR's {registry._name} registry already holds a {alias!r} ({owner.__module__}): the plugin's "
            f'{cls.__name__} is registered as {name!r} only; write type: {name} in option files',
            RuntimeWarning,
            stacklevel=4,
        )
        return
    _yielding(registry)[alias] = cls
    registry._obj_map[alias] = cls


def _yielding(registry: Any) -> dict[str, type]:
    """The registry's aliases, after making its registration give way to anyone registering one."""
    aliases = getattr(registry, _ALIASES, None)
    if aliases is None:
        aliases = {}
        setattr(registry, _ALIASES, aliases)
        original = registry._do_register  # BasicSR's: asserts the name is free

        def do_register(name: str, obj: Any, suffix: str | None = None) -> None:
            full = f'{name}_{suffix}' if isinstance(suffix, str) else name
            if full in aliases and registry._obj_map.get(full) is aliases.pop(full):
                del registry._obj_map[full]  # the alias gives way to its new owner
            original(name, obj, suffix)

        registry._do_register = do_register  # on this registry object only; BasicSR's class is untouched
    return aliases
