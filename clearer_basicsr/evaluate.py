"""``python -m clearer_basicsr.evaluate``: alias of :mod:`clearer_basicsr.tools.evaluate`."""

from _clearer_basicsr_cli import run
from clearer_basicsr.tools.evaluate import main

if __name__ == '__main__':
    run(main)
