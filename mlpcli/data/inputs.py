"""Input that is not a regular file: ``-`` (standard input), a pipe or a
process substitution (``<(python make_rows.py)``, ``/dev/fd/63``). It has no
suffix to tell its format, so its first bytes do."""
from __future__ import annotations

import os
import stat
import sys

from ..errors import DataError

STDIN = "-"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a .npz is a zip archive (the second: an empty one)


def is_stream(path) -> bool:
    """Whether ``path`` is ``-`` or names a pipe (FIFO) or a character device
    such as /dev/stdin, read once from start to end."""
    if str(path) == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def source_name(path) -> str:
    """How messages name an input: <stdin> for ``-``, else its path."""
    return "<stdin>" if str(path) == STDIN else str(path)


def read_stream(path) -> tuple[str, bytes]:
    """(the format its bytes show: .npy, .npz or .csv; the bytes) of a stream."""
    try:
        if str(path) == STDIN:
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:
                raise DataError("<stdin>: standard input is closed; give a file, or pipe the rows in")
            content = stream.read()
        else:
            with open(path, "rb") as f:
                content = f.read()
    except OSError as exc:
        raise DataError(f"{source_name(path)}: cannot read: {exc.strerror or exc}") from None
    if not content:
        raise DataError(f"{source_name(path)}: is empty (no rows)")
    return sniff(content), content


def sniff(content: bytes) -> str:
    """.npy (NumPy's magic), .npz (a zip archive), else .csv (text)."""
    if content.startswith(NPY_MAGIC):
        return ".npy"
    if content.startswith(ZIP_MAGIC):
        return ".npz"
    return ".csv"


def text(content: bytes, path) -> str:
    """A CSV stream's bytes as text (UTF-8; a byte-order mark dropped)."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{source_name(path)}: not CSV text, nor a .npy or .npz (byte 0x{content[exc.start]:02X} "
            "is not UTF-8 text)"
        ) from None
