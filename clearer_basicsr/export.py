"""``python -m clearer_basicsr.export``: alias of :mod:`clearer_basicsr.tools.export`."""

from _clearer_basicsr_cli import run
from clearer_basicsr.tools.export import main

if __name__ == '__main__':
    run(main)
