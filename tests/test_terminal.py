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


def _mlp_on_a_tty(args, on_output=None):
    """Run `mlp ARGS` with stderr on a 100-column pseudo-terminal,
    calling ``on_output(proc, bytes so far)`` as it writes; returns (proc, stderr text)."""
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlpcli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, text=True,
    )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 0.2)[0]:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
        if on_output is not None:
            on_output(proc, b"".join(chunks))
    proc.wait(timeout=120)
    os.close(master)
    return proc, b"".join(chunks).decode(errors="replace")


def _train_on_a_tty(tmp_path, *extra):
    """Run `mlp train` on iris with stderr on a pseudo-terminal; returns (proc, stderr text)."""
    return _mlp_on_a_tty(["train", CONFIGS / "iris.yaml", "--out", tmp_path / "r", "--set", "train.epochs=40", *extra])


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


# --------------------------------------------------------------------------- issue 14: width and errors


def _screen_lines(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: a carriage return goes back to
    the line's start and what follows overwrites it."""
    lines = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = ""
        for part in raw.split("\r"):
            line = part + line[len(part):]
        lines.append(line.rstrip())
    return lines


def test_an_error_starts_on_its_own_line_after_the_progress_bar(tmp_path):
    """Ctrl-C during a run on a terminal: the bar's line is ended before `Error: interrupted`."""
    import signal

    def interrupt_once_an_epoch_is_shown(proc, shown):
        if b"train_loss" in shown and proc.returncode is None and not sent:  # the bar is up, an epoch done
            proc.send_signal(signal.SIGINT)
            sent.append(True)

    sent = []
    proc, err = _mlp_on_a_tty(["train", CONFIGS / "digits.yaml", "--out", tmp_path / "r", "--set", "train.epochs=1000",
                               "--set", "train.early_stopping=null"], interrupt_once_an_epoch_is_shown)
    shown = _screen_lines(err)
    assert proc.returncode == 130, shown
    errors = [line for line in shown if "Error:" in line]
    assert len(errors) == 1 and errors[0].startswith("Error: interrupted at epoch"), shown


def _bar_line(ncols: int, logs: dict, monitor=None) -> str:
    import io

    from mlpcli.progress import ProgressBar

    out = io.StringIO()
    bar = ProgressBar(file=out, ncols=ncols)
    bar.on_train_begin({"epochs": 50, "batches_per_epoch": 45, "monitor": monitor})
    for epoch in (1, 2):
        for b in range(45):
            bar.on_batch_end(b)
        bar.on_epoch_end(epoch, {"epoch": epoch, **logs})
    bar.bar.refresh()
    line = _screen_lines(out.getvalue())[-1]
    bar.on_train_end([])
    return line


LOGS = {"train_loss": 0.1234567, "val_loss": 0.2345678, "val_accuracy": 0.9666, "val_balanced_accuracy": 0.96,
        "val_f1_macro": 0.95, "lr": 0.001}


def test_a_narrow_terminal_shows_fewer_figures_whole_and_a_bar():
    line = _bar_line(80, LOGS, monitor="val_accuracy")
    assert len(line) <= 80
    assert line.endswith("val_accuracy=0.9666, val_loss=0.2346"), line  # the monitored one, then the loss
    bar = line.split("|")[1]
    assert len(bar) >= 8, line  # the bar keeps its room
    line = _bar_line(80, LOGS)  # no early stopping: the losses
    assert line.endswith("val_loss=0.2346, train_loss=0.1235"), line


def test_a_wide_terminal_shows_every_figure_and_the_rate():
    line = _bar_line(220, LOGS)
    assert "batch/s" in line and "90/2250" in line
    for name in ("train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy"):
        assert f"{name}=" in line, line
    assert "lr=" not in line and "f1_macro" not in line and len(line) <= 220  # losses and accuracies only


def test_the_bar_follows_the_terminal_width(monkeypatch):
    """No ncols: the width is the terminal's, read again at every epoch."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 70, 0, 0))
    from mlpcli.progress import ProgressBar

    with os.fdopen(slave, "w") as tty:
        bar = ProgressBar(file=tty)
        bar.on_train_begin({"epochs": 50, "batches_per_epoch": 45})
        _, shown = bar.layout("epoch 2/50", LOGS)
        assert shown == ["val_loss=0.2346"]
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 200, 0, 0))
        _, shown = bar.layout("epoch 2/50", LOGS)
        assert len(shown) == 4
        bar.on_train_end([])
    os.close(master)
