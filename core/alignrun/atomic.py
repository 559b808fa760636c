"""Atomic writes of files and folders: readers see the old one or the whole new one, never half of it."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> None:
    """Write rows as JSON lines, atomically."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Like :func:`atomic_write_text` for bytes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_dir(
    path: str | os.PathLike[str], write: Callable[[Path], None], *, replace: bool = True
) -> bool:
    """Fill a temp folder beside ``path`` with ``write(tmp)``, then rename it to ``path``.

    The temp folder is gone afterwards whatever happens (a failed ``write`` leaves ``path`` as it was),
    and the folder gets the mode ``mkdir`` would give it (``mkdtemp`` makes it private).

    Args:
        path: the folder to publish.
        write: fills the temp folder it is given.
        replace: True: the last writer wins; an older ``path`` is removed just before the rename (a
            reader may find no folder for that moment, never half of one). False: the first writer wins;
            a folder already at ``path`` (a concurrent run published it first) is kept and this call's
            copy dropped: for caches whose content depends only on their name.

    Returns:
        Whether this call's folder is now at ``path`` (False only with ``replace=False``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        write(tmp)
        tmp.chmod(0o777 & ~_umask())
        if replace and target.exists():
            shutil.rmtree(target)
        try:
            os.rename(tmp, target)  # rename(2) over a folder fails unless that folder is empty
        except OSError as exc:
            if replace or exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            return False
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
