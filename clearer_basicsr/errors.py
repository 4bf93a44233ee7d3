"""Errors the plugin's entry points show as one line (``error: ...``, exit status 2) instead of
a traceback; ``--debug`` keeps the traceback.

:class:`UserInputError` is defined in the top-level ``_clearer_basicsr_cli`` (the command line
that runs before the package is imported, and catches it); this is its name in the package."""

from _clearer_basicsr_cli import DiskFullError, UserInputError

__all__ = ['DataError', 'DiskFullError', 'UserInputError']


class DataError(UserInputError, ValueError):
    """The data cannot serve the run (an image that cannot be decoded, fewer samples than a
    batch): shown as one line with status 2, even when found after the run started."""
