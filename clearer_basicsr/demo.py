"""``python -m clearer_basicsr.demo``: alias of :mod:`clearer_basicsr.tools.demo`."""

from clearer_basicsr.tools.demo import main

if __name__ == '__main__':
    main()
