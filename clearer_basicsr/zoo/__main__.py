"""``python -m clearer_basicsr.zoo``: alias of :mod:`clearer_basicsr.tools.zoo`."""

from _clearer_basicsr_cli import run
from clearer_basicsr.tools.zoo import main

if __name__ == '__main__':
    run(main)
