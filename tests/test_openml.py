"""openml:NAME / openml:ID data sets: the offline refusal, the cached copy, the config.

No test downloads anything: the network is made unreachable (a proxy on a
closed port for an `mlp` subprocess, a failing urlopen in process) and
scikit-learn's data home points at a temporary folder.
"""
import shutil
from importlib import resources
from urllib.error import URLError

import numpy as np
import pytest

from mlpcli import data, runner
from mlpcli.config import parse_config
from mlpcli.errors import ConfigError, DataError

from .conftest import assert_refused, run_mlp, run_mlp_process

# No proxy bypass, and every http(s) request goes to a closed local port: connection refused at once.
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}
FAST = {"n_retries": 1, "delay": 0.01}  # scikit-learn's minimum; its default waits 1 s between 3 retries


def _no_network(monkeypatch):
    import sklearn.datasets._openml as openml

    def refuse(*args, **kwargs):
        raise URLError("network unreachable (test)")

    monkeypatch.setattr(openml, "urlopen", refuse)
    # scikit-learn retries each request after a pause (by id, always 3 x 1 s, whatever n_retries says).
    monkeypatch.setattr(openml.time, "sleep", lambda seconds: None)


def test_offline_without_cache_is_one_error_line_naming_the_data_home(tmp_path):
    home = tmp_path / "sklearn_data"
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: 'openml:iris', options: {n_retries: 1, delay: 0.01}}\ntrain: {epochs: 1}\n"
    )
    # A real process: what a user offline sees, through urllib's own proxy settings.
    result = run_mlp_process("train", "c.yaml", "--out", "run", cwd=tmp_path,
                             env={**OFFLINE, "SCIKIT_LEARN_DATA": str(home)})
    line = assert_refused(result, "openml:iris", "could not be downloaded", "not cached", str(home / "openml"))
    assert "SCIKIT_LEARN_DATA" in line
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_offline_refusal_by_id_in_process(tmp_path, monkeypatch):
    _no_network(monkeypatch)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"openml:61: could not be downloaded .* not cached"):
        data.load_dataset("openml:61", FAST, 0)


@pytest.mark.parametrize("where", ["file", "under-a-file", "cache-is-a-file"])
def test_a_data_home_that_is_no_folder_is_one_error_line_naming_it(tmp_path, monkeypatch, where):
    # SCIKIT_LEARN_DATA=/dev/null, or a path through a file: scikit-learn cannot create its data home;
    # or a file where its openml cache folder goes: it cannot cache the download (and warns as it retries).
    (tmp_path / "file").write_text("not a folder\n")
    home = {"file": tmp_path / "file", "under-a-file": tmp_path / "file" / "home", "cache-is-a-file": tmp_path}[where]
    if where == "cache-is-a-file":
        (tmp_path / "openml").write_text("not a folder\n")
    (tmp_path / "c.yaml").write_text("data: {dataset: 'openml:iris', options: {n_retries: 1, delay: 0.01}}\ntrain: {epochs: 1}\n")
    _no_network(monkeypatch)
    result = run_mlp("train", "c.yaml", "--out", "run", cwd=tmp_path, env={"SCIKIT_LEARN_DATA": str(home)})
    line = assert_refused(result, "openml:iris", "SCIKIT_LEARN_DATA", str(home))
    assert ("is not a folder" if where == "file" else "Not a directory") in line
    assert not (tmp_path / "run").exists()


def _iris_fixture():
    try:
        folder = resources.files("sklearn.datasets.tests.data.openml.id_61")
    except ModuleNotFoundError:
        return None
    return folder if (folder / "data-v1-dl-61.arff.gz").is_file() else None


def _build_cache(home):
    """OpenML's iris (id 61) in scikit-learn's cache layout, from the response
    files scikit-learn ships for its own tests: the cache as a download leaves it."""
    fixture = _iris_fixture()
    if fixture is None:
        pytest.skip("scikit-learn's OpenML test files are not installed")
    root = home / "openml" / "openml.org"
    files = {
        "api/v1/json/data/list/data_name/iris/limit/2/status/active/.gz": "api-v1-jdl-dn-iris-l-2-s-act-.json.gz",
        "api/v1/json/data/61.gz": "api-v1-jd-61.json.gz",
        "api/v1/json/data/features/61.gz": "api-v1-jdf-61.json.gz",
        "api/v1/json/data/qualities/61.gz": "api-v1-jdq-61.json.gz",
        "data/v1/download/61/iris.arff.gz": "data-v1-dl-61.arff.gz",
        "data/v1/download/61.gz": "data-v1-dl-61.arff.gz",  # where scikit-learn < 1.7 caches it (by file id)
    }
    for target, source in files.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        with (fixture / source).open("rb") as src, open(root / target, "wb") as dst:
            shutil.copyfileobj(src, dst)


@pytest.mark.parametrize("dataset", ["openml:iris", "openml:61"])
def test_cached_copy_is_used_offline(tmp_path, monkeypatch, dataset):
    _build_cache(tmp_path)
    _no_network(monkeypatch)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    X, y = data.load_dataset(dataset, {}, 0)
    assert X.shape == (150, 4) and X.dtype == np.float64
    # OpenML's nominal target arrives as strings and becomes three class labels.
    assert y.dtype.kind == "U" and data.infer_task(y) == "classification"
    _, classes = data.encode_classes(y, dataset)
    assert classes.tolist() == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]


def test_train_and_eval_from_the_cache_offline(tmp_path, monkeypatch):
    home = tmp_path / "home"
    _build_cache(home)
    (tmp_path / "c.yaml").write_text(
        "data: {dataset: 'openml:iris', val_size: 0, scale: robust}\n"
        "model: {layers: [{units: 16}]}\ntrain: {epochs: 60, batch_size: 16, optimizer: {lr: 0.01}}\n"
    )
    _no_network(monkeypatch)  # in process, urlopen itself fails (urllib keeps the proxies it first saw)
    trained = run_mlp("train", "c.yaml", "--out", "run", "--json", "--quiet", cwd=tmp_path,
                      env={"SCIKIT_LEARN_DATA": str(home)})
    assert trained.returncode == 0, trained.stderr
    import json

    metrics = json.loads(trained.stdout)
    assert metrics["test"]["accuracy"] >= 0.9
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(home))
    assert runner.evaluate(tmp_path / "run" / "weights.npz")["accuracy"] == metrics["test"]["accuracy"]
    meta = np.load(tmp_path / "run" / "weights.npz", allow_pickle=False)
    assert json.loads(str(meta["meta"]))["config"]["data"]["dataset"] == "openml:iris"  # not taken for a path


def test_openml_options_are_checked_against_fetch_openml():
    data.check_options("openml:iris", {"version": 1, "target_column": "class"})
    with pytest.raises(DataError, match=r"data.options.verison: fetch_openml takes no option 'verison'; did you mean 'version'"):
        data.check_options("openml:iris", {"verison": 1})
    with pytest.raises(DataError, match="data.options.as_frame"):  # mlpcli reads NumPy arrays, without pandas
        data.check_options("openml:iris", {"as_frame": True})


def test_config_accepts_openml_names_and_ids_and_refuses_an_empty_one():
    assert parse_config({"data": {"dataset": "openml:mnist_784"}}).data.dataset == "openml:mnist_784"
    assert parse_config({"data": {"dataset": "openml:554"}}).data.dataset == "openml:554"
    with pytest.raises(ConfigError, match=r"data.dataset: 'openml:' needs an OpenML data set name or id"):
        parse_config({"data": {"dataset": "openml:"}})
    with pytest.raises(ConfigError, match="openml:NAME"):  # the unknown-name message lists the form
        parse_config({"data": {"dataset": "mnist"}})
