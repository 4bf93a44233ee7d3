"""clearer-basicsr: CLEARER multi-scale neural architecture search as a BasicSR plugin.

Importing the package is enough: it applies the basicsr 1.4.2 compatibility fixes and
registers every component (archs, datasets, losses, models) in BasicSR's registries
(:mod:`.plugin`). Only a console script answering without torch (``--help``, ``clearer-zoo
list``, ``clearer-options list``) imports the package without them.
"""

import _clearer_basicsr_cli

if not _clearer_basicsr_cli.LIGHT:
    from . import plugin  # noqa: F401

__version__ = '0.1.0'
