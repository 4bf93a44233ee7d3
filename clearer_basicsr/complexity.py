"""``python -m clearer_basicsr.complexity``: alias of :mod:`clearer_basicsr.tools.complexity`."""

from _clearer_basicsr_cli import run
from clearer_basicsr.tools.complexity import main

if __name__ == '__main__':
    run(main)
