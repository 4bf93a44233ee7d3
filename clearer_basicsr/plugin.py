"""The plugin loaded: basicsr 1.4.2's fixes applied and every component (archs, datasets, losses,
models) registered in BasicSR's registries. ``import clearer_basicsr`` imports this, except while
a console script answers without torch (``--help``, ``clearer-zoo list``, ``clearer-options
list``: :data:`_clearer_basicsr_cli.LIGHT`); every other command imports it before its work."""

from . import compat

compat.apply()

from . import archs, data, losses, models  # noqa: E402,F401  (registration happens on import)
