"""Scratch files of killed processes are found and removed; nobody else's are touched."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pdfq import scratch


def _gone_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_what_a_gone_process_left_is_removed_and_nothing_else(tmp_path: Path) -> None:
    dead = _gone_pid()
    orphan_file = tmp_path / f"pdfq-{dead}-blob-x1.blob"
    orphan_file.write_bytes(b"half a download")
    orphan_folder = tmp_path / f"pdfq-{dead}-convert-y2"
    (orphan_folder / "profile").mkdir(parents=True)
    (orphan_folder / "profile" / "big.bin").write_bytes(b"0" * 1000)
    mine = Path(tempfile.mkstemp(prefix=scratch.prefix("blob"), dir=tmp_path)[1])
    kept = [
        mine,
        tmp_path / "pdfq-12345678",  # an older version's name: not ours to judge
        tmp_path / "pdfq-convert-abc",
        tmp_path / "other-1-2-3",
    ]
    for path in kept[1:]:
        path.write_bytes(b"")

    assert scratch.remove_orphans(tmp_path) == 2
    assert not orphan_file.exists()
    assert not orphan_folder.exists()
    assert all(path.exists() for path in kept)
    assert mine.name.startswith(f"pdfq-{os.getpid()}-blob-")
