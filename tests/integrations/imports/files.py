"""Real files as another CRM writes them: CSV (with or without a byte-order mark, commas or
semicolons, CRLF) and XLSX (written by openpyxl, dates as Excel date cells)."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl

HEADERS = ["First Name", "Last Name", "E-mail", "Mobile", "Tags", "Status", "Created", "Notes"]


def csv_bytes(rows: list[list[str]], *, headers=HEADERS, delimiter=",", bom=True,
              encoding="utf-8") -> bytes:  # fmt: skip
    import csv

    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" if bom else b"") + data


def xlsx_bytes(rows: list[list[object]], *, headers=HEADERS) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, dt.datetime | dt.date):
                cell.number_format = "mm/dd/yyyy"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def phone(i: int) -> str:
    """A valid US number of its own for each ``i`` (up to 8 million)."""
    return f"+1305{200 + (i // 10_000) % 800}{i % 10_000:04d}"


def people(n: int, *, bad_every: int = 0, start: int = 0) -> list[list[str]]:
    """``n`` people; every ``bad_every``-th row is bad in one of four ways."""
    rows = []
    for i in range(start, start + n):
        row = [f"First{i}", f"Last{i}", f"person{i}@example.com", phone(i),
               "past client; investor", "contacted", "2024-03-14", f"note {i}"]  # fmt: skip
        if bad_every and i % bad_every == bad_every - 1:
            kind = (i // bad_every) % 4
            if kind == 0:
                row[2] = "not-an-email"
            elif kind == 1:
                row[2], row[3] = "", ""
            elif kind == 2:
                row[5] = "hot"
            else:
                row[6] = "yesterday-ish"
        rows.append(row)
    return rows
