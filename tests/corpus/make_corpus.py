"""Write the generated files of the bad-input corpus (weights/ and data/).

    python tests/corpus/make_corpus.py [--out DIR]   (default: this folder)

Deterministic: the same bytes every run (tests/test_corpus.py checks the
committed files against a fresh run). The hand-written configs in config/
are not generated. Each file is described in tests/test_corpus.py's MANIFEST.
"""
from __future__ import annotations

import argparse
import io
import json
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# A small, valid iris-shaped model (4 features, one tanh layer of 3 units, 3
# classes), written by hand so it does not depend on training or on the schema's
# defaults (meta.config gives only what differs from them).
N_FEATURES, UNITS, CLASSES = 4, 3, [0, 1, 2]
META = {
    "format": "mlpcli.weights",
    "format_version": 2,
    "mlpcli_version": "0.1.0",
    "task": "classification",
    "classes": CLASSES,
    "n_features": N_FEATURES,
    "config": {
        "data": {"dataset": "iris", "val_size": 0.0},
        "model": {"task": "classification", "layers": [{"units": UNITS, "activation": "tanh"}]},
        "train": {"loss": "cross_entropy"},
    },
    "metrics": {},
}


def valid_arrays(meta: dict | None = None) -> dict[str, np.ndarray]:
    def ramp(*shape):
        return (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) - 2) / 10

    return {
        "dense.0.weight": ramp(N_FEATURES, UNITS),
        "dense.0.bias": ramp(UNITS),
        "dense.1.weight": ramp(UNITS, len(CLASSES)),
        "dense.1.bias": ramp(len(CLASSES)),
        "scaler.mean": np.array([5.8, 3.0, 3.7, 1.2], dtype=np.float32),
        "scaler.scale": np.array([0.8, 0.4, 1.8, 0.8], dtype=np.float32),
        "meta": np.array(json.dumps(META if meta is None else meta)),
    }


def npz(arrays: dict[str, np.ndarray]) -> bytes:
    """np.savez into memory: fixed zip timestamps, so the same bytes every time."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def zip_of(members: list[tuple[str, bytes]], method=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", method) as z:
        warnings.simplefilter("ignore")  # duplicate_member.npz: a name twice, on purpose
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return buffer.getvalue()


def with_meta(**changes) -> bytes:
    meta = json.loads(json.dumps(META))
    for key, value in changes.items():
        if value is _DROP:
            del meta[key]
        else:
            meta[key] = value
    return npz(valid_arrays(meta))


_DROP = object()


def raw_meta(text: str) -> bytes:
    """valid.npz with ``text`` as its meta, verbatim (JSON json.dumps would not write)."""
    return npz({**valid_arrays(), "meta": np.array(text)})


def replaced(**arrays) -> bytes:
    out = valid_arrays()
    for name, value in arrays.items():
        if value is _DROP:
            del out[name]
        else:
            out[name] = value
    return npz(out)


def header(descr: str, shape: tuple) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def valid_members(skip: str = "") -> list[tuple[str, bytes]]:
    return [(f"{name}.npy", npy(a)) for name, a in valid_arrays().items() if name != skip]


def weights_files() -> dict[str, bytes]:
    valid = npz(valid_arrays())
    crc = bytearray(valid)
    at = crc.index(b"dense.0.weight.npy") + len("dense.0.weight.npy") + 130  # inside the array data
    crc[at] ^= 0xFF
    method = bytearray(valid)
    at = method.index(b"PK\x01\x02")
    method[at + 10 : at + 12] = struct.pack("<H", 99)
    config = json.loads(json.dumps(META["config"]))
    config["model"]["layers"][0]["dropout"] = 1.5
    return {
        "valid.npz": valid,
        "not_zip.npz": b"these are not weights\n",
        "empty_file.npz": b"",
        "truncated_half.npz": valid[: len(valid) // 2],
        "truncated_directory.npz": valid[:-30],
        "bad_crc.npz": bytes(crc),
        "unknown_compression.npz": bytes(method),
        "foreign_zip.npz": zip_of([("readme.txt", b"hello\n")]),
        "no_meta.npz": replaced(meta=_DROP),
        "meta_not_json.npz": replaced(meta=np.array("{not json")),
        "meta_not_string.npz": replaced(meta=np.zeros(3)),
        "meta_wrong_format.npz": with_meta(format="keras.weights"),
        "meta_newer_version.npz": with_meta(format_version=99),
        "meta_no_config.npz": with_meta(config=_DROP),
        "meta_config_invalid.npz": with_meta(config=config),
        "meta_config_not_mapping.npz": with_meta(config=["layers"]),
        "meta_bad_task.npz": with_meta(task="clustering"),
        "meta_classes_nested.npz": with_meta(classes=[[0, 1], [1, 2], [2, 3]]),
        "meta_classes_unsorted.npz": with_meta(classes=[2, 0, 1]),
        "meta_classes_mixed.npz": with_meta(classes=[0, "one", 2]),
        "meta_n_features_bool.npz": with_meta(n_features=True),
        "meta_n_features_huge.npz": with_meta(n_features=10**12),
        "meta_metrics_not_mapping.npz": with_meta(metrics="great"),
        "meta_generator_huge.npz": with_meta(config={
            **META["config"], "data": {"dataset": "classification", "val_size": 0.0,
                                       "options": {"n_samples": 1e12, "n_features": N_FEATURES}},
        }),
        "meta_encoder_malformed.npz": with_meta(encoder={"columns": 3}),
        "unknown_member.npz": replaced(extra=np.zeros(3, dtype=np.float32)),
        "missing_member.npz": replaced(**{"dense.0.bias": _DROP}),
        "wrong_dtype.npz": replaced(**{"dense.0.weight": np.zeros((N_FEATURES, UNITS), dtype=np.int64)}),
        "wrong_shape.npz": replaced(**{"dense.0.bias": np.zeros(UNITS + 1, dtype=np.float32)}),
        "big_endian.npz": replaced(**{"dense.0.bias": np.zeros(UNITS, dtype=">f4")}),
        "nan_weights.npz": replaced(**{"dense.1.weight": np.full((UNITS, 3), np.nan, dtype=np.float32)}),
        "negative_scale.npz": replaced(**{"scaler.scale": -np.ones(N_FEATURES, dtype=np.float32)}),
        "pickled_object.npz": zip_of(valid_members() + [("payload.npy", npy(np.array([{"x": 1}], dtype=object), True))]),
        "pickled_weight.npz": zip_of(
            valid_members("dense.0.bias") + [("dense.0.bias.npy", npy(np.array([1, None, 2], dtype=object), True))]
        ),
        "huge_declared_shape.npz": zip_of(
            valid_members("dense.0.weight") + [("dense.0.weight.npy", header("<f4", (N_FEATURES, 10**11)) + bytes(48))]
        ),
        "zip_bomb.npz": zip_of(
            [(name, data) for name, data in valid_members()]
            + [("bomb.npy", header("<f4", (2_500_000,)) + bytes(10_000_000))],
            zipfile.ZIP_DEFLATED,
        ),
        "path_traversal.npz": zip_of(valid_members() + [("../../evil.npy", npy(np.zeros(3)))]),
        "duplicate_member.npz": zip_of(valid_members() + [("dense.0.bias.npy", npy(np.ones(UNITS, np.float32)))]),
        "garbage_npy_header.npz": zip_of(valid_members("dense.0.bias") + [("dense.0.bias.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}\n  ")]),
        # issue 13, item 12: a zero-size dtype holds 0 bytes whatever its shape (931 GiB once NumPy allocates it)
        "zero_itemsize_member.npz": zip_of(valid_members() + [("extra.npy", header("|S0", (10**12,)))]),
        "zero_itemsize_meta.npz": zip_of(valid_members("meta") + [("meta.npy", header("<U0", (10**12,)))]),
        "string_weight.npz": replaced(**{"dense.0.bias": np.array(["a", "b", "c"])}),
        # issue 13, item 14: json's decoder recurses per level; int() of 5,000 digits is refused by Python itself
        "meta_deep_nesting.npz": raw_meta(json.dumps(META)[:-1] + ', "deep": ' + "[" * 3000 + "]" * 3000 + "}"),
        "meta_huge_integer.npz": raw_meta(json.dumps(META).replace('"n_features": 4', '"n_features": ' + "9" * 5000)),
    }


def data_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(30, 4)), 3)
    y = np.arange(30) % 2
    rows = "".join(f"{a},{b},{c},{d},{t}\n" for (a, b, c, d), t in zip(X.tolist(), y.tolist()))
    return {
        "ragged.csv": b"a,b,y\n1,2,0\n3,4\n5,6,1\n7,8,0\n",
        "non_numeric.csv": b"1,2,0\n3,x,1\n5,6,0\n7,8,1\n",
        "nan_feature.csv": b"1,2,0\n3,nan,1\n5,6,0\n7,8,1\n",
        "inf_feature.csv": b"a,b,y\n1,2,0\n3,inf,1\n5,6,0\n7,8,1\n",
        "empty.csv": b"",
        "header_only.csv": b"a,b,y\n",
        "single_class.csv": "".join(f"{i},{2 * i},1\n" for i in range(20)).encode(),
        "named_columns.csv": ("a,b,c,d,y\n" + rows).encode(),
        "not_utf8.csv": b"\xff\xfe\x00a,b\n1,2\n",
        "no_y.npz": npz({"X": X}),
        "y_scalar.npz": npz({"X": X, "y": np.array(3)}),
        "y_no_columns.npz": npz({"X": X, "y": np.zeros((30, 0))}),
        "no_features.npz": npz({"X": np.zeros((30, 0)), "y": y}),
        "x_3d.npz": npz({"X": X.reshape(30, 2, 2), "y": y}),
        "x_complex.npz": npz({"X": X.astype(complex), "y": y}),
        "x_strings.npz": npz({"X": X.astype(str), "y": y}),
        "no_samples.npz": npz({"X": np.zeros((0, 4)), "y": np.zeros(0, dtype=np.int64)}),
        "y_nan.npz": npz({"X": X, "y": np.where(y == 1, np.nan, 0.5)}),
        "y_short.npz": npz({"X": X, "y": y[:-1]}),
        "pickled_y.npz": zip_of([("X.npy", npy(X)), ("y.npy", npy(np.array([{}] * 30, dtype=object), True))]),
        "x.npy": npy(X),
        "y.npy": npy(y),
        "pickled_x.npy": npy(np.array([[{}]] * 30, dtype=object), True),
        "predict_wrong_width.npy": npy(X[:, :3]),
        "predict_nan.npy": npy(np.where(X > 1, np.nan, X)),
        "predict_no_rows.npy": npy(np.zeros((0, 4))),
        "predict_strings.npy": npy(X.astype(str)),
        "predict_3d.npy": npy(X.reshape(30, 2, 2)),
        "predict_zip.npy": npz({"X": X}),
        "predict_ragged.csv": b"1,2,3,4\n1,2\n",
        "x_structured.npz": npz({"X": np.rec.fromarrays(X.T, names="a,b,c,d"), "y": y}),
        "y_bytes_not_utf8.npz": npz({"X": X, "y": np.array([b"yes\xff", b"no"])[y]}),
        "x_float32_overflow.npz": npz({"X": np.where(np.arange(4) == 1, X * 1e300, X), "y": y}),
        "x_float32_range.npz": npz({"X": np.where(np.arange(4) == 0, np.sign(X) * 3e38, X), "y": y}),
        "predict_structured.npz": npz({"X": np.rec.fromarrays(X.T, names="a,b,c,d")}),
        "predict_float32_overflow.npy": npy(np.where(np.arange(4) == 2, X * 1e39, X)),
        # issue 14: ';' columns with decimal commas (splits evenly on both); ';' columns read with ','; an id target
        "semicolon_decimal_comma.csv": "".join(
            f"{a};{b};{c};{d};{t}\n".replace(".", ",") for (a, b, c, d), t in zip(X.tolist(), y.tolist())
        ).encode(),
        "semicolon.csv": ("a;b;c;d;y\n" + rows.replace(",", ";")).encode(),
        "id_target.csv": "a,b,c,d,id\n".encode() + "".join(
            f"{a},{b},{c},{d},{1000 + i}\n" for i, (a, b, c, d) in enumerate(X.tolist())
        ).encode(),
        "eval_wrong_width.csv": "".join(f"{a},{b},{t}\n" for (a, b, _, _), t in zip(X.tolist(), y.tolist())).encode(),
    }


def deep_yaml() -> bytes:
    return ("seed: " + "[" * 2000 + "]" * 2000 + "\n").encode()


def write(out: Path) -> list[Path]:
    written = []
    configs = {"deep_nesting.yaml": deep_yaml(), "weights_given_as_config.npz": npz(valid_arrays())}
    groups = {"weights": weights_files(), "data": data_files(), "config": configs}
    for folder, files in groups.items():
        (out / folder).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = out / folder / name
            path.write_bytes(data)
            written.append(path)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    print(f"wrote {len(write(args.out))} files under {args.out}")
