"""The bad-input corpus (tests/corpus/), each file through the real ``mlp`` command.

Every file is refused the same way: exit 2, exactly one stderr line starting
``Error:`` that contains the file's fragment, no traceback, and nothing
written (the --out folder is never created, and the corpus folder, the
working directory, is left as it was). MANIFEST says what each file is.

config/  hand-written YAML: broken syntax, hostile tags, alias bombs, wrong
         types, out-of-range values, unknown keys and names (`mlp train`)
weights/ corrupt and hostile weights files (`mlp info` / `eval` / `predict`)
data/    bad data files, each trained on through a data/train_*.yaml config,
         or given to `mlp predict` / `mlp eval --data` with weights/valid.npz
weights/ and data/ are written by tests/corpus/make_corpus.py (deterministic;
test_the_generated_files_are_what_the_script_writes checks the committed bytes).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, assert_refused, run_mlp, run_mlp_process

CORPUS = ROOT / "tests" / "corpus"
VALID = "weights/valid.npz"

# (file, command, fragment its error must contain, what the file is).
# command: train = `mlp train FILE --out OUT`; info / eval = `mlp info|eval FILE`;
# predict = `mlp predict FILE data/x.npy`; predict-input = `mlp predict weights/valid.npz FILE`;
# eval-data = `mlp eval weights/valid.npz --data FILE`.
MANIFEST = [
    # ---- YAML syntax and hostile YAML
    ("config/broken_indent.yaml", "train", "broken_indent.yaml:3:2: invalid YAML", "a key indented by one space"),
    ("config/unclosed_flow.yaml", "train", "unclosed_flow.yaml:2:6: invalid YAML", "a flow mapping never closed"),
    ("config/tab_indent.yaml", "train", "tab_indent.yaml:2:1: invalid YAML", "a tab used for indentation"),
    ("config/two_documents.yaml", "train", "expected a single document", "two YAML documents in one file"),
    ("config/not_utf8.yaml", "train", "cannot read", "bytes that are not UTF-8"),
    ("config/deep_nesting.yaml", "train", "nested too deeply", "2000 nested lists (would exhaust the stack)"),
    ("config/deep_300.yaml", "train", "deep_300.yaml:4:69: invalid YAML: nested too deeply (more than 64 levels)",
     "300 nested lists in data.options (past pydantic's serialisation depth, under Python's recursion limit)"),
    ("config/control_character.yaml", "train", "control_character.yaml:2: invalid YAML: control character U+0007",
     "a BEL character in a comment"),
    ("config/options_infinite.yaml", "train", "options_infinite.yaml:4: data.options.noise: must be a finite number, got inf",
     "noise: .inf, which config.yaml would record as null"),
    ("config/class_weight_collision.yaml", "train",
     "class_weight_collision.yaml:4: train.class_weight: labels 1 and '1' are the same class",
     "two labels that name one class (labels are compared as text)"),
    ("config/duplicate_key.yaml", "train", "duplicate key 'epochs' (first at line 2)", "a key given twice"),
    ("config/python_object_apply.yaml", "train", "tag !!python/object/apply:os.system is not allowed",
     "runs a shell command under yaml.load's unsafe loader"),
    ("config/python_name.yaml", "train", "tag !!python/name:os.system is not allowed", "a Python object by name"),
    ("config/python_object_new.yaml", "train", "!!python/object/new:subprocess.Popen is not allowed",
     "starts a process under the unsafe loader"),
    ("config/local_tag.yaml", "train", "tag !env is not allowed", "an application-specific tag"),
    ("config/binary_tag.yaml", "train", "tag !!binary is not allowed", "a standard tag that is not a plain value"),
    ("config/set_tag.yaml", "train", "tag !!set is not allowed", "a YAML set"),
    ("config/billion_laughs.yaml", "train", "aliases expand to more than 100000 values",
     "nine levels of nine aliases: 387 million strings once expanded"),
    ("config/recursive_alias.yaml", "train", "recursive structure", "an alias inside the node it names"),
    ("config/not_a_mapping.yaml", "train", "expected a mapping of keys", "a list at the top level"),
    ("config/empty.yaml", "train", "empty.yaml: holds no config", "0 bytes: every default (digits) before"),
    ("config/only_comments.yaml", "train", "only_comments.yaml: holds no config", "comments and '---', no document"),
    ("config/weights_given_as_config.npz", "train", "is a weights file (.npz), not a YAML config; it is a model: "
     "score it with `mlp eval", "a weights file where the config goes (a UnicodeDecodeError before)"),
    # ---- wrong keys, types, ranges and names: path, line, expected, received, did you mean
    ("config/misspelt_top_key.yaml", "train", "misspelt_top_key.yaml:2: trian: unknown key; did you mean 'train'?",
     "trian for train"),
    ("config/misspelt_nested_key.yaml", "train", "misspelt_nested_key.yaml:2: train.epochz: unknown key; did you mean 'epochs'?",
     "epochz for epochs"),
    ("config/misspelt_layer_key.yaml", "train", "misspelt_layer_key.yaml:3: model.layers[0].unit: unknown key; did you mean 'units'?",
     "unit for units (and no second error for the missing units)"),
    ("config/keras_key_name.yaml", "train", "train.optimizer.learning_rate: unknown key; did you mean 'lr'?",
     "Keras's name for lr"),
    ("config/wrong_type_epochs.yaml", "train", "wrong_type_epochs.yaml:2: train.epochs: expected an integer, got 'ten'",
     "a word for a number"),
    ("config/boolean_epochs.yaml", "train", "train.epochs: expected an integer, got true", "YAML 1.1's yes"),
    ("config/date_seed.yaml", "train", "seed: expected an integer, got '2024-01-01'", "a date (read as text)"),
    ("config/layers_not_a_list.yaml", "train", "model.layers: expected a list, got {\"units\": 8}", "one layer, not a list"),
    ("config/dropout_out_of_range.yaml", "train",
     "dropout_out_of_range.yaml:6: model.layers[1].dropout: must be in [0, 1), got 1.5", "dropout 1.5"),
    ("config/negative_lr.yaml", "train", "negative_lr.yaml:2: train.optimizer.lr: must be > 0, got -0.1", "lr < 0"),
    ("config/nan_lr.yaml", "train", "train.optimizer.lr: must be a finite number, got nan", "lr .nan"),
    ("config/test_size_one.yaml", "train", "data.test_size: must be in (0, 1), got 1", "no training data left"),
    ("config/missing_units.yaml", "train", "missing_units.yaml:3: model.layers[0].units: required key is missing",
     "a layer without units"),
    ("config/unknown_activation.yaml", "train", "unknown activation 'relu6'; valid: relu", "relu6"),
    ("config/unknown_optimizer.yaml", "train", "unknown optimizer 'adamm'; valid: adagrad", "adamm"),
    ("config/unknown_schedule.yaml", "train", "did you mean 'cosine'?", "cosin"),
    ("config/unknown_dataset.yaml", "train", "unknown dataset 'digit'", "digit for digits"),
    ("config/unknown_scale.yaml", "train", "data.scale: must be one of standard, minmax, robust, none, got 'standart'",
     "standart"),
    ("config/unknown_generator_option.yaml", "train", "data.options.noize", "make_moons has no noize"),
    ("config/generator_too_big.yaml", "train", "data.options.n_samples: 1,000,000,000,000 samples x 20 features need about",
     "1e12 samples for make_classification (458 TiB)"),
    ("config/lbfgs_with_dropout.yaml", "train", "lbfgs_with_dropout.yaml:5: model.layers[0].dropout: must be 0 with optimizer lbfgs",
     "a cross-field rule, at the line of the key at fault"),
    ("config/several_problems.yaml", "train",
     "4 problems: line 1: trian: unknown key; did you mean 'train'? | line 3: data.test_size",
     "four mistakes, all reported at once, top to bottom"),
    # ---- weights files: not a zip, damaged zip, hostile zip
    ("weights/not_zip.npz", "info", "not a weights file", "a text file"),
    ("weights/empty_file.npz", "eval", "not a weights file", "0 bytes"),
    ("weights/truncated_half.npz", "predict", "not a valid weights file", "the first half of valid.npz"),
    ("weights/truncated_directory.npz", "info", "not a valid weights file", "valid.npz less its last 30 bytes"),
    ("weights/bad_crc.npz", "eval", "Bad CRC-32", "a flipped byte inside an array"),
    ("weights/unknown_compression.npz", "info", "unsupported compression method", "compression method 99"),
    ("weights/foreign_zip.npz", "info", "not an mlpcli weights file", "a zip holding readme.txt"),
    ("weights/path_traversal.npz", "predict", "member '../../evil.npy' is not an array", "a member named ../../evil.npy"),
    ("weights/duplicate_member.npz", "info", "member 'dense.0.bias.npy' appears twice", "the same member name twice"),
    ("weights/zip_bomb.npz", "eval", "zip bomb", "11 kB that would inflate to 10 MB"),
    ("weights/huge_declared_shape.npz", "info", "declares shape (4, 100000000000)",
     "a header declaring 1.6 TB of data over 48 bytes"),
    ("weights/garbage_npy_header.npz", "info", "dense.0.bias is not a valid .npy array", "a broken .npy header"),
    ("weights/pickled_object.npz", "predict", "payload holds pickled Python objects", "an extra pickled member"),
    ("weights/pickled_weight.npz", "eval", "dense.0.bias holds pickled Python objects", "a weight stored as a pickle"),
    # ---- weights files: meta
    ("weights/zero_itemsize_member.npz", "info", "extra has dtype |S0; an array of numbers is expected",
     "a member of dtype |S0 and shape (10**12,): 0 bytes declared, 0 held"),
    ("weights/zero_itemsize_meta.npz", "eval", "'meta' must be a 0-d string array, got shape (1000000000000,) of <U0",
     "meta of dtype <U0 and shape (10**12,)"),
    ("weights/string_weight.npz", "predict", "dense.0.bias has dtype <U1; an array of numbers is expected",
     "a bias of strings"),
    ("weights/no_meta.npz", "info", "no 'meta' entry", "arrays without meta"),
    ("weights/meta_deep_nesting.npz", "info", "'meta' is nested more than 64 levels deep", "3000 nested lists in meta"),
    ("weights/meta_huge_integer.npz", "eval", "an integer of 5000 digits; at most 40 are read",
     "meta.n_features of 5,000 digits"),
    ("weights/meta_not_json.npz", "info", "'meta' is not valid JSON", "meta is not JSON"),
    ("weights/meta_not_string.npz", "eval", "'meta' must be a 0-d string array", "meta is an array of floats"),
    ("weights/meta_wrong_format.npz", "info", "meta.format is not 'mlpcli.weights'", "another program's format"),
    ("weights/meta_newer_version.npz", "predict", "format version 99 is newer", "format_version 99"),
    ("weights/meta_no_config.npz", "info", "meta has no 'config'", "meta without config"),
    ("weights/meta_config_invalid.npz", "eval", "meta.config: model.layers[0].dropout: must be in [0, 1), got 1.5",
     "meta.config fails validation"),
    ("weights/meta_config_not_mapping.npz", "info", "meta.config: expected a mapping", "meta.config is a list"),
    ("weights/meta_bad_task.npz", "info", "meta.task must be classification, multilabel or regression", "task clustering"),
    ("weights/meta_classes_nested.npz", "predict", "meta.classes must be all strings or all numbers", "classes are lists"),
    ("weights/meta_classes_unsorted.npz", "eval", "meta.classes must be distinct and sorted", "classes [2, 0, 1]"),
    ("weights/meta_classes_mixed.npz", "info", "meta.classes must be all strings or all numbers", "classes [0, 'one', 2]"),
    ("weights/meta_n_features_bool.npz", "info", "meta.n_features must be an integer >= 1, got true", "n_features true"),
    ("weights/meta_n_features_huge.npz", "eval", "dense.0.weight has shape (4, 3)",
     "n_features 10**12 (building it would allocate terabytes)"),
    ("weights/meta_metrics_not_mapping.npz", "info", "meta.metrics must be a mapping", "metrics is a string"),
    ("weights/meta_generator_huge.npz", "eval", "data.options.n_samples: 1,000,000,000,000 samples x 4 features",
     "meta.config asks make_classification for 1e12 samples (109 TiB), refused before generating"),
    ("weights/meta_encoder_malformed.npz", "predict", "meta.encoder is malformed", "an encoder without its keys"),
    # ---- weights files: arrays
    ("weights/unknown_member.npz", "info", "unexpected entries ['extra']", "an array the model does not have"),
    ("weights/missing_member.npz", "eval", "missing dense.0.bias", "a bias left out"),
    ("weights/wrong_dtype.npz", "info", "dense.0.weight has dtype int64, expected float32", "integer weights"),
    ("weights/wrong_shape.npz", "predict", "dense.0.bias has shape (4,), expected (3,)", "a bias one too long"),
    ("weights/big_endian.npz", "info", "dense.0.bias has dtype >f4", "big-endian floats"),
    ("weights/nan_weights.npz", "eval", "dense.1.weight holds NaN or infinite values", "NaN weights"),
    ("weights/negative_scale.npz", "info", "scaler.scale must be positive", "a negative input scale"),
    # ---- data, through mlp train
    ("data/train_ragged_csv.yaml", "train", "rows have different numbers of columns", "a row short of a column"),
    ("data/train_non_numeric_csv.yaml", "train", "the feature columns must be numbers", "x in a headerless CSV"),
    ("data/train_nan_feature_csv.yaml", "train", "X holds NaN or infinite values", "nan in a headerless CSV"),
    ("data/train_inf_feature_csv.yaml", "train", "X holds NaN or infinite values", "inf in a feature"),
    ("data/train_empty_csv.yaml", "train", "empty.csv: is empty", "0 bytes"),
    ("data/train_header_only_csv.yaml", "train", "no data rows", "a header and nothing else"),
    ("data/train_single_class_csv.yaml", "train", "classification needs at least 2 classes, found 1", "one class"),
    ("data/train_not_utf8_csv.yaml", "train", "UnicodeDecodeError", "bytes that are not UTF-8"),
    ("data/train_missing_target_column.yaml", "train", "no target column 'label'", "data.target not in the header"),
    ("data/train_missing_feature_column.yaml", "train", "no column 'e'", "data.features not in the header"),
    ("data/train_no_y_npz.yaml", "train", "needs arrays 'X' and 'y', found ['X']", "an .npz without y"),
    ("data/train_y_scalar_npz.yaml", "train", "y must hold one target (or one row of targets) per sample, got shape ()",
     "y is a single number"),
    ("data/train_y_no_columns_npz.yaml", "train", "got shape (30, 0)", "y with no columns"),
    ("data/train_no_features_npz.yaml", "train", "X has no feature columns", "X of shape (30, 0)"),
    ("data/train_x_3d_npz.yaml", "train", "X must be 2-D", "X of shape (30, 2, 2)"),
    ("data/train_x_complex_npz.yaml", "train", "X must hold real numbers, got dtype complex128", "complex features"),
    ("data/train_x_strings_npz.yaml", "train", "X must hold real numbers, got dtype <U32", "features as text"),
    ("data/train_no_samples_npz.yaml", "train", "no samples", "X of shape (0, 4)"),
    ("data/train_y_nan_npz.yaml", "train", "y holds NaN or infinite values", "NaN regression targets"),
    ("data/train_y_short_npz.yaml", "train", "X has 30 rows but y has 29", "one target short"),
    ("data/train_pickled_y_npz.yaml", "train", "pickled_y.npz: holds pickled Python objects", "y as pickles"),
    ("data/train_pickled_x_npy.yaml", "train", "pickled_x.npy: holds pickled Python objects", "a .npy of pickles"),
    ("data/train_x_structured_npz.yaml", "train", "x_structured.npz: X has a structured dtype [('a', '<f8')",
     "X as a record array with named fields"),
    ("data/train_y_bytes_not_utf8_npz.yaml", "train", "y holds the label b'yes\\xff', which is not UTF-8 text",
     "bytes labels (dtype S) that do not decode"),
    ("data/train_x_float32_overflow_npz.yaml", "train", "x_float32_overflow.npz: column 2 of 4 holds",
     "a feature of about 1e300 for a float32 model"),
    ("data/train_x_float32_range_npz.yaml", "train", "column 1 of 4 needs a data.scale: minmax scale of 6e+38",
     "features of +-3e38, each within float32, whose range is not: six RuntimeWarnings and an unnamed input before"),
    ("data/train_missing_target_file.yaml", "train", "missing_y.npy: no such file", "data.target names no file"),
    ("data/train_semicolon_decimal_comma_csv.yaml", "train", "it looks ';'-separated (with decimal commas?): "
     "set data.delimiter: ';'", "';' columns and decimal commas: splits evenly on both"),
    ("data/train_semicolon_as_comma_csv.yaml", "train", "reads as one column, split on ','; it looks ';'-separated: "
     "set data.delimiter: ';'", "a ';' file with data.delimiter: ',' (X has no feature columns before)"),
    ("data/train_id_target_csv.yaml", "train", "id_target.csv holds a different value in each of its 30 rows, "
     "as an identifier does, so no class can be learnt; set data.target", "an id as the last column (blamed data.test_size before)"),
    # ---- data, through mlp predict / mlp eval --data (weights/valid.npz takes 4 features)
    ("data/predict_wrong_width.npy", "predict-input", "has 3 features; the model expects 4", "3 columns for 4"),
    ("data/predict_nan.npy", "predict-input", "holds NaN or infinite values", "NaN inputs"),
    ("data/predict_no_rows.npy", "predict-input", "no rows", "shape (0, 4)"),
    ("data/predict_strings.npy", "predict-input", "features must be real numbers", "text inputs"),
    ("data/predict_3d.npy", "predict-input", "expected a 2-D array", "shape (30, 2, 2)"),
    ("data/predict_zip.npy", "predict-input", "is an .npz archive, not a .npy array", "an .npz named .npy"),
    ("data/predict_ragged.csv", "predict-input", "rows have different numbers of columns", "a short row"),
    ("data/predict_structured.npz", "predict-input", "predict_structured.npz: X has a structured dtype",
     "a record array read as a CSV table before"),
    ("data/predict_float32_overflow.npy", "predict-input", "column 3 of 4 holds -1.34e+39, beyond the range of float32",
     "features beyond float32 for a float32 model"),
    ("data/eval_wrong_width.csv", "eval-data", "has 2 features; the model expects 4", "2 feature columns for 4"),
]
# Files the entries above use without being refused themselves.
SUPPORT = {VALID, "data/x.npy", "data/y.npy", "data/named_columns.csv", "make_corpus.py", "run_many.py", "README.md"}


def _argv(file: str, command: str, out: Path) -> list[str]:
    return {
        "train": ["train", file, "--out", str(out), "--quiet"],
        "info": ["info", file],
        "eval": ["eval", file],
        "predict": ["predict", file, "data/x.npy"],
        "predict-input": ["predict", VALID, file],
        "eval-data": ["eval", VALID, "--data", file],
    }[command]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A copy of the corpus to run in (the working directory: configs name their data relative to it)."""
    copy = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(CORPUS, copy)
    return copy


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def results(corpus, tmp_path_factory) -> dict:
    """Every manifest file through the CLI (run_many.py: a forked process per file,
    each running mlpcli.cli.main), with its run folder and the working directory's
    listing afterwards."""
    outs = tmp_path_factory.mktemp("outs")
    jobs = [
        {"argv": [str(a) for a in _argv(file, command, outs / str(i))], "cwd": str(corpus)}
        for i, (file, command, *_rest) in enumerate(MANIFEST)
    ]
    before = _listing(corpus)
    process = subprocess.run(
        [sys.executable, str(CORPUS / "run_many.py")], input=json.dumps(jobs),
        capture_output=True, text=True, timeout=300, env={k: v for k, v in os.environ.items() if k != "MLP_DEBUG"},
    )
    assert process.returncode == 0, process.stderr
    assert _listing(corpus) == before, "a refused command wrote into the working directory"
    return {
        m[0]: (subprocess.CompletedProcess([], r["code"], r["stdout"], r["stderr"]), outs / str(i))
        for i, (m, r) in enumerate(zip(MANIFEST, json.loads(process.stdout)))
    }


@pytest.mark.parametrize("file, fragment", [(m[0], m[2]) for m in MANIFEST], ids=[m[0] for m in MANIFEST])
def test_corpus_file_is_refused_cleanly(results, file, fragment):
    result, out = results[file]
    assert_refused(result, fragment)
    assert not out.exists() or not any(out.iterdir()), f"{file}: left files in the run folder"


# One file per command, through `python -m mlpcli` itself: what run_many.py reports is what a user sees.
THROUGH_THE_REAL_COMMAND = [
    "config/python_object_apply.yaml", "config/several_problems.yaml", "weights/zip_bomb.npz",
    "weights/meta_classes_nested.npz", "weights/pickled_weight.npz", "data/train_y_scalar_npz.yaml",
    "data/predict_zip.npy", "data/eval_wrong_width.csv",
]


@pytest.mark.parametrize("file", THROUGH_THE_REAL_COMMAND)
def test_the_real_command_gives_the_same_refusal(corpus, results, tmp_path, file):
    command, fragment = next(m[1:3] for m in MANIFEST if m[0] == file)
    before = _listing(corpus)
    result = run_mlp_process(*_argv(file, command, tmp_path / "out"), cwd=corpus, timeout=60)
    line = assert_refused(result, fragment)
    assert line == results[file][0].stderr.strip().replace(str(results[file][1]), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    assert _listing(corpus) == before
    assert not (corpus / "hacked").exists()


def test_the_controls_are_accepted(corpus, tmp_path):
    # The defects above, not the corpus's base files, are what is refused.
    result = run_mlp("predict", VALID, "data/x.npy", cwd=corpus)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 31  # a header and a label per row of x.npy


def test_every_corpus_file_is_in_the_manifest():
    used = {m[0] for m in MANIFEST} | SUPPORT
    for config in CORPUS.glob("data/train_*.yaml"):  # the data file each data config trains on
        used |= {f"data/{word.split('/')[1].rstrip(',}')}" for word in config.read_text().split() if word.startswith("data/")}
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert on_disk - used == set(), "files no test uses"
    assert {m[0] for m in MANIFEST} - on_disk == set(), "manifest entries with no file"
    assert len(MANIFEST) >= 40


def test_the_generated_files_are_what_the_script_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    make_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_corpus)
    # np.save pickles an object array naming NumPy's own module (numpy._core since NumPy 2,
    # numpy.core before): only NumPy 2 writes the committed pickled_* files byte for byte.
    numpy_1 = int(make_corpus.np.__version__.split(".")[0]) < 2
    for path in make_corpus.write(tmp_path):
        relative = path.relative_to(tmp_path)
        if numpy_1 and relative.name.startswith("pickled_"):
            continue
        assert (CORPUS / relative).read_bytes() == path.read_bytes(), f"{relative}: rerun tests/corpus/make_corpus.py"
