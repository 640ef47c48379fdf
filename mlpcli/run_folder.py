"""The run folder a run holds: created or claimed, locked, set aside on --overwrite.

One run at a time per folder: an exclusive ``flock`` on the folder itself,
refused naming the holder. Default folders are new (``runs/<name>-<time>``,
``-2``, ``-3`` ... on a collision). Old results are never deleted before the
new run has results of its own, and a symbolic link among the result files
is refused rather than followed.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from .artifacts import remove_stale_temporaries
from .errors import RunFolderError

RESULT_FILES = (
    "config.yaml", "weights.npz", "metrics.json", "metrics.jsonl", "run.json", "checkpoint.npz", "checkpoint.prev.npz",
    "learning_curves.png", "confusion_matrix.png",
)


class RunFolder:
    """A run folder this process holds: an exclusive ``flock`` on the folder
    itself, so a second run into it is refused at once (the kernel drops the
    lock when the process ends, however it ends: no stale lock to clear).

    With --overwrite, the old results are set aside in ``.overwritten/``
    rather than deleted, and deleted only once the new run has results of its
    own (a metrics line, a checkpoint, metrics.json); a run refused or failing
    before that puts them back. Used as a context manager: leaving it settles
    the old results and releases the lock."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settle(self) -> None:
        """Keep the old results set aside unless this run has results of its
        own: then delete them (the folder never mixes two runs' results)."""
        _settle_overwritten(self.path)

    def close(self) -> None:
        if self._fd is not None:
            try:
                self.settle()
            finally:
                os.close(self._fd)  # releases the lock
                self._fd = None


OVERWRITTEN = ".overwritten"  # the old results, while an --overwrite run has none of its own yet


def has_results(path: Path) -> bool:
    """True once a run in ``path`` wrote results: metrics.json, a checkpoint or a metrics line."""
    names = ("metrics.json", "checkpoint.npz", "checkpoint.prev.npz")
    if any(os.path.lexists(path / name) for name in names):
        return True
    try:
        return os.lstat(path / "metrics.jsonl").st_size > 0
    except OSError:
        return False


def _settle_overwritten(path: Path) -> None:
    """Old results set aside by an --overwrite run (this one, or one killed):
    deleted if the new run has results, else moved back in its place."""
    import shutil

    aside = path / OVERWRITTEN
    if not aside.is_dir() or aside.is_symlink():
        return
    if not has_results(path):
        for name in RESULT_FILES:  # the new run's config.yaml and run.json: nothing without results
            if os.path.lexists(path / name):
                os.unlink(path / name)
        for entry in os.scandir(aside):
            os.replace(entry.path, path / entry.name)
    shutil.rmtree(aside)


def lock_run_dir(path: Path) -> RunFolder:
    """Hold ``path`` (an existing folder) for this run, or refuse naming the holder."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for _ in range(3):  # a holder gone from /proc/locks has just let go: try again
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return RunFolder(path, fd)
            except BlockingIOError:
                holder = lock_holder(os.fstat(fd))
                if holder:
                    break
        raise RunFolderError(
            f"{path}: in use by another run ({holder or 'another process'}); wait for it to finish or choose another --out"
        )
    except BaseException:
        os.close(fd)
        raise


def lock_holder(st: os.stat_result) -> str | None:
    """The process holding the folder, as "pid N: its command line", from /proc/locks (Linux); else None."""
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if "FLOCK" in fields and device in fields and "->" not in fields:
            pid = fields[fields.index(device) - 1]
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                command = ""
            return f"pid {pid}: {command}" if command else f"pid {pid}"
    return None


def new_run_dir(out: str | None, config_dir: str | None, config_name: str, overwrite: bool) -> RunFolder:
    """Create (or claim) the run folder and hold it for this run: --out, else
    output.dir, else a new runs/<name>-<time>[-N]. Refused: a folder another
    run holds, one with results (unless ``overwrite``: see RunFolder), a
    symbolic link among its result files."""
    path = Path(out or config_dir) if (out or config_dir) else None
    try:
        return _claim(path, config_name, overwrite)
    except OSError as exc:
        raise RunFolderError(f"{exc.filename or path}: cannot use the run folder ({exc.strerror or exc})") from None


def _claim(path: Path | None, config_name: str, overwrite: bool) -> RunFolder:
    if path is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{_safe_name(config_name)}-{stamp}"
        base.parent.mkdir(parents=True, exist_ok=True)
        path, n = base, 1
        while True:  # mkdir, not exists(): two runs started in the same second get two folders
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        return lock_run_dir(path)
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{path}: exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise RunFolderError(f"{path}: the run folder is not writable")
    folder = lock_run_dir(path)
    try:
        _settle_overwritten(path)  # a killed --overwrite run's: settled as if it had ended
        links = [name for name in RESULT_FILES if (path / name).is_symlink()]
        if links:
            raise RunFolderError(
                f"{path / links[0]}: is a symbolic link; a run folder's files must be its own, not links"
            )
        held = [name for name in RESULT_FILES if (path / name).exists()]
        if held and not overwrite:
            raise RunFolderError(
                f"{path}: already holds results ({', '.join(held)}); "
                "choose another --out or pass --overwrite"
            )
        if held:  # --overwrite: set aside, deleted once the new run has results (RunFolder.settle)
            (path / OVERWRITTEN).mkdir()
            for name in held:
                os.replace(path / name, path / OVERWRITTEN / name)
        remove_stale_temporaries(path)  # a reused folder: what a killed writer left
    except BaseException:
        folder.close()
        raise
    return folder


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "run"
