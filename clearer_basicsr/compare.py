"""``python -m clearer_basicsr.compare``: alias of :mod:`clearer_basicsr.tools.compare`."""

from _clearer_basicsr_cli import run
from clearer_basicsr.tools.compare import main

if __name__ == '__main__':
    run(main)
