""".npz files read without trusting them: weights files and checkpoints.

Every member is read with ``allow_pickle=False`` semantics and checked first:
its name, its compression, its size against the zip directory, and its .npy
header against that size, so a hostile file can neither run code nor make
us allocate more than about MAX_EXPANSION times its own size.
"""
from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import WeightsError

# Limits on what a file may make us allocate, checked from the zip directory
# and each member's .npy header before any array data is read.
MAX_MEMBERS = 4096
MAX_EXPANSION = 100  # a deflated member may hold up to this many times its compressed size ...
EXPANSION_SLACK = 1 << 16  # ... plus this many bytes (a small member compresses well)
MEMBER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*\.npy$")
NUMBER_KINDS = "biuf"  # every member but meta holds numbers (bool, integers, floats)
# Limits on the meta JSON (its size is the member's, bounded above): nesting
# (json's decoder recurses once per level) and integer digits (int() of a long
# digit string is quadratic; 40 digits hold a PCG64 state's 128-bit integers).
MAX_META_DEPTH = 64
MAX_META_INT_DIGITS = 40
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def read_npz(path: str | Path, kind: str = "weights file", error: type[Exception] = WeightsError) -> dict:
    """Every array of the .npz at ``path``, by name, read and checked without
    running code: no pickles, no member names that are paths, no duplicate
    members, no member whose header declares more data than it holds, and no
    zip bomb. A problem raises ``error``, its message naming the file a ``kind``
    ("weights file", "checkpoint")."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {kind}")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise error(f"{path}: not a {kind} (an .npz is a zip archive; this is not one)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _check_members(path, archive.infolist(), path.stat().st_size, kind, error)
            return {name: _read_member(path, archive, info, error) for name, info in members.items()}
    except error:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError, NotImplementedError, zlib.error) as exc:
        raise error(f"{path}: not a valid {kind} ({type(exc).__name__}: {exc})") from None


def _check_members(path: Path, infos: list, file_size: int, kind: str, error) -> dict:
    """The members by array name, once the zip directory passes the checks."""
    if len(infos) > MAX_MEMBERS:
        raise error(f"{path}: holds {len(infos)} members; a {kind} has far fewer (at most {MAX_MEMBERS})")
    members, packed = {}, 0
    for info in infos:
        name = info.filename
        if not MEMBER_NAME.match(name) or ".." in name:
            raise error(
                f"{path}: not an mlpcli {kind}: member {name!r} is not an array "
                "(a plain NAME.npy, no folders or '..'); refusing the file"
            )
        if name[:-4] in members:
            raise error(f"{path}: member {name!r} appears twice; refusing the file")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise error(f"{path}: member {name!r} uses an unsupported compression method ({info.compress_type})")
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            info.file_size > MAX_EXPANSION * info.compress_size + EXPANSION_SLACK
        ):
            raise error(
                f"{path}: member {name!r} claims {info.file_size} bytes from {info.compress_size} stored "
                "ones; refusing it (a damaged file or a zip bomb)"
            )
        packed += info.compress_size
        members[name[:-4]] = info
    if packed > file_size:  # members that overlap (a zip bomb's trick) or a truncated file
        raise error(f"{path}: its members claim {packed} bytes, more than the file's {file_size}; damaged or hostile")
    return members


def _read_member(path: Path, archive: zipfile.ZipFile, info, error) -> np.ndarray:
    """One member as an array: its .npy header is checked (no object dtype, a
    size that matches the member's) before its data is read."""
    name = info.filename[:-4]
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except (ValueError, TypeError, SyntaxError) as exc:
            raise error(f"{path}: {name} is not a valid .npy array ({exc})") from None
        if dtype.hasobject:
            raise error(f"{path}: {name} holds pickled Python objects, which are never loaded")
        _check_dtype(path, name, shape, dtype, error)
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if f.tell() + nbytes != info.file_size:
            raise error(
                f"{path}: {name} declares shape {shape} of {dtype} ({nbytes} bytes) but holds "
                f"{info.file_size - f.tell()} bytes of data; damaged or forged"
            )
        array = np.empty(count, dtype=dtype)
        if nbytes and f.readinto(memoryview(array.view(np.uint8))) != nbytes:
            raise error(f"{path}: {name} is truncated")
        f.read(1)  # at the member's end: zipfile checks its CRC
    return array.reshape(shape, order="F" if fortran else "C")


def _check_dtype(path: Path, name: str, shape: tuple, dtype: np.dtype, error) -> None:
    """Before any data is read: meta is a 0-d unicode string, every other member
    numbers, and no dtype has itemsize 0 (a zero-size dtype holds no bytes
    whatever its shape, so the size check cannot bound what NumPy allocates)."""
    if name == "meta":
        if dtype.kind != "U" or shape != () or dtype.itemsize == 0:
            raise error(f"{path}: 'meta' must be a 0-d string array, got shape {shape} of {dtype}")
    elif dtype.kind not in NUMBER_KINDS or dtype.itemsize == 0 or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{path}: {name} has dtype {dtype}; an array of numbers is expected")


def parse_meta(path: str | Path, meta: np.ndarray, error: type[Exception] = WeightsError) -> dict:
    """The JSON object in a ``meta`` member (a 0-d string array), parsed with
    bounded nesting and integer length: a problem raises ``error``."""
    if meta.dtype.kind != "U" or meta.ndim != 0:
        raise error(f"{path}: 'meta' must be a 0-d string array")
    text = str(meta)
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if len(brackets) > MAX_META_DEPTH:
        codes = np.frombuffer(brackets.encode("ascii"), np.uint8)
        depth = np.cumsum(np.where((codes == ord("[")) | (codes == ord("{")), 1, -1))
        if depth.max() > MAX_META_DEPTH:
            raise error(f"{path}: 'meta' is nested more than {MAX_META_DEPTH} levels deep; refusing it")
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: 'meta' is not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise error(f"{path}: 'meta' is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise error(f"{path}: 'meta' must be a JSON object, got {type(value).__name__}")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_META_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits; at most {MAX_META_INT_DIGITS} are read")
    return int(text)


def short(value, limit: int = 60) -> str:
    """A value from a file, as JSON, cut short for an error line."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
