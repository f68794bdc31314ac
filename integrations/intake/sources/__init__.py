"""The sources of inbound events, listed once: ``SOURCES``, key to the dotted path of its class.

A new lead source is one module with one :class:`~integrations.intake.sources.base.Source`
subclass and one line here; its webhook's URL (``/hooks/<Source.hook>``) comes from this list
too (:mod:`integrations.intake.urls`). Another edge whose vendor sends webhooks stored through
intake (the marketing platform's) adds its own from its ``AppConfig.ready()`` with
:func:`source_register`. Classes are imported when first asked for.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from .base import Source

SOURCES: dict[str, str] = {
    "webform": "integrations.intake.sources.webform.WebFormSource",
    "api": "integrations.intake.sources.api.ApiSource",
    "events": "integrations.intake.sources.events.EventsSource",
    "facebook": "integrations.intake.sources.facebook.source.FacebookSource",
    "realtor": "integrations.intake.sources.realtor.RealtorSource",
    "zillow": "integrations.intake.sources.zillow.ZillowSource",
    "zillow_rentals": "integrations.intake.sources.zillow_rentals.ZillowRentalsSource",
    "email": "integrations.intake.sources.email.source.EmailSource",
}


def source_register(key: str, path: str) -> None:
    """Add the source ``key`` (its class's dotted ``path``) from another app's ``ready()``."""
    SOURCES[key] = path
    get_source.cache_clear()


@cache
def get_source(key: str) -> Source:
    """The registered source called ``key``; ``KeyError`` if there is none."""
    source_class: type[Source] = import_string(SOURCES[key])
    return source_class()


def source_choices() -> list[tuple[str, str]]:
    return [(key, get_source(key).label) for key in SOURCES]
