"""Every file a run writes goes through :func:`atomic_write`: a temporary file next to the
target, flushed to disk, then renamed over it. A killed process leaves either the old file or
the new one, never half of one; what it may leave is a ``*.<pid>.tmp`` file, which
:func:`remove_partial_writes` clears when the run resumes. (The temporary name must not end in
``state``: BasicSR's auto-resume parses every such file as an iteration number.) A write that
fails on a full disk removes its temporary file and raises :class:`DiskFullError`.
This module imports nothing of the package."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
from collections.abc import Iterator
from typing import IO

from _clearer_basicsr_cli import DiskFullError

_PARTIAL = re.compile(r'\.\d+\.tmp$')  # the temporary names atomic_write makes
FULL_BELOW = 1 << 20  # bytes free under which a failed write is put down to a full disk


def is_disk_full(err: BaseException, path: str | os.PathLike) -> bool:
    """Whether ``err``, raised while writing ``path``, means its file system is full: an ENOSPC
    (or quota) error anywhere in its chain (torch.save raises its own RuntimeError with the
    OSError as context, or without it), or hardly any space left where ``path`` goes."""
    seen, chain = err, set()
    while seen is not None and id(seen) not in chain:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        chain.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    try:
        stat = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < FULL_BELOW


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
    except Exception as err:
        if is_disk_full(err, tmp):
            raise DiskFullError(path) from err
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_image(img: object, path: str | os.PathLike) -> None:
    """An image (as BasicSR's ``imwrite`` takes it) written all at once, its folder made as needed;
    its format from the extension."""
    import cv2

    path = os.fspath(path)
    ok, encoded = cv2.imencode(os.path.splitext(path)[1], img)
    if not ok:
        raise OSError(f'cannot encode an image for {path}')
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with atomic_write(path, binary=True) as f:
        f.write(encoded.tobytes())


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


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, command: str) -> Iterator[None]:
    """Holds an OS lock on ``folder`` meanwhile (a file ``.<name>.lock`` beside it, so that it
    survives the folder being archived under another name; removed when the holder is done). The
    lock dies with the process, so a killed run never blocks the next one; while it is held, a
    second run of the same folder is refused in one line naming the holder's process id.
    ``command`` (what continues, e.g. ``clearer-train --auto_resume``) ends that line."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks
        yield
        return
    from _clearer_basicsr_cli import UserInputError

    folder = os.path.abspath(os.fspath(folder))
    lock_path = os.path.join(os.path.dirname(folder), f'.{os.path.basename(folder)}.lock')
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors='replace').strip() or 'unknown'
            os.close(fd)
            raise UserInputError(
                f'{folder}: another run is using it (process {holder}); nothing was written. Wait for it to '
                f'finish (then {command} continues it) or give this run another name'
            ) from None
        try:
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                break  # else its holder removed it as we opened it: lock the new one
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.remove(lock_path)  # while still held: a run that opened it meanwhile retries on a new file
        os.close(fd)
