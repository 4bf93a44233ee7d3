"""Errors the plugin's entry points show as one line (``error: ...``, exit status 2) instead of
a traceback; ``--debug`` keeps the traceback."""


class UserInputError(ValueError):
    """Bad input from the user: an option file, a key, a value, a data file or a command-line
    argument. The message names the file, key or value and what was expected."""
