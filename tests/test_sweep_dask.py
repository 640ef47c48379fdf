"""`mlp sweep --scheduler`: the same trials on a Dask distributed cluster (a LocalCluster on loopback)."""
import csv
import json
import sys

from click.testing import CliRunner
from distributed import LocalCluster

from mlpcli.cli import cli

from .conftest import assert_refused

IRIS = "data: {dataset: iris, val_size: 0.2}\nmodel: {layers: [{units: 8}]}\ntrain: {epochs: 5, optimizer: {lr: 0.02}}\n"
ARGS = ["--grid", "train.optimizer.lr=0.05,1e30,0.01"]


def _rows(folder):
    with open(folder / "results.csv", newline="") as f:
        return {r["trial"]: r for r in csv.DictReader(f)}


def test_trials_on_a_dask_cluster_match_local_ones_and_failures_are_recorded(tmp_path):
    (tmp_path / "c.yaml").write_text(IRIS)
    local = CliRunner().invoke(cli, ["sweep", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "local"), *ARGS])
    assert "1 of 3 trials failed" in str(local.exception)
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        result = CliRunner().invoke(cli, [
            "sweep", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "dask"), "--json",
            "--scheduler", cluster.scheduler_address, *ARGS,
        ])
    assert "1 of 3 trials failed" in str(result.exception)
    out = json.loads(result.stdout)
    assert (out["completed"], out["failed"]) == (2, 1)
    local_rows, dask_rows = _rows(tmp_path / "local"), _rows(tmp_path / "dask")
    assert dask_rows["lr=1e30"]["status"] == "failed" and "diverged" in dask_rows["lr=1e30"]["error"]
    for name in ("lr=0.05", "lr=0.01"):
        assert dask_rows[name]["status"] == "completed"
        assert dask_rows[name]["test.accuracy"] == local_rows[name]["test.accuracy"]
        assert dask_rows[name]["val.loss"] == local_rows[name]["val.loss"]
        assert (tmp_path / "dask" / name / "weights.npz").is_file()


def test_without_dask_installed_the_scheduler_option_says_what_to_install(tmp_path):
    (tmp_path / "c.yaml").write_text(IRIS)
    # a None entry in sys.modules makes `import distributed` fail, as if it were not installed
    code = "import sys; sys.modules['distributed'] = None; from mlpcli.cli import main; main()"
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", code, "sweep", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "s"),
         "--grid", "train.optimizer.lr=0.05", "--scheduler", "tcp://127.0.0.1:8786"],
        capture_output=True, text=True, timeout=60,
    )
    assert_refused(result, "--scheduler", "mlpcli[dask]")

