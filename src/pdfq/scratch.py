"""Scratch files and folders in the system's temporary folder (``TMPDIR``), named after the
process that made them: ``pdfq-<pid>-<kind>-…``.

A worker process may be killed before its clean-up runs (SIGKILL at a time limit or the memory
cap, a cancel), and the killed ones are usually those with the largest files: a downloaded
input, a conversion folder. :func:`remove_orphans`, run when a worker or API process starts,
removes what processes that are gone left behind. Process ids are this host's (this PID
namespace's): a ``TMPDIR`` shared with hosts or containers that see other processes would have
their live files taken for orphans, so give each its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "pdfq-"


def prefix(kind: str) -> str:
    """The prefix of a scratch file or folder of this process (for ``tempfile``)."""
    return f"{PREFIX}{os.getpid()}-{kind}-"


def _owner(name: str) -> int | None:
    parts = name[len(PREFIX) :].split("-", 2)
    if not name.startswith(PREFIX) or len(parts) < 3 or not parts[0].isdigit():
        return None  # not made here (or by an older version): not ours to judge
    return int(parts[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_orphans(folder: Path | None = None) -> int:
    """Remove the scratch files and folders whose process is gone; returns how many."""
    removed = 0
    for entry in Path(folder or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = _owner(entry.name)
        if pid is None or _alive(pid):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
    return removed
