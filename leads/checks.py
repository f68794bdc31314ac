"""System checks of the domain's settings: a wrong value says so at start-up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from .ratelimit import parse_rate


@register()
def check_api_rate_limit(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        parse_rate(settings.API_RATE_LIMIT)
    except ValueError as exc:
        return [Error(f"API_RATE_LIMIT: {exc}", hint="For example 600/min.", id="leads.E001")]
    return []
