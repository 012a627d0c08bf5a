"""Atomic file writes: every result, record, cache entry and checkpoint note is written through here.

A temporary file in the destination's folder is filled, flushed to disk and renamed over the
destination (``os.replace``), so a reader sees the old file or the new one, never half of one, and
an interrupted or failed write (disk full, read-only folder) leaves the old file as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def _file_mode() -> int:
    """Permission bits of a new file under the process's umask (``0o666 & ~umask``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, write: Callable[[object], None]) -> None:
    """Write a file atomically: ``write(fileobj)`` fills a temporary file that is then renamed.

    The file gets the permissions a plain ``open`` would give it (``0o666`` less the umask), not
    the ``0o600`` of a temporary file. On failure the temporary file is removed and the
    destination is left as it was.

    Args:
        path: destination; its folder is created if needed.
        write: callable receiving a binary file object opened for writing.

    Raises:
        OSError: the folder or file cannot be written (read-only, permissions, disk full); the
            exception's ``filename`` is the destination.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None and not exc.filename:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file (UTF-8) atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, lambda handle: handle.write(text.encode("utf-8")))
