"""Alias of ``clearer-prepare photos`` (``python -m clearer_basicsr.prepare photos``), the installed
command; ``python scripts/prepare_photos.py --help`` shows its flags."""

import importlib.util
import os
import sys

if importlib.util.find_spec('clearer_basicsr') is None:  # not installed: the checkout's
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _clearer_basicsr_cli import run  # noqa: E402
from clearer_basicsr.prepare import main  # noqa: E402

if __name__ == '__main__':
    run(lambda argv: main(['photos', *argv]))
