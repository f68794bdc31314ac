"""The email parsers, in the order they are tried: ``PARSERS``, key to the dotted path.

The vendors' own come first (each recognises its sender and template), then the Real Estate
Lead Metadata standard (any sender), a forward from an agent, and the fallback. A new vendor
is one module with one :class:`~.base.EmailParser` subclass and one line here.
"""

from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

from .base import EmailParser

PARSERS: dict[str, str] = {
    "leadmetadata": "integrations.intake.sources.email.parsers.leadmetadata.LeadMetadataParser",
    "fallback": "integrations.intake.sources.email.parsers.fallback.FallbackParser",
}


@cache
def get_parser(key: str) -> EmailParser:
    parser_class: type[EmailParser] = import_string(PARSERS[key])
    return parser_class()


def parsers() -> list[EmailParser]:
    return [get_parser(key) for key in PARSERS]
