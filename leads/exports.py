"""Spreadsheets of leads and people, streamed as they are read.

A file is a generator of bytes: the rows come from the database through a server-side
cursor (``QuerySet.iterator``) a chunk at a time and leave as CSV lines or XLSX cells at
once, so an export of a million leads starts within a second and holds one chunk in memory,
whatever its size. XLSX is written as its parts (SpreadsheetML, ECMA-376) inside a ZIP that
``stream_zip`` builds on the fly; strings are inline cells, so no shared-string table has
to be kept. Who may export what is the list's own rule (:mod:`leads.selectors`), narrowed
by the list's filters.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is given a
leading apostrophe: a spreadsheet would otherwise run it as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.db.models import QuerySet
from django.utils import timezone
from stream_zip import ZIP_32, stream_zip

CHUNK = 2000
# Excel's last row is 1,048,576: one is the header.
XLSX_MAX_ROWS = 1_048_575
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    header: str
    field: str  # a lookup for ``values_list``
    format: Callable[[Any], Any] | None = None


def _agent_name(value: Any) -> str:
    return value or ""


LEAD_COLUMNS = (
    Column("Lead id", "public_id", str),
    Column("Received", "received_at"),
    Column("Status", "status"),
    Column("Type", "lead_type"),
    Column("Source", "source"),
    Column("First name", "contact__first_name"),
    Column("Last name", "contact__last_name"),
    Column("Email", "contact__email"),
    Column("Phone", "contact__phone"),
    Column("Agent", "assigned_agent__display_name", _agent_name),
    Column("Address", "property_address"),
    Column("City", "property_city"),
    Column("State", "property_state"),
    Column("ZIP", "property_zip"),
    Column("MLS number", "mls_number"),
    Column("Price", "price"),
    Column("Message", "message"),
    Column("UTM source", "utm_source"),
    Column("UTM medium", "utm_medium"),
    Column("UTM campaign", "utm_campaign"),
    Column("Accepted", "accepted_at"),
    Column("First contact", "first_contact_at"),
)

PERSON_COLUMNS = (
    Column("Person id", "pk"),
    Column("First name", "first_name"),
    Column("Last name", "last_name"),
    Column("Email", "email"),
    Column("Phone", "phone"),
    Column("Marketing status", "marketing_status"),
    Column("Created", "created_at"),
)


def rows(queryset: QuerySet[Any], columns: Iterable[Column]) -> Iterator[list[Any]]:
    """The queryset's values for ``columns``, a chunk at a time (a server-side cursor on
    PostgreSQL), each formatted."""
    columns = tuple(columns)
    fields = [c.field for c in columns]
    formats = [c.format for c in columns]
    for values in queryset.values_list(*fields).iterator(chunk_size=CHUNK):
        yield [f(v) if f is not None else v for f, v in zip(formats, values, strict=True)]


def _text(value: Any) -> str:
    """A cell as text: times in the current time zone (ISO 8601), nothing for None."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Line:
    """The file ``csv.writer`` writes to: it hands back what it was given."""

    def write(self, value: str) -> str:
        return value


def csv_stream(headers: list[str], data: Iterable[list[Any]]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark (so Excel reads the accents), CRLF line ends, one
    write per chunk of lines."""
    writer = csv.writer(_Line())
    yield "\ufeff".encode() + writer.writerow(headers).encode()
    buffer: list[str] = []
    for row in data:
        buffer.append(writer.writerow([_text(v) for v in row]))
        if len(buffer) >= 500:
            yield "".join(buffer).encode()
            buffer.clear()
    if buffer:
        yield "".join(buffer).encode()


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "<c/>"
    if isinstance(value, bool):
        return f'<c t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float | Decimal):
        return f"<c><v>{value}</v></c>"
    text = escape(_xml_safe(_text(value)))
    return f'<c t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _xml_safe(text: str) -> str:
    """XML 1.0 allows no control characters but tab and line ends."""
    if text.isprintable():
        return text
    return "".join(ch for ch in text if ch.isprintable() or ch in "\t\n\r")


def _sheet(headers: list[str], data: Iterable[list[Any]]) -> Iterator[bytes]:
    yield (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<sheetData>"
        "<row>" + "".join(_cell(h) for h in headers) + "</row>"
    ).encode()
    buffer: list[str] = []
    for n, row in enumerate(data):
        if n >= XLSX_MAX_ROWS:
            break
        buffer.append("<row>" + "".join(_cell(v) for v in row) + "</row>")
        if len(buffer) >= 500:
            yield "".join(buffer).encode()
            buffer.clear()
    buffer.append("</sheetData></worksheet>")
    yield "".join(buffer).encode()


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'  # noqa: E501
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'  # noqa: E501
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'  # noqa: E501
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'  # noqa: E501
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'  # noqa: E501
    "</Relationships>"
)


def xlsx_stream(headers: list[str], data: Iterable[list[Any]], *, sheet: str) -> Iterator[bytes]:
    """An XLSX workbook of one sheet, its bytes produced as the rows are read."""
    now = dt.datetime.now()
    mode = stat.S_IFREG | 0o600

    def part(text: str) -> Iterator[bytes]:
        yield text.encode()

    files = (
        ("[Content_Types].xml", now, mode, ZIP_32, part(_CONTENT_TYPES)),
        ("_rels/.rels", now, mode, ZIP_32, part(_ROOT_RELS)),
        ("xl/workbook.xml", now, mode, ZIP_32, part(_WORKBOOK.format(name=escape(sheet)))),
        ("xl/_rels/workbook.xml.rels", now, mode, ZIP_32, part(_WORKBOOK_RELS)),
        ("xl/worksheets/sheet1.xml", now, mode, ZIP_32, _sheet(headers, data)),
    )
    yield from stream_zip(files, chunk_size=65536)


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export_stream(
    queryset: QuerySet[Any], columns: Iterable[Column], *, format: str, sheet: str
) -> Iterator[bytes]:
    """The file of ``queryset``'s ``columns`` in ``format`` ("csv" or "xlsx")."""
    columns = tuple(columns)
    headers = [c.header for c in columns]
    data = rows(queryset, columns)
    if format == "xlsx":
        return xlsx_stream(headers, data, sheet=sheet)
    return csv_stream(headers, data)
