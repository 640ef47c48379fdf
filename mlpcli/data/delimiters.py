"""Which character separates a CSV's columns (data.delimiter: auto): a comma,
a semicolon (Excel in locales with decimal commas), a tab or a bar."""
from __future__ import annotations

import csv

from ..errors import DataError

DELIMITERS = (",", ";", "\t", "|")
NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
SAMPLE_LINES = 20  # the lines csv.Sniffer looks at


def yaml_value(delimiter: str) -> str:
    """How a delimiter is written in a config: data.delimiter: ';' (a tab: "\\t")."""
    return '"\\t"' if delimiter == "\t" else f"'{delimiter}'"


def _fields(lines: list[str], delimiter: str) -> set[int]:
    return {len(row) for row in csv.reader(lines, delimiter=delimiter) if row}


def detect(text: str, source: str) -> str:
    """The delimiter of a CSV's text: csv.Sniffer restricted to DELIMITERS, over
    its first lines. A file that splits evenly (the same number of columns in
    every line) on two of them, as `1,5;2,0` with decimal commas does, is
    ambiguous: a DataError naming data.delimiter. A file the sniffer cannot
    read (one column, ragged rows) is taken as comma-separated."""
    lines = [line for line in text.splitlines(keepends=True)[:SAMPLE_LINES] if line.strip()]
    if not lines:
        return ","
    try:
        found = csv.Sniffer().sniff("".join(lines), delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        found = None
    even = [d for d in DELIMITERS if d in lines[0] and len(_fields(lines, d)) == 1 and _fields(lines, d) != {1}]
    if len(even) > 1:
        looks = ";" if ";" in even else found if found in even else even[0]
        raise DataError(
            f"{source}: cannot tell its column separator: every row splits evenly on "
            f"{' and '.join(NAMES[d] for d in even)}; it looks {NAMES[looks]}-separated "
            f"(with decimal commas?): set data.delimiter: {yaml_value(looks)} (or "
            f"{' or '.join(yaml_value(d) for d in even if d != looks)})"
        )
    return found or (even[0] if even else ",")


def single_column_hint(first_line: str, delimiter: str) -> str:
    """For a table read as one column: which other delimiter its first line
    holds, as a hint naming data.delimiter ("" if none)."""
    other = next((d for d in DELIMITERS if d != delimiter and d in first_line), None)
    if other is None:
        return ""
    return f"; it looks {NAMES[other]}-separated: set data.delimiter: {yaml_value(other)}"
