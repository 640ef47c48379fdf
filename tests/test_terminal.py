"""What a person at a terminal sees: the progress bar, and Ctrl-C / kill."""
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios


from .conftest import CONFIGS


def _train_on_a_tty(tmp_path, *extra):
    """Run `mlp train` with stderr on a pseudo-terminal; returns (proc, stderr text)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # 100 columns
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlpcli", "train", str(CONFIGS / "iris.yaml"), "--out", str(tmp_path / "r"),
         "--set", "train.epochs=40", *extra],
        stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, text=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(master)
    return proc, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal(tmp_path):
    proc, err = _train_on_a_tty(tmp_path)
    assert proc.returncode == 0
    assert "epoch" in err and "batch" in err and "train_loss" in err
    out = proc.stdout.read()
    assert out.count("\n") == 1 and "test accuracy" in out  # stdout holds the summary alone


def test_quiet_hides_the_progress_bar(tmp_path):
    proc, err = _train_on_a_tty(tmp_path, "--quiet")
    assert proc.returncode == 0
    assert err == ""


def test_progress_bar_on_a_terminal_that_reports_no_size(tmp_path, monkeypatch):
    from mlpcli.progress import ProgressBar

    master, slave = pty.openpty()  # 0 x 0 until someone sets it
    with os.fdopen(slave, "w") as tty:
        bar = ProgressBar(file=tty)
        bar.on_train_begin({"epochs": 2, "batches_per_epoch": 20})
        for epoch in (1, 2):
            for b in range(20):
                bar.on_batch_end(b)
            bar.on_epoch_end(epoch, {"train_loss": 0.25})
        bar.on_train_end([])
    chunks = []
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunks.append(os.read(master, 4096))
        except OSError:  # EIO: the writer side is closed and everything was read
            break
    os.close(master)
    shown = b"".join(chunks).decode(errors="replace")
    assert "epoch" in shown and "40/40" in shown
