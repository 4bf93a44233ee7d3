"""``python -m clearer_basicsr.test -opt X.yml`` (console script ``clearer-test``).

BasicSR's test pipeline with results under the current directory (``results/<name>``), not
site-packages, and the plugin registered."""

import os

from basicsr.test import test_pipeline

import clearer_basicsr  # noqa: F401  (registers the plugin, applies the compatibility fixes)


def main():
    test_pipeline(os.getcwd())


if __name__ == '__main__':
    main()
