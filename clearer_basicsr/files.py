"""Every file a run writes goes through :func:`atomic_write`: a temporary file next to the
target, flushed to disk, then renamed over it. A killed process leaves either the old file or
the new one, never half of one; what it may leave is a ``*.<pid>.tmp`` file, which
:func:`remove_partial_writes` clears when the run resumes. (The temporary name must not end in
``state``: BasicSR's auto-resume parses every such file as an iteration number.)
This module imports nothing of the package."""

from __future__ import annotations

import contextlib
import glob
import os
import re
from collections.abc import Iterator
from typing import IO

_PARTIAL = re.compile(r'\.\d+\.tmp$')  # the temporary names atomic_write makes


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, binary: bool = False) -> Iterator[IO]:
    """``with atomic_write(path) as f: ...`` writes ``path`` all at once, or not at all."""
    path = os.fspath(path)
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        with open(tmp, 'wb' if binary else 'w', encoding=None if binary else 'utf-8') as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def remove_partial_writes(folder: str | os.PathLike) -> list[str]:
    """Removes the temporary files that killed writes left under ``folder``; returns their paths."""
    found = [
        p
        for p in glob.glob(os.path.join(glob.escape(os.fspath(folder)), '**', '*.tmp'), recursive=True)
        if _PARTIAL.search(p) and os.path.isfile(p)
    ]
    for path in found:
        os.remove(path)
    return found
