"""clearer-basicsr: CLEARER multi-scale neural architecture search as a BasicSR plugin.

Importing the package is enough: it applies the basicsr 1.4.2 compatibility fixes and
registers every component (archs, datasets, losses, models) in BasicSR's registries.
"""

from . import compat

compat.apply()

from . import archs, data, losses, models  # noqa: E402,F401  (registration happens on import)

__version__ = '0.1.0'
