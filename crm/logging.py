"""Secrets out of the logs: one filter, on every handler in ``settings.LOGGING``.

Some secrets travel in URLs, and URLs are logged: ``django.request`` writes the path of every
4xx and 5xx, ``runserver`` every request line, urllib3 every URL it calls at DEBUG. The filter
rewrites each record that reaches a handler (its message, exception text and stack) with
those secrets replaced by ``[redacted]``:

- the last part of the hooks whose URL is their secret (``/hooks/zillow-rentals/<token>/``,
  ``/hooks/mailchimp/<token>/``);
- the value of every query-string or ``name: value`` pair whose name speaks of a secret
  (``access_token``, ``hub.verify_token``, ``api_key``, ``password``, OAuth's ``code``...);
- the password in a URL's ``user:password@``, and an ``Authorization`` header's credentials;
- the value of every secret setting (``*_TOKEN``, ``*_SECRET``, ``*_KEY``, ``*PASSWORD``,
  ``*_AUTH``) wherever it stands.

The email to ``ADMINS`` about a 500 also carries the request (its path, query string and
headers): ``RedactingExceptionReporter`` passes that report through the same function.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter

REDACTED = "[redacted]"

# The hooks whose URL is their only secret (docs/sources.md, docs/marketing.md).
SECRET_PATH = re.compile(r"(/hooks/(?:zillow-rentals|mailchimp)/)[^/\s?#'\"]+")
_SENSITIVE_NAME = (
    r"[\w.\-]*(?:token|secret|passw(?:or)?d|signature|key|auth|proof)[\w.\-]*|code|state|sig"
)
# name=value (a query string, a form body, ``name = 'value'`` in Django's error report) and
# 'name': 'value' or "name": "value" (a dict, JSON); the value quoted or up to the pair's end.
SECRET_PAIR = re.compile(
    rf"""((?<![\w.\-])(?:(['"])(?:{_SENSITIVE_NAME})\2\s*[:=]|(?:{_SENSITIVE_NAME})\s*=)\s*)"""
    r"""('[^']*'|"[^"]*"|[^&;\s'"#,)}\]]+)""",
    re.IGNORECASE,
)
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s/:@]*:)[^\s/@]+(@)", re.IGNORECASE)
AUTHORIZATION = re.compile(
    r"""(authorization['"]?\s*[:=]\s*['"]?(?:(?:bearer|basic|token|oauth|digest)\s+)?)[^\s'",}]+""",
    re.IGNORECASE,
)
# Settings whose value is a secret; a value shorter than this is no secret worth the name.
SECRET_SETTING = re.compile(r"SECRET|TOKEN|_KEYS?$|PASSWORD$|_AUTH$")
MIN_SECRET_LENGTH = 8


def redact(text: str) -> str:
    """``text`` with every secret it holds replaced by ``[redacted]``."""
    text = SECRET_PATH.sub(rf"\1{REDACTED}", text)
    text = SECRET_PAIR.sub(_redact_pair, text)
    text = URL_PASSWORD.sub(rf"\1{REDACTED}\2", text)
    text = AUTHORIZATION.sub(rf"\1{REDACTED}", text)
    for secret in secret_values():
        text = text.replace(secret, REDACTED)
    return text


def _redact_pair(match: re.Match[str]) -> str:
    value = match.group(3)
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


@cache
def secret_values() -> tuple[str, ...]:
    """The values of the secret settings, longest first (so no part of one is left)."""
    values: set[str] = set()
    for name in dir(settings):
        if not name.isupper() or not SECRET_SETTING.search(name):
            continue
        value = getattr(settings, name)
        items = value if isinstance(value, list | tuple) else [value]
        values.update(v for v in items if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)
    for database in settings.DATABASES.values():
        password = database.get("PASSWORD") or ""
        if len(password) >= MIN_SECRET_LENGTH:
            values.add(password)
    return tuple(sorted(values, key=len, reverse=True))


@receiver(setting_changed)
def _forget_secret_values(**kwargs: Any) -> None:
    secret_values.cache_clear()


class RedactSecrets(logging.Filter):
    """Rewrites a record's message, exception and stack without secrets; never drops one."""

    formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingExceptionReporter(ExceptionReporter):
    """Django's error report (the email to ``ADMINS``), secrets redacted.

    The HTML report (sent when a handler asks for it) is the text one in ``<pre>``: in
    Django's HTML the request's values stand escaped in table cells, where no pattern finds
    them for sure.
    """

    def get_traceback_text(self) -> SafeString:
        return mark_safe(redact(super().get_traceback_text()))  # noqa: S308 - plain text

    def get_traceback_html(self) -> SafeString:
        text = escape(self.get_traceback_text())  # escape() escapes even "safe" text
        return mark_safe(f"<!doctype html><pre>{text}</pre>")  # noqa: S308 - escaped
