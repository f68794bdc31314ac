"""System checks of the Facebook settings: a half-made configuration says so at start-up."""

from __future__ import annotations

import re
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register()
def check_facebook_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A half-made Facebook configuration, or an unusable encryption key, says so at start."""
    problems: list[CheckMessage] = []
    if settings.FACEBOOK_APP_SECRET and not settings.FACEBOOK_VERIFY_TOKEN:
        problems.append(
            Warning(
                "FACEBOOK_APP_SECRET is set but FACEBOOK_VERIFY_TOKEN is not: Facebook's "
                "webhook subscription check will be refused.",
                id="intake.W201",
            )
        )
    if not re.fullmatch(r"v\d+\.\d+", settings.FACEBOOK_GRAPH_API_VERSION):
        problems.append(
            Error(
                f"FACEBOOK_GRAPH_API_VERSION {settings.FACEBOOK_GRAPH_API_VERSION!r} is not a "
                "Graph API version such as v25.0.",
                id="intake.E201",
            )
        )
    for key in settings.FIELD_ENCRYPTION_KEY:
        try:
            Fernet(key.encode())
        except ValueError:
            problems.append(
                Error(
                    "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key (32 url-safe "
                    "base64-encoded bytes).",
                    id="intake.E202",
                )
            )
    return problems
