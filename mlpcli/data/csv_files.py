"""CSV files: records, the header row, numeric and table (tabular.py)
features, the target column."""
from __future__ import annotations

import io

import numpy as np

from ..errors import DataError
from .delimiters import NAMES, detect, single_column_hint

def read_csv(path, with_target: bool, target=None, features=None, impute=None, encoder=None,
             delimiter: str = "auto", text: str | None = None):
    """A CSV's features: a plain float array, or a table (tabular.py) of named
    numeric and categorical columns, with missing values.

    A table when the file has a header row and data.target or data.features
    names columns, or a feature column holds a non-number or a missing value;
    a headerless file must be all numbers, with the target last. ``impute``
    (data.impute) says which missing values to refuse. With a trained model's
    ``encoder``, its columns are read by header name (by position in a file
    with no header row, or pandas' 0, 1, 2 ...), as the kinds it was fitted on.
    ``delimiter`` (data.delimiter): a separator, or auto (delimiters.detect);
    ``text``: the file's content, already read (a pipe's), named ``path``.
    """
    rows, lines = _csv_records(path, delimiter, text)
    if encoder is not None:
        return _read_model_csv(path, rows, lines, encoder, with_target)
    header = bool(len(rows)) and _is_header(rows, with_target)
    body = rows[1:] if header else rows
    if len(body) == 0:
        raise DataError(f"{path}: no data rows")
    named = target is not None or features is not None
    if not named:
        X = _numbers(body[:, :-1] if with_target else body)
        if X is not None and not (header and with_target and np.isnan(X).any()):
            return (X, _parse_target(body[:, -1])) if with_target else X
        if not (header and with_target):
            raise DataError(
                f"{path}: the feature columns must be numbers (categorical columns and missing "
                "values need a header row naming the columns)"
            )
    elif not header:
        raise DataError(f"{path}: has no header row, so data.target and data.features cannot name its columns")
    from .. import tabular

    names = [h.strip() for h in rows[0]]
    if target is None:  # data.target unset: the last column
        target = names[-1]
        if features is not None and target in features:
            raise DataError(
                f"data.features: lists {target!r}, the target column (data.target is not set, so the "
                "target is the last column); leave it out of data.features, or set data.target to "
                "another column"
            )
    features = [h for h in names if h != target] if features is None else features
    X = tabular.table_from_rows(names, body, lines[1:], features, str(path))
    impute = impute or {"numeric": "mean", "categorical": "most_frequent"}
    refused = [name for name in features if impute[tabular.kind_of(X[name])] == "refuse"]
    tabular.refuse_missing(X, refused, str(path), "data.impute.{kind} is refuse", lines[1:])
    return X, _table_target(path, names, body, lines[1:], target)


def _read_model_csv(path, rows: np.ndarray, lines: np.ndarray, encoder, with_target: bool):
    """The columns a trained model's encoder takes (and its target), by header
    name, or by position when the file has no header row (or pandas' 0, 1, ...).
    The model knows its column names, so the first row is a header only if it
    holds one of them: any other row is data (a one-row file too)."""
    from .. import tabular

    need = encoder.names + ([encoder.target] if with_target and encoder.target else [])
    first = [h.strip() for h in rows[0]] if len(rows) else []
    pandas_header = first == [str(i) for i in range(len(first))]
    if not pandas_header and set(first) & set(need):
        names, body, body_lines = first, rows[1:], lines[1:]
    else:
        if rows.shape[1] != len(need):
            raise DataError(
                f"{path}: has {rows.shape[1]} columns and no header row naming them; the model takes "
                f"{len(need)}: {', '.join(need)}"
            )
        skip = 1 if pandas_header else 0
        names, body, body_lines = need, rows[skip:], lines[skip:]
    if len(body) == 0:
        raise DataError(f"{path}: no data rows")
    X = tabular.table_from_rows(names, body, body_lines, encoder.names, str(path), kinds=encoder.kinds)
    why = "the model was trained with data.impute.{kind}: refuse"
    tabular.refuse_missing(X, encoder.refused, str(path), why, body_lines)
    if not with_target:
        return X
    return X, _table_target(path, names, body, body_lines, encoder.target)


def _table_target(path, names: list[str], body: np.ndarray, lines: np.ndarray, target: str) -> np.ndarray:
    """The target column of a CSV table; every row must have a value."""
    from .. import tabular

    column = np.char.strip(body[:, tabular.column_index(names, [target], str(path), "target column")[target]])
    gap = tabular.missing(column)
    if gap.any():
        raise DataError(
            f"{path}: column {target!r} (the target) has a missing value at row {lines[gap.argmax()]}; "
            "every row needs a target"
        )
    return _parse_target(column)


def csv_header(path, delimiter: str = "auto") -> list[str]:
    """The first non-blank row of a CSV, its fields stripped."""
    import csv

    text = _read_text(path, HEAD_CHARS)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text, path, delimiter))
    return next(([h.strip() for h in row] for row in rows if row), [])


HEAD_CHARS = 1 << 16  # what csv_header reads: the first row, and the lines the delimiter is detected from


def _read_text(path, limit: int = -1) -> str:
    """A CSV's text (at most ``limit`` characters, cut after the last whole line)."""
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: drops the byte-order mark Excel writes
        text = f.read(limit)
        if limit >= 0 and f.read(1):  # more follows: keep whole lines only
            text = text[: text.rfind("\n") + 1] or text
        return text


def _delimiter(text: str, path, delimiter: str) -> str:
    return detect(text, str(path)) if delimiter == "auto" else delimiter


def _csv_records(path, delimiter: str = "auto", text: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The non-blank records of a CSV as a 2-D string array, and the 1-based
    file row (line) each one ends on."""
    import csv

    text = _read_text(path) if text is None else text.removeprefix("\ufeff")
    delimiter = _delimiter(text, path, delimiter)
    table, lines = [], []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)  # quoted fields may hold commas
    for row in reader:
        if row:
            table.append(row)
            lines.append(reader.line_num)
    if not table:
        raise DataError(f"{path}: is empty (no rows)")
    if len(table[0]) == 1:
        hint = single_column_hint(",".join(table[0]), delimiter)
        if hint:
            raise DataError(f"{path}: reads as one column, split on {NAMES[delimiter]}{hint}")
    widths = {len(row) for row in table}
    if len(widths) > 1:
        bad = next(i for i, row in enumerate(table) if len(row) != len(table[0]))
        raise DataError(
            f"{path}: rows have different numbers of columns ({sorted(widths)}): row {lines[bad]} "
            f"has {len(table[bad])}, row {lines[0]} has {len(table[0])}"
        )
    return np.array(table, dtype=str).reshape(len(table), -1), np.array(lines, dtype=np.int64)


def _numbers(values: np.ndarray) -> np.ndarray | None:
    """Strings as float64, or None if any is not a number."""
    try:
        return values.astype(np.float64)
    except ValueError:
        return None


def _numeric(values) -> np.ndarray:
    """Which of these strings parse as numbers."""
    out = np.empty(len(values), bool)
    for i, v in enumerate(values):
        try:
            float(v)
            out[i] = True
        except ValueError:
            out[i] = False
    return out


def _is_header(rows: np.ndarray, with_target: bool) -> bool:
    """Whether the first row names the columns: some column holds numbers below
    it but not in it; or (features only) it is pandas' default header 0, 1, 2 ...;
    or (with a target column) its label appears nowhere below, which no row of
    a trainable file can do (a class of one sample cannot be split)."""
    first = rows[0]
    if not with_target and first.tolist() == [str(i) for i in range(len(first))]:
        return True
    if len(rows) < 2:
        return not _numeric(first).all()
    below = rows[1:]
    if with_target and not _numeric([first[-1]])[0] and first[-1] not in set(below[:, -1].tolist()):
        return True
    from ..tabular import missing

    def numbers_below(j):  # missing values are no evidence either way
        values = below[:100, j]
        values = values[~missing(values)]
        return len(values) > 0 and _numeric(values).all()

    return not _numeric(first).any() or any(
        not _numeric([first[j]])[0] and not missing([first[j]])[0] and numbers_below(j)
        for j in range(rows.shape[1])
    )


def _parse_target(column: np.ndarray) -> np.ndarray:
    """Numbers written with a point or an exponent are floats (regression); whole
    numbers are integer labels; anything else stays a string label."""
    if not _numeric(column).all():
        return column
    if any(any(c in v for c in ".eEnN") for v in column):  # 1.0, 1e3, nan, inf
        return column.astype(np.float64)
    return column.astype(np.int64)


