"""Output files written whole or not at all.

Every file chainjudge writes goes to a temporary file beside the target and is renamed over it once
complete: a command killed half-way leaves the previous file as it was (rename is atomic on one file
system), never a cut-off one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from chainjudge.errors import OutputError


def check_output_path(path: str | Path) -> Path:
    """The path as a file to write; a folder, or a parent that is a file, is refused with one line."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name to write")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is a file, not a folder")
    return path


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None, file_mode: int = 0o644
) -> Iterator[IO[Any]]:
    """Open a temporary file beside PATH; on a clean exit it replaces PATH, on an exception it is removed."""
    path = check_output_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # once, at import: umask can only be read by setting it, which is not thread-safe
