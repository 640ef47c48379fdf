"""CSV data with named, categorical and missing columns: reading, the encoder
(imputation + one-hot, as scikit-learn's), the weights file, and the CLI."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import mlpcli
from mlpcli import data, runner
from mlpcli.trained import load_weights
from mlpcli.errors import ConfigError, DataError, WeightsError
from mlpcli.tabular import Encoder

from .conftest import CONFIGS, ROOT, assert_refused, run_mlp

IMPUTE = {"numeric": "mean", "categorical": "most_frequent"}
TINY = {"model": {"layers": [{"units": 8}]}, "train": {"epochs": 3, "batch_size": 16}}

# A small table: a numeric and a categorical column with gaps, a string target.
PETS = """\
weight,colour,legs,kind
4.0,black,4,cat
30,brown,4,dog
,black,4,cat
25,NA,4,dog
3.5,white,?,cat
28,brown,4,dog
4.2,white,4,cat
35,black,4,dog
3.9,?,4,cat
31,brown,4,dog
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def tiny_config(path, **data_keys):
    return {**TINY, "data": {"dataset": str(path), "val_size": 0, "test_size": 0.4, **data_keys}}


# --------------------------------------------------------------------------- reading


def test_a_csv_with_strings_or_gaps_is_read_as_a_table_by_header_name(tmp_path):
    X, y = data.read_xy(str(write(tmp_path, "pets.csv", PETS)))
    assert X.dtype.names == ("weight", "colour", "legs")
    assert X["weight"].dtype == np.float64 and np.isnan(X["weight"][2])
    assert X["colour"].tolist()[:4] == ["black", "brown", "black", ""]  # NA is missing
    assert np.isnan(X["legs"][4])  # ? is missing
    assert y.tolist()[:2] == ["cat", "dog"]
    # data.target and data.features pick columns by name, in the order given
    text = "\n".join(",".join(reversed(line.split(","))) for line in PETS.splitlines())  # target first
    X, y = data.read_xy(str(write(tmp_path, "r.csv", text)), target="kind", features=["legs", "weight"])
    assert X.dtype.names == ("legs", "weight") and y[0] == "cat"


def test_a_plain_numeric_csv_stays_a_plain_array(tmp_path):
    X, y = data.read_xy(str(write(tmp_path, "n.csv", "a,b,y\n1,2,0\n3,4,1\n")))
    assert X.dtype == np.float64 and X.shape == (2, 2) and y.tolist() == [0, 1]


def test_refuse_names_the_column_and_the_file_row(tmp_path):
    # A blank line and the header count: the gap in 'weight' is on row 5 of the file.
    text = PETS.replace("4.0,black", "\n4.0,black", 1)
    path = write(tmp_path, "pets.csv", text)
    with pytest.raises(DataError, match=r"pets.csv: column 'weight' has a missing value at row 5 \(data.impute.numeric is refuse\)"):
        data.read_xy(str(path), impute={"numeric": "refuse", "categorical": "most_frequent"})
    with pytest.raises(DataError, match=r"column 'colour' has a missing value at row 6 \(data.impute.categorical"):
        data.read_xy(str(path), impute={"numeric": "mean", "categorical": "refuse"})


def test_bad_column_names_and_values_are_refused(tmp_path):
    path = write(tmp_path, "pets.csv", PETS)
    with pytest.raises(DataError, match=r"no target column 'knd' in the header row; did you mean 'kind'"):
        data.read_xy(str(path), target="knd")
    with pytest.raises(DataError, match=r"no column 'wieght'.*did you mean 'weight'"):
        data.read_xy(str(path), features=["wieght"])
    with pytest.raises(DataError, match=r"column 'kind' \(the target\) has a missing value at row 3"):
        data.read_xy(str(write(tmp_path, "t.csv", "a,kind\nx,1\n,\n")))
    with pytest.raises(DataError, match="has no header row, so data.target"):
        data.read_xy(str(write(tmp_path, "h.csv", "1,2,0\n3,4,1\n")), target="y")
    with pytest.raises(DataError, match="feature columns must be numbers .*need a header row"):
        data.read_xy(str(write(tmp_path, "h.csv", "1,,0\n3,4,1\n")))


def test_data_features_may_not_list_the_default_target(tmp_path):
    # No data.target: the last column ('kind') is the target, so data.features may not list it too.
    path = write(tmp_path, "pets.csv", PETS)
    with pytest.raises(DataError, match=r"data.features: lists 'kind', the target column \(data.target is not set"):
        data.read_xy(str(path), features=["weight", "kind"])
    with pytest.raises(DataError, match="data.features.*data.target"):
        mlpcli.train(tiny_config(path, features=["weight", "legs", "kind"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run folder was made
    X, y = data.read_xy(str(path), features=["legs", "weight"])  # without it: fine
    assert X.dtype.names == ("legs", "weight") and y[0] == "cat"
    config = write(tmp_path, "c.yaml", f"data: {{dataset: {path}, val_size: 0, test_size: 0.4}}\n")
    proc = run_mlp("train", config, "--set", "data.features=[weight, legs, kind]", "--out", tmp_path / "cli")
    line = assert_refused(proc, "data.features", "'kind'")
    assert "data.target" in line and not (tmp_path / "cli").exists()


def test_a_csv_with_a_byte_order_mark_reads_its_first_column_name(pets_model, tmp_path):
    # Excel's "CSV UTF-8" starts the file with U+FEFF, which is not part of the first name.
    bom = tmp_path / "bom.csv"
    bom.write_text("\ufeff" + PETS, encoding="utf-8")
    X, y = data.read_xy(str(bom))
    assert X.dtype.names == ("weight", "colour", "legs") and y[0] == "cat"
    assert data.csv_header(bom)[0] == "weight"
    numeric = tmp_path / "n.csv"
    numeric.write_text("\ufeffa,b,y\n1,2,0\n3,4,1\n", encoding="utf-8")
    X, y = data.read_xy(str(numeric))
    assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]
    # A trained model finds its columns in it by name
    model = load_weights(pets_model.run_dir / "weights.npz")
    table = data.read_features(str(bom), encoder=model.encoder)
    assert table["weight"][0] == 4.0
    X, y = data.read_xy(str(bom), encoder=model.encoder)
    assert len(X) == len(y) == 10


def test_a_bad_number_is_quoted_as_plain_text(pets_model, tmp_path):
    model = load_weights(pets_model.run_dir / "weights.npz")
    path = write(tmp_path, "new.csv", "weight,colour,legs\nabc,black,4\n")
    with pytest.raises(DataError) as info:
        data.read_features(str(path), encoder=model.encoder)
    assert str(info.value) == f"{path}: column 'weight', row 2: 'abc' is not a number"


# --------------------------------------------------------------------------- the encoder


def _sklearn_reference(train_cols, test_cols, numeric_strategy):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    def frame(cols):
        out = np.empty((len(cols[0]), 2), dtype=object)
        out[:, 0] = cols[0]
        out[:, 1] = [np.nan if v == "" else v for v in cols[1]]
        return out

    reference = ColumnTransformer([
        ("num", SimpleImputer(strategy=numeric_strategy), [0]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)), [1]),
    ])
    reference.fit(frame(train_cols))
    return reference.transform(frame(test_cols)).astype(np.float64)


@pytest.mark.parametrize("numeric", ["mean", "median"])
def test_encoder_equals_scikit_learns_imputer_and_one_hot_encoder(numeric):
    """Fills from the training rows, categories sorted, a tie for the most
    frequent going to the first in order, an unseen category all zeros."""
    from mlpcli.tabular import make_table

    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    x[rng.random(40) < 0.2] = np.nan
    c = rng.choice(["b", "a", "c", ""], 40)
    new_x = np.array([np.nan, 1.0, -2.0, 0.5])
    new_c = np.array(["", "zebra", "a", "c"])  # a gap, an unseen category
    encoder = Encoder.fit(make_table(["x", "c"], [x, c]), {**IMPUTE, "numeric": numeric}, "y")
    got = encoder.encode(make_table(["c", "x"], [new_c, new_x]))  # fields in another order
    np.testing.assert_allclose(got, _sklearn_reference([x, c], [new_x, new_c], numeric), rtol=1e-12)
    assert encoder.input_names() == ["x", "c=a", "c=b", "c=c"]
    assert got[1, 1:].tolist() == [0, 0, 0]  # 'zebra'


def test_encoder_takes_plain_arrays_in_column_order():
    from mlpcli.tabular import make_table

    numeric = Encoder.fit(make_table(["a", "b"], [np.array([1.0, 3.0]), np.array([2.0, np.nan])]), IMPUTE, None)
    np.testing.assert_array_equal(numeric.encode(np.array([[np.nan, 5.0]])), [[2.0, 5.0]])
    mixed = Encoder.fit(make_table(["a", "b"], [np.array([1.0, 3.0]), np.array(["u", "v"])]), IMPUTE, None)
    np.testing.assert_array_equal(mixed.encode(np.array([["7", "v"]], dtype=object)), [[7.0, 0.0, 1.0]])
    with pytest.raises(DataError, match="one-hot encodes column 'b'"):
        mixed.encode(np.zeros((2, 2)))
    with pytest.raises(DataError, match="has 3 columns; the model takes 2"):
        mixed.encode(np.zeros((2, 3)))


# --------------------------------------------------------------------------- weights file


@pytest.fixture(scope="module")
def pets_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pets")
    path = write(tmp, "pets.csv", PETS)
    return mlpcli.train(tiny_config(path), tmp / "run")


def test_the_encoder_is_json_in_meta_and_round_trips(pets_model):
    weights = pets_model.run_dir / "weights.npz"
    with np.load(weights, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
    columns = {c["name"]: c for c in meta["encoder"]["columns"]}
    assert meta["encoder"]["target"] == "kind"
    assert columns["colour"]["kind"] == "categorical" and columns["colour"]["categories"] == sorted(
        columns["colour"]["categories"])
    assert columns["weight"]["kind"] == "numeric" and isinstance(columns["weight"]["fill"], float)
    assert meta["n_features"] == 2 + len(columns["colour"]["categories"])
    assert meta["config"]["data"]["features"] == ["weight", "colour", "legs"]  # the resolved columns
    assert meta["config"]["data"]["impute"] == IMPUTE
    model = load_weights(weights)
    assert model.encoder == pets_model.model.encoder


def _rewrite_meta(src, dst, change):
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta["encoder"])
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)
    return dst


@pytest.mark.parametrize("change, message", [
    (lambda e: e["columns"][1].update(kind="text"), "kind must be one of numeric, categorical"),
    (lambda e: e["columns"][1].update(categories=["white", "black", "brown"]), "sorted and distinct"),
    (lambda e: e["columns"][1].update(fill="green"), "fill must be one of its categories"),
    (lambda e: e["columns"][0].update(fill="4.1"), "fill must be a finite number"),
    (lambda e: e["columns"][1]["categories"].append("zz"), "gives 6 network inputs, but meta.n_features is 5"),
    (lambda e: e["columns"].append(dict(e["columns"][0])), "appears twice"),
    (lambda e: e.update(code="__import__('os')"), "keys 'target' and 'columns'"),
])
def test_a_malformed_encoder_is_refused(pets_model, tmp_path, change, message):
    bad = _rewrite_meta(pets_model.run_dir / "weights.npz", tmp_path / "bad.npz", change)
    with pytest.raises(WeightsError, match="meta.encoder"):
        load_weights(bad)
    with pytest.raises(WeightsError, match=message):
        load_weights(bad)


def test_a_model_of_a_plain_numeric_csv_has_no_encoder(tmp_path):
    model = mlpcli.train(tiny_config(write(tmp_path, "n.csv", "a,b,y\n" + "1,2,0\n3,4,1\n" * 10)), tmp_path / "r").model
    assert model.encoder is None and load_weights(tmp_path / "r" / "weights.npz").encoder is None
    with np.load(tmp_path / "r" / "weights.npz", allow_pickle=False) as f:
        assert "encoder" not in json.loads(str(f["meta"]))
    X, y = data.read_xy(str(write(tmp_path, "g.csv", "a,b,y\n1,,0\n3,4,1\n")))  # a gap: a table
    with pytest.raises(DataError, match="g.csv: has text columns or missing values; the model takes 2 numbers"):
        model.score(X, y, "g.csv")


# --------------------------------------------------------------------------- config


def test_config_keys_are_validated():
    from mlpcli.config import parse_config

    with pytest.raises(ConfigError, match=r"data.impute.numeric: must be one of mean, median, zero, refuse, got 'mode'"):
        parse_config({"data": {"dataset": "d.csv", "impute": {"numeric": "mode"}}})
    with pytest.raises(ConfigError, match="data.features: names columns of a .csv data set"):
        parse_config({"data": {"dataset": "iris", "features": ["a"]}})
    with pytest.raises(ConfigError, match="data.target: names the target column of a .csv"):
        parse_config({"data": {"dataset": "iris", "target": "a"}})
    with pytest.raises(ConfigError, match="data.features: lists the target column 'y'"):
        parse_config({"data": {"dataset": "d.csv", "target": "y", "features": ["a", "y"]}})
    with pytest.raises(ConfigError, match="data.features: lists 'a' twice"):
        parse_config({"data": {"dataset": "d.csv", "features": ["a", "b", "a"]}})


# --------------------------------------------------------------------------- the CLI, on the generated data


def generate(tmp_path, rows=3000, seed=0):
    out = tmp_path / "churn.csv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_tabular_csv.py"), "--out", str(out), "--rows", str(rows),
         "--seed", str(seed)], capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def read_rows(path):
    with open(path, newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def test_the_script_is_deterministic_with_gaps_in_several_columns(tmp_path):
    a, b = generate(tmp_path / "a", 400), generate(tmp_path / "b", 400)
    assert a.read_bytes() == b.read_bytes()
    assert generate(tmp_path / "c", 400, seed=1).read_bytes() != a.read_bytes()
    header, rows = read_rows(a)
    gaps = {name: sum(row[j] in ("", "NA", "?") for row in rows) / len(rows) for j, name in enumerate(header)}
    assert [name for name, rate in gaps.items() if rate > 0] == ["age", "income", "plan", "payment"]
    assert all(0.02 < rate < 0.09 for rate in gaps.values() if rate > 0)


@pytest.mark.slow
def test_tabular_config_beats_the_majority_class_by_a_clear_margin(tmp_path):
    """configs/tabular.yaml on the script's data: test accuracy at least 0.15
    above always predicting the most frequent class (about 0.51 here)."""
    path = generate(tmp_path)
    proc = run_mlp("train", CONFIGS / "tabular.yaml", "--set", f"data.dataset={path}", "--out", tmp_path / "run",
                   "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    accuracy = json.loads(proc.stdout)["test"]["accuracy"]
    _, rows = read_rows(path)
    labels = [row[-1] for row in rows]
    majority = max(labels.count(v) for v in set(labels)) / len(labels)
    assert accuracy >= majority + 0.15, (accuracy, majority)


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    """A small model trained through the CLI on 600 generated rows."""
    tmp = tmp_path_factory.mktemp("churn")
    path = generate(tmp, 600)
    proc = run_mlp("train", CONFIGS / "tabular.yaml", "--set", f"data.dataset={path}", "--set", "train.epochs=5",
                   "--set", "train.early_stopping=null", "--out", tmp / "run", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return path, tmp / "run" / "weights.npz"


def test_predict_matches_columns_by_name_fills_gaps_and_ignores_unseen_categories(churn, tmp_path):
    path, weights = churn
    header, rows = read_rows(path)
    rows = [row for row in rows if all(v not in ("", "NA", "?") for v in row)][:4]
    model = mlpcli.load(weights)
    encoder = {c.name: c for c in model.encoder.columns}
    # Row 0 as it is; row 1 with 'age' missing; row 2 with a plan never seen; row 3 with the target dropped.
    edited = [list(r) for r in rows]
    edited[1][header.index("age")] = ""
    edited[2][header.index("plan")] = "platinum"
    order = ["payment", "region", "churned", "support_calls", "plan", "income", "tenure_months", "age"]
    shuffled = [order] + [[r[header.index(c)] for c in order] for r in edited]
    shuffled[4][order.index("churned")] = ""  # a missing target does not matter to predict
    new = tmp_path / "new.csv"
    new.write_text("".join(",".join(r) + "\n" for r in shuffled))
    proc = run_mlp("predict", weights, new, "--proba", "-o", tmp_path / "p.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "p.npy")

    # The same rows, encoded by hand from the stored fills and categories.
    def encoded(row):
        out = []
        for c in model.encoder.columns:
            value = row[header.index(c.name)]
            if c.kind == "numeric":
                out.append(c.fill if value == "" else float(value))
            else:
                out.extend(float(value == v) for v in c.categories)
        return out

    X = np.array([encoded(r) for r in edited])
    assert X[1, 0] == pytest.approx(encoder["age"].fill)
    assert X[2, model.encoder.one_hot()].sum() == 2  # only region and payment: platinum is all zeros
    expected = model.network.predict(model._scale(X, "x"))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_eval_data_on_a_new_csv_and_a_missing_column(churn, tmp_path):
    path, weights = churn
    proc = run_mlp("eval", weights, "--data", path, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n_samples"] == 600 and 0 <= result["accuracy"] <= 1
    header, rows = read_rows(path)
    j = header.index("region")
    (tmp_path / "noregion.csv").write_text(
        "\n".join(",".join(v for i, v in enumerate(r) if i != j) for r in [header, *rows[:5]]) + "\n")
    line = assert_refused(run_mlp("predict", weights, tmp_path / "noregion.csv", cwd=tmp_path), "noregion.csv")
    assert "no column 'region'" in line


def test_train_with_refuse_exits_2_naming_the_column_and_row(tmp_path):
    path = generate(tmp_path, 300)
    header, rows = read_rows(path)
    first = next(i for i, r in enumerate(rows) if r[header.index("plan")] in ("", "NA", "?")
                 or r[header.index("payment")] in ("", "NA", "?"))
    column = "plan" if rows[first][header.index("plan")] in ("", "NA", "?") else "payment"
    proc = run_mlp("train", CONFIGS / "tabular.yaml", "--set", f"data.dataset={path}",
                   "--set", "data.impute.categorical=refuse", "--out", tmp_path / "run", cwd=tmp_path)
    line = assert_refused(proc, "churn.csv", f"column {column!r}", f"row {first + 2}", "data.impute.categorical")
    assert not (tmp_path / "run").exists()  # refused before the run folder was made
    assert line.count("row") == 1


def test_predict_with_a_model_trained_with_refuse_refuses_a_gap(tmp_path):
    path = write(tmp_path, "pets.csv", PETS.replace("\n,black", "\n4.1,black").replace("3.5,white,?", "3.5,white,4"))
    model_dir = tmp_path / "run"
    mlpcli.train(tiny_config(path, impute={"numeric": "refuse", "categorical": "most_frequent"}), model_dir)
    write(tmp_path, "new.csv", "legs,colour,weight\n4,black,3\n4,white,\n")
    line = assert_refused(run_mlp("predict", model_dir / "weights.npz", "new.csv", cwd=tmp_path),
                          "new.csv", "column 'weight'", "row 3", "refuse")
    assert "trained with data.impute.numeric: refuse" in line


def test_models_of_numeric_data_still_predict_from_a_headerless_csv(tmp_path):
    # A CSV model whose columns are all numbers also takes rows by position (no header row).
    path = write(tmp_path, "n.csv", "a,b,y\n" + "".join(f"{i % 3},{'' if i == 4 else i},{i % 2}\n" for i in range(20)))
    result = mlpcli.train(tiny_config(path), tmp_path / "run")
    assert result.model.encoder is not None  # the gap made it a table
    write(tmp_path, "x.csv", "1,2\n0,\n")
    proc = run_mlp("predict", tmp_path / "run" / "weights.npz", "x.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3
    np.save(tmp_path / "x.npy", np.array([[1.0, np.nan]]))
    assert runner.predict(tmp_path / "run" / "weights.npz", str(tmp_path / "x.npy"))[0].shape == (1,)


def test_shipped_config_points_at_the_scripts_default_output():
    import yaml

    config = yaml.safe_load((CONFIGS / "tabular.yaml").read_text())
    assert config["data"]["dataset"] == "data/churn.csv"
    assert "/data/" in (ROOT / ".gitignore").read_text().split()  # the generated CSV is never committed


def test_a_one_row_headerless_csv_is_a_row_of_data_for_a_csv_model(pets_model, tmp_path):
    # The model knows its column names: a first row that names none of them is data, even alone.
    weights = pets_model.run_dir / "weights.npz"
    write(tmp_path, "one.csv", "4.1,white,4\n")
    proc = run_mlp("predict", weights, "one.csv", "--proba", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2  # the header and one row
    model = load_weights(weights)
    table = data.read_features(str(tmp_path / "one.csv"), encoder=model.encoder)
    assert table["weight"].tolist() == [4.1] and table["colour"].tolist() == ["white"]
    # A row of the model's names is still a header, in any order.
    write(tmp_path, "named.csv", "legs,colour,weight\n4,white,4.1\n")
    assert data.read_features(str(tmp_path / "named.csv"), encoder=model.encoder)["weight"].tolist() == [4.1]
    write(tmp_path, "header.csv", "weight,colour,legs\n")
    assert_refused(run_mlp("predict", weights, "header.csv", cwd=tmp_path), "header.csv: no data rows")
