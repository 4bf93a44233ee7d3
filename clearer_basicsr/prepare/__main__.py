"""``python -m clearer_basicsr.prepare COMMAND``: the console script ``clearer-prepare``."""

from _clearer_basicsr_cli import run
from clearer_basicsr.prepare import main

if __name__ == '__main__':
    run(main)
