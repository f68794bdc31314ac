"""What the edge accepts is what the database can store: one JSON reader, one text cleaner.

Every door reads JSON with :func:`read_json` (the web form, each vendor's webhook, the REST
API through :class:`JSONParser`), and the worker reads the stored body with it again, so both
see the same values:

- **Nesting** deeper than :data:`MAX_JSON_DEPTH` is refused (:class:`InputError`, a 400 at
  the door) before it is parsed: Python's parser would raise ``RecursionError`` (a 500), and
  PostgreSQL refuses very deep ``jsonb``.
- **Text PostgreSQL cannot store** (NUL, and lone UTF-16 surrogates that JSON's ``\\u``
  escapes can spell) is replaced, in every string of the document, keys included, by U+FFFD
  (``�``), the character Unicode keeps for "something unreadable was here"
  (:func:`clean_text`). Free text (a name, a message) is kept with the mark where the junk was,
  so no lead is lost over a stray byte.
- **Identifiers** (a vendor's lead id, a token's name) are never cleaned into another id:
  :func:`check_id` refuses one holding U+FFFD or a control character, and the door answers
  400 naming the field.

``leads`` owns this module because both the domain's API and every edge read their input
with it; it imports nothing of the project.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 64
REPLACEMENT = "\ufffd"

# NUL, and any surrogate: in a Python str, a well-formed pair is one character, so a surrogate
# left on its own is one that UTF-8 (and so PostgreSQL) cannot encode.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A JSON escape that can spell one of them (a false alarm costs one walk of the document).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_CONTROL = re.compile("[\x00-\x1f\x7f\ufffd]")


class InputError(ValueError):
    """Input the edge refuses, with a message to answer in a 400 (``field``: the one named)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def clean_text(value: str) -> str:
    """``value`` with NUL and lone surrogates replaced by U+FFFD; unchanged otherwise."""
    if _UNSTORABLE.search(value) is None:
        return value
    return _UNSTORABLE.sub(REPLACEMENT, value)


def clean_value(value: Any) -> Any:
    """A decoded JSON value (or form fields) with :func:`clean_text` applied to every string,
    keys included. The depth is the reader's, already bounded."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(item) for item in value]
    return value


def json_depth_exceeds(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON ``text`` nests arrays and objects deeper than ``max_depth``.

    Linear and without recursion: strings are skipped, brackets counted.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return False
    depth = 0
    for match in re.finditer(r"[\[\]{}]", _JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def read_json(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON document in ``body``, with its text cleaned (:func:`clean_text`).

    Raises :class:`InputError` with a message fit for a 400: not UTF-8, not JSON, or nested
    deeper than ``max_depth``. Never ``RecursionError``.
    """
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"The body is not UTF-8: {exc}.") from exc
    else:
        text = body
    if json_depth_exceeds(text, max_depth):
        raise InputError(f"The JSON is nested more than {max_depth} levels deep.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"The body is not valid JSON: {exc}.") from exc
    except RecursionError as exc:  # not reached past the depth check; a last guard
        raise InputError(f"The JSON is nested more than {max_depth} levels deep.") from exc
    if _UNSTORABLE_ESCAPE.search(text) is None:
        return value
    return clean_value(value)


def check_id(value: str, field: str) -> str:
    """``value`` when it can be an identifier; :class:`InputError` naming ``field`` when it
    holds a control character or U+FFFD (text that was unreadable or unstorable)."""
    if _CONTROL.search(value) is not None or _UNSTORABLE.search(value) is not None:
        raise InputError(
            f"{field}: contains a control character or unreadable text; "
            "an identifier must be plain text.",
            field,
        )
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on :func:`read_json`: a 400 for deep nesting or bad JSON, and text the
    database can store."""

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:
            return None
        try:
            return read_json(stream.read())
        except InputError as exc:
            raise ParseError(f"JSON parse error - {exc.message}") from exc
