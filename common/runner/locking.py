"""One writer at a time: a lock per table and results folder, and a lock per unit of work.

Locks are :class:`filelock.FileLock` (an OS-level lock on the file: released by the operating
system when the process dies, even after ``kill -9``, so a crashed run never leaves a stale lock).
Beside each lock file a small JSON file names the holder (process id, host, command, start time)
for the refusal message of the next process.

- :func:`table_lock`: held for a whole run of a table writing to one results folder; a second run
  of the same table into the same folder is refused at once, naming the first.
- :func:`unit_lock`: held while one (scheme, fold, identity) trains in its work folder, so that
  runs that share a work folder (e.g. different results folders, or shards of one table run in
  parallel) never train the same unit into the same checkpoint at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from common.atomic_files import atomic_write_text
from common.errors import ReproError


class RunLockedError(ReproError):
    """Another process holds the lock of the table (or unit) this run wants to write."""


def _holder(owner_file: Path) -> str:
    try:
        owner = json.loads(owner_file.read_text())
        started = owner.get("started", "?")
        return (f"process {owner.get('pid')} on {owner.get('host')} (started {started}: "
                f"{' '.join(owner.get('command', []))})")
    except (OSError, ValueError, AttributeError):
        return "another process"


@contextlib.contextmanager
def held_lock(lock_path: str | os.PathLike, what: str):
    """Hold the lock at ``lock_path`` for the ``with`` block, or refuse at once.

    Args:
        lock_path: the lock file (its folder is created).
        what: what the lock protects, for the message (``"mcclstm.table3_gtzan in results/mcclstm"``).

    Raises:
        RunLockedError: another process holds the lock; the message names it.
        OSError: the lock file cannot be created (e.g. a read-only folder).
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    owner_file = lock_path.with_name(lock_path.name + ".json")
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunLockedError(f"{what} is being written by {_holder(owner_file)}.\n"
                             f"Wait for it to finish or stop it; this run changed nothing "
                             f"(lock: {lock_path}).") from None
    try:
        atomic_write_text(owner_file, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": sys.argv,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "time": time.time()}))
        yield lock
    finally:
        with contextlib.suppress(OSError):
            owner_file.unlink()
        lock.release()


def table_lock(results_dir: Path, paper: str, table_id: str):
    """The lock of one table in one results folder: ``<results_dir>/<paper>/.<table_id>.lock``."""
    return held_lock(Path(results_dir) / paper / f".{table_id}.lock",
                     f"{paper}.{table_id} in {Path(results_dir) / paper}")


def unit_lock(unit_work_dir: Path, what: str):
    """The lock of one unit of work in its work folder: ``<unit work dir>/.lock``."""
    return held_lock(Path(unit_work_dir) / ".lock", what)
