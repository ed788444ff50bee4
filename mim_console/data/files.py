"""The one way the console writes a file the user named or a folder it keeps (call sheets,
reports, exports, backups): only to a new path or over a regular file, whole or not at all.

A symbolic link is never followed and never replaced, a FIFO, socket, block device or folder
never written over: each is refused in plain words before anything is written (a call sheet is
0600 text full of phone numbers; `callsheet -o /dev/full` used to replace the device node with
one). A character device (``/dev/null``, ``/dev/stdout``, ``/dev/full``) is written into as a
shell redirect would, never replaced: ``report -o /dev/full`` says "No space left on device".
Everything else goes to a temporary file beside the target, fsync'ed, then renamed over it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from mim_console.errors import UserError

STDOUT = "-"


def _kind(path: Path) -> str:
    """ "new", "regular" or "chardev"; anything else is refused with what it is."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return "new"
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from exc
    mode = found.st_mode
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISCHR(mode):
        return "chardev"
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        what = f"a symbolic link (to {target}): it is not followed; name the file itself"
    elif stat.S_ISDIR(mode):
        what = "a folder"
    elif stat.S_ISFIFO(mode):
        what = "a named pipe (FIFO), not a file"
    elif stat.S_ISSOCK(mode):
        what = "a socket, not a file"
    elif stat.S_ISBLK(mode):
        what = "a block device, not a file"
    else:
        what = "not a regular file"
    raise UserError(
        f"cannot write {path}: it is {what}; nothing was written (- writes to the screen)"
    )


def check_target(path: Path) -> None:
    """Refuse now (before any work) a target ``write_file`` would refuse."""
    _kind(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: {folder} is not a folder")


def write_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """``data`` as the whole of ``path`` (see the module's rules), or a ``UserError`` and the
    target as it was."""
    check_target(path)
    if _kind(path) == "chardev":
        try:
            with open(path, "wb") as out:  # not O_CREAT: it exists, and stays what it is
                out.write(data)
                out.flush()
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name[:200]}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        if _kind(path) not in ("new", "regular"):  # changed while we wrote: refuse still
            raise UserError(f"cannot write {path}: it changed while being written")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
