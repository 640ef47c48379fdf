"""CSV tables with named columns: numeric and categorical features, missing
values, and the encoder that turns rows into the network's input.

A table is a NumPy structured array with one field per used CSV column (the
shape ``np.genfromtxt(names=True)`` gives a file with a header): a numeric
column is float64 with NaN where a value is missing, a categorical column
holds strings with "" where one is missing.

The Encoder does what scikit-learn's ColumnTransformer of SimpleImputer
(mean / median / constant 0 for numbers, most_frequent for categories) and
OneHotEncoder(handle_unknown="ignore") does: fitted on the training split, it
fills missing values, keeps numbers as they are and gives each category seen
in training one 0/1 column (sorted, as scikit-learn orders them); a category
it never saw becomes all zeros. It is stored in the weights file as plain JSON
(``meta.encoder``), so loading it never runs code.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from .errors import DataError

# Fields that mark a missing value, compared after stripping spaces and lower-casing
# (pandas' defaults, and '?' as the UCI repository writes it).
MISSING = ("", "?", "na", "n/a", "nan", "null", "none")
KINDS = ("numeric", "categorical")
# data.impute.numeric -> the fill value from a column's present training values (None: refuse gaps).
NUMERIC_FILLS = {
    "mean": lambda values: float(np.mean(values)),
    "median": lambda values: float(np.median(values)),
    "zero": lambda values: 0.0,
    "refuse": lambda values: None,
}


def missing(values: np.ndarray) -> np.ndarray:
    """Which of these strings mark a missing value."""
    values = np.asarray(values).astype(str)
    return np.isin(np.char.lower(np.char.strip(values)), MISSING)


def _row(rows, i: int) -> int:
    """The 1-based row of entry i: its file row when known, else its position."""
    return int(rows[i]) if rows is not None else i + 1


def parse_numbers(values: np.ndarray, name: str, source: str, rows=None) -> np.ndarray:
    """Strings -> float64, NaN where a value is missing; a value that is no
    number is refused with its column and row."""
    values = np.asarray(values).astype(str)
    out = np.full(len(values), np.nan)
    present = ~missing(values)
    try:
        out[present] = values[present].astype(np.float64)
    except ValueError:
        for i in np.flatnonzero(present):
            try:
                float(values[i])
            except ValueError:
                raise DataError(
                    f"{source}: column {name!r}, row {_row(rows, i)}: {str(values[i])!r} is not a number"
                ) from None
    return out


def _is_numeric(values: np.ndarray) -> bool:
    """A column is numeric when every value that is not missing is a number."""
    present = values[~missing(values)]
    try:
        present.astype(np.float64)
    except ValueError:
        return False
    return True


def column_index(header: list[str], names: list[str], source: str, role: str = "column") -> dict[str, int]:
    """Where each named column sits in the header; a name it lacks is refused."""
    where: dict[str, int] = {}
    for j, h in enumerate(header):
        where.setdefault(h, j)
    for name in names:
        if name == "":
            empty = header.index("") + 1
            raise DataError(
                f"{source}: column {empty} has no name in the header row; name it, or list data.features"
            )
        if name not in where:
            hint = difflib.get_close_matches(name, header, n=1)
            raise DataError(
                f"{source}: no {role} {name!r} in the header row"
                + (f"; did you mean {hint[0]!r}?" if hint else f" (columns: {', '.join(header)})")
            )
        if header.count(name) > 1:
            raise DataError(f"{source}: column {name!r} appears {header.count(name)} times in the header row")
    return {name: where[name] for name in names}


def table_from_rows(
    header: list[str], body: np.ndarray, rows, names: list[str], source: str, kinds: dict | None = None
) -> np.ndarray:
    """The named columns of a CSV body (2-D strings) as a table.

    ``kinds`` (a trained model's) fixes each column's kind; without it a
    column whose present values all parse as numbers is numeric, any other is
    categorical. ``rows`` are the body's 1-based file rows, for messages."""
    index = column_index(header, names, source)
    columns = []
    for name in names:
        values = body[:, index[name]]
        kind = kinds[name] if kinds else ("numeric" if _is_numeric(values) else "categorical")
        if kind == "numeric":
            columns.append(parse_numbers(values, name, source, rows))
        else:
            columns.append(np.where(missing(values), "", np.char.strip(values.astype(str))))
    return make_table(names, columns)


def make_table(names: list[str], columns: list[np.ndarray]) -> np.ndarray:
    dtype = np.dtype([(name, column.dtype) for name, column in zip(names, columns)])
    table = np.empty(len(columns[0]) if columns else 0, dtype)
    for name, column in zip(names, columns):
        table[name] = column
    return table


def kind_of(column: np.ndarray) -> str:
    return "numeric" if column.dtype.kind == "f" else "categorical"


def gaps(column: np.ndarray) -> np.ndarray:
    """Which entries of a table column are missing."""
    return np.isnan(column) if column.dtype.kind == "f" else missing(column)


def refuse_missing(table: np.ndarray, names, source: str, why: str, rows=None) -> None:
    """Refuse the first missing value (by row) in any of the named columns;
    ``why`` is formatted with the column's ``kind``."""
    first = None
    for name in names:
        hit = np.flatnonzero(gaps(table[name]))
        if len(hit) and (first is None or hit[0] < first[1]):
            first = (name, hit[0])
    if first is not None:
        name, i = first
        why = why.format(kind=kind_of(table[name]))
        raise DataError(f"{source}: column {name!r} has a missing value at row {_row(rows, i)} ({why})")


@dataclass
class Column:
    name: str
    kind: str  # "numeric" | "categorical"
    fill: float | str | None  # what a missing value becomes; None: refuse it
    categories: list[str] | None = None  # categorical: one 0/1 input per category, sorted

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.categories)


@dataclass
class Encoder:
    """Table rows -> the network's input (n, width), as fitted on the training split."""

    target: str | None
    columns: list[Column]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def kinds(self) -> dict[str, str]:
        return {c.name: c.kind for c in self.columns}

    @property
    def refused(self) -> list[str]:
        """Columns where a missing value is refused (data.impute: refuse)."""
        return [c.name for c in self.columns if c.fill is None]

    def input_names(self) -> list[str]:
        """One name per network input: the column, or ``column=category``."""
        return [
            n for c in self.columns for n in ([c.name] if c.kind == "numeric" else [f"{c.name}={v}" for v in c.categories])
        ]

    def one_hot(self) -> np.ndarray:
        """Which network inputs are one-hot (bool, (width,))."""
        return np.array([c.kind == "categorical" for c in self.columns for _ in range(c.width)], dtype=bool)

    @classmethod
    def fit(cls, table: np.ndarray, impute: dict, target: str | None, source: str = "the training split") -> "Encoder":
        """Fill values and categories from a table (the training split)."""
        columns = []
        for name in table.dtype.names:
            values = table[name]
            kind = kind_of(values)
            present = values[~gaps(values)]
            strategy = impute[kind]
            if len(present) == 0 and strategy not in ("zero", "refuse"):
                raise DataError(f"{source}: column {name!r} has no values to fit data.impute.{kind}: {strategy} on")
            if kind == "numeric":
                columns.append(Column(name, kind, NUMERIC_FILLS[strategy](present)))
            else:
                categories, counts = np.unique(present, return_counts=True)
                # Ties go to the first in sorted order, as SimpleImputer(strategy="most_frequent").
                fill = str(categories[np.argmax(counts)]) if strategy == "most_frequent" else None
                columns.append(Column(name, kind, fill, categories.tolist()))
        return cls(target, columns)

    def encode(self, X, source: str = "input") -> np.ndarray:
        """Rows -> float64 (n, width). X is a table (fields matched by name,
        others ignored), or a 2-D array with the model's columns in order."""
        X = np.asarray(X)
        if X.dtype.names is None:
            X = self._from_array(X, source)
        out = np.zeros((len(X), self.width))
        j = 0
        for col in self.columns:
            if col.name not in X.dtype.names:
                raise DataError(f"{source}: no column {col.name!r}; the model takes {', '.join(map(repr, self.names))}")
            values = X[col.name]
            if col.kind == "numeric":
                if values.dtype.kind in "USO":
                    values = parse_numbers(values, col.name, source)
                values = np.array(values, dtype=np.float64)
            else:
                values = np.char.strip(np.asarray(values).astype(str))
            gap = gaps(values)
            if gap.any():
                if col.fill is None:
                    raise DataError(
                        f"{source}: column {col.name!r} has a missing value at row {np.flatnonzero(gap)[0] + 1} "
                        f"(the model was trained with data.impute.{col.kind}: refuse)"
                    )
                values = np.where(gap, col.fill, values)  # np.where widens strings to fit the fill
            if col.kind == "numeric":
                out[:, j] = values
            else:
                categories = np.asarray(col.categories)
                index = np.minimum(np.searchsorted(categories, values), len(categories) - 1)
                known = categories[index] == values  # an unseen category: all zeros
                out[np.flatnonzero(known), j + index[known]] = 1.0
            j += col.width
        return out

    def _from_array(self, X: np.ndarray, source: str) -> np.ndarray:
        """A plain 2-D array, its columns in the model's order, as a table."""
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2:
            raise DataError(f"{source}: expected a 2-D array of rows x columns, got shape {X.shape}")
        if X.shape[1] != len(self.columns):
            raise DataError(
                f"{source}: has {X.shape[1]} columns; the model takes {len(self.columns)} "
                f"({', '.join(self.names)}), matched by name in a CSV with a header row"
            )
        if X.dtype.kind in "USO":
            return make_table(self.names, [X[:, j] for j in range(X.shape[1])])
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise DataError(f"{source}: features must be real numbers, got dtype {X.dtype}")
        categorical = [c.name for c in self.columns if c.kind == "categorical"]
        if categorical:
            raise DataError(
                f"{source}: the model one-hot encodes column {categorical[0]!r}; "
                "give the rows as a CSV with a header row naming the columns"
            )
        return make_table(self.names, [X[:, j].astype(np.float64) for j in range(X.shape[1])])

    # ---------------------------------------------------------------- the weights file

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "columns": [
                {"name": c.name, "kind": c.kind, "fill": c.fill, **({"categories": c.categories} if c.categories is not None else {})}
                for c in self.columns
            ],
        }

    @classmethod
    def from_dict(cls, obj) -> "Encoder":
        """An Encoder from meta.encoder; raises ValueError naming what is malformed."""
        if not isinstance(obj, dict) or set(obj) != {"target", "columns"}:
            raise ValueError("must be a mapping with keys 'target' and 'columns'")
        target, entries = obj["target"], obj["columns"]
        if target is not None and not isinstance(target, str):
            raise ValueError("target must be a string or null")
        if not isinstance(entries, list) or not entries:
            raise ValueError("columns must be a non-empty list")
        columns, seen = [], set()
        for i, c in enumerate(entries):
            where = f"columns[{i}]"
            if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"]:
                raise ValueError(f"{where} must be a mapping with a non-empty string 'name'")
            if c["name"] in seen:
                raise ValueError(f"{where}: column {c['name']!r} appears twice")
            seen.add(c["name"])
            kind, fill = c.get("kind"), c.get("fill")
            if kind == "numeric":
                if set(c) != {"name", "kind", "fill"}:
                    raise ValueError(f"{where}: a numeric column has keys name, kind, fill")
                if fill is not None and (isinstance(fill, bool) or not isinstance(fill, (int, float)) or not np.isfinite(fill)):
                    raise ValueError(f"{where}: fill must be a finite number or null")
                columns.append(Column(c["name"], kind, None if fill is None else float(fill)))
            elif kind == "categorical":
                cats = c.get("categories")
                if set(c) != {"name", "kind", "fill", "categories"}:
                    raise ValueError(f"{where}: a categorical column has keys name, kind, fill, categories")
                if not isinstance(cats, list) or not cats or not all(isinstance(v, str) and v for v in cats):
                    raise ValueError(f"{where}: categories must be a non-empty list of non-empty strings")
                if cats != sorted(set(cats)):
                    raise ValueError(f"{where}: categories must be sorted and distinct")
                if fill is not None and fill not in cats:
                    raise ValueError(f"{where}: fill must be one of its categories or null")
                columns.append(Column(c["name"], kind, fill, cats))
            else:
                raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return cls(target, columns)
