"""The plugin's names in BasicSR's registries, chosen so that nothing collides with other
BasicSR-based code in the same environment.

The start-up hook imports the plugin as soon as a program imports ``basicsr``, so the plugin
registers before the program's own modules do. A generic name registered by the plugin would
make such a program fail (``An object named 'DnCNN' was already registered``), so every name
the plugin owns starts with ``CLEARER`` (``CLEARERSearchNet``, ``CLEARERDnCNN``,
``CLEARERRestorationModel``, ``CLEARERGaussianNoiseDataset``, ...).

This module imports nothing of the package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def register(registry: Any, name: str) -> Callable[[type], type]:
    """Class decorator: registers the class in ``registry`` as ``name`` (its class name may differ)."""

    def decorate(cls: type) -> type:
        registry._do_register(name, cls)
        return cls

    return decorate
