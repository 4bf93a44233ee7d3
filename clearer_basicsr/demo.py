"""``python -m clearer_basicsr.demo``: alias of :mod:`clearer_basicsr.tools.demo`."""

from _clearer_basicsr_cli import run
from clearer_basicsr.tools.demo import main

if __name__ == '__main__':
    run(main)
