"""Atomic file output: write to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fasciq.validate import check_output_free


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path; on success it is renamed onto ``target``.

    If the body raises, the temporary file is removed and ``target`` is left
    as it was, so a crash never leaves a half-written file that looks complete.

    Parameters
    ----------
    target : path
        Final file name.
    overwrite : bool
        If false and ``target`` exists, raise
        :class:`~fasciq.errors.OutputExistsError` before writing anything.
    """
    target = Path(target)
    check_output_free(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text_atomic(target: str | os.PathLike[str], text: str, overwrite: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)
