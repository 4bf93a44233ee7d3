"""The option files that ship with the plugin (YAML data, read as data: nothing here runs them).

``python -m clearer_basicsr.options list`` shows them; ``... copy NAME DIR`` copies them out
(:mod:`clearer_basicsr.tools.option_files`). The repository's top-level ``options/`` is a link
to this folder."""
