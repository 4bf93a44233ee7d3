"""``python -m clearer_basicsr.options``: alias of :mod:`clearer_basicsr.tools.option_files`."""

from _clearer_basicsr_cli import run
from clearer_basicsr.tools.option_files import main

if __name__ == '__main__':
    run(main)
