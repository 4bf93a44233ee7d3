"""``python -m clearer_basicsr.infer``: alias of :mod:`clearer_basicsr.tools.infer`."""

from _clearer_basicsr_cli import run
from clearer_basicsr.tools.infer import main

if __name__ == '__main__':
    run(main)
