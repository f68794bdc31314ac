"""Reading an uploaded file a row at a time: CSV (any of the usual encodings and
delimiters, a byte-order mark or none) and XLSX (openpyxl's read-only mode, which streams
the sheet instead of building it).

A row is a list of cells: text, or for XLSX what the cell holds (a number, a ``datetime``
for a date-formatted cell). :func:`cell_text` makes any of them the text kept on the row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

DELIMITERS = ",;\t|"
ENCODINGS = ("utf-8-sig", "utf-16", "cp1252")


class UnreadableFile(ValueError):
    """The file is not a CSV or XLSX we can read; the message says why, for the person."""


def detect_format(name: str, content: bytes) -> str:
    """ "xlsx" for an Office Open XML workbook (a ZIP), "csv" for text; else UnreadableFile."""
    if content[:4] == b"PK\x03\x04":
        if not zipfile.is_zipfile(io.BytesIO(content)):
            raise UnreadableFile("The file looks like a spreadsheet but is damaged.")
        return "xlsx"
    if name.lower().endswith((".xls", ".xlsb", ".numbers", ".ods")):
        raise UnreadableFile("Save the spreadsheet as CSV or as an Excel workbook (.xlsx).")
    if b"\x00" in content[:4096] and not content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile("This is not a CSV or an Excel workbook (.xlsx).")
    return "csv"


def _text(content: bytes) -> str:
    for encoding in ENCODINGS:
        if encoding == "utf-16" and not content.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("The file's text is in an encoding we cannot read: save it as UTF-8.")


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        first = sample.split("\n", 1)[0]
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])

        class Dialect(csv.excel):
            delimiter = best if counts[best] else ","

        return Dialect


def rows(content: bytes, format: str) -> Iterator[list[Any]]:
    """Every row of the file, the header row first; empty rows skipped."""
    if format == "xlsx":
        yield from _xlsx_rows(content)
        return
    text = _text(content)
    dialect = _dialect(text[:65536])
    try:
        for row in csv.reader(io.StringIO(text, newline=""), dialect):
            if any(cell.strip() for cell in row):
                yield row
    except csv.Error as error:
        raise UnreadableFile(f"The CSV cannot be read: {error}.") from error


def _xlsx_rows(content: bytes) -> Iterator[list[Any]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file it cannot read
        raise UnreadableFile(f"The workbook cannot be read ({error}).") from error
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            row = ["" if v is None else v for v in values]
            if any(cell_text(v).strip() for v in row):
                yield row
    finally:
        book.close()


def headers(content: bytes, format: str) -> list[str]:
    """The header row, as text; UnreadableFile if the file has none."""
    first = next(rows(content, format), None)
    if not first:
        raise UnreadableFile("The file is empty: it needs a header row and rows under it.")
    names = [cell_text(cell).strip() for cell in first]
    while names and not names[-1]:
        names.pop()
    return [name or f"Column {i + 1}" for i, name in enumerate(names)]


def cell_text(value: Any) -> str:
    """A cell as the text kept for it: dates in ISO 8601, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)
