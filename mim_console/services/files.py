"""Files the CLI and the screens write: through ``data/files.py``'s one set of rules (a new
path or a regular file, whole or not at all; never a symlink, FIFO or device node replaced)."""

from __future__ import annotations

from pathlib import Path

from mim_console.data.files import STDOUT, check_target, write_file

__all__ = ["STDOUT", "check_target", "write_bytes", "write_text"]


def write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    write_file(path, text.encode("utf-8"), mode=mode)


def write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    write_file(path, data, mode=mode)
