"""System checks of the marketing settings: a half-made configuration says so at start-up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from .base import MarketingBackend, Status


@register()
def check_marketing_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    path = settings.MARKETING_BACKEND
    if path:
        try:
            backend_class = import_string(path)
        except ImportError:
            backend_class = None
        if not (isinstance(backend_class, type) and issubclass(backend_class, MarketingBackend)):
            problems.append(
                Error(
                    f"MARKETING_BACKEND {path!r} is not a MarketingBackend class.",
                    id="marketing.E101",
                )
            )
    keys = (settings.MAILCHIMP_API_KEY, settings.MAILCHIMP_AUDIENCE_ID)
    if any(keys) and not all(keys):
        problems.append(
            Warning(
                "Only one of MAILCHIMP_API_KEY and MAILCHIMP_AUDIENCE_ID is set: the marketing "
                "sync stays off until both are.",
                id="marketing.W101",
            )
        )
    if settings.MARKETING_WITHOUT_CONSENT not in ("transactional", "skip"):
        problems.append(
            Error("MARKETING_WITHOUT_CONSENT must be transactional or skip.", id="marketing.E102")
        )
    if settings.MARKETING_NEW_STATUS not in (Status.SUBSCRIBED, Status.PENDING):
        problems.append(
            Error("MARKETING_NEW_STATUS must be subscribed or pending.", id="marketing.E103")
        )
    return problems
