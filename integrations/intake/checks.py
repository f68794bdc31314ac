"""System checks of the sources' settings: a half-made configuration says so at start-up.

Each source is off while its secret is unset, which is a choice; a secret set in a shape that
can never work, or one of two settings that only work together, is a mistake, reported here.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.db import DatabaseError

SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
# A path token shorter than this can be guessed by trying.
MIN_TOKEN_LENGTH = 16


@register()
def check_portal_source_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problems: list[CheckMessage] = []
    credentials, topics = settings.ZILLOW_BASIC_AUTH, settings.ZILLOW_TOPIC_ARNS
    if bool(credentials) != bool(topics):
        problems.append(
            Warning(
                "Only one of ZILLOW_BASIC_AUTH and ZILLOW_TOPIC_ARNS is set: Zillow Premier "
                "Agent delivery stays off until both are.",
                id="intake.W301",
            )
        )
    user, colon, password = credentials.partition(":")
    if credentials and not (user and colon and password):
        problems.append(
            Error(
                "ZILLOW_BASIC_AUTH must be user:password (both parts non-empty).",
                id="intake.E301",
            )
        )
    for arn in topics:
        if not SNS_TOPIC_ARN.match(arn):
            problems.append(
                Error(
                    f"ZILLOW_TOPIC_ARNS: {arn!r} is not an Amazon SNS topic ARN "
                    "(arn:aws:sns:<region>:<account>:<topic>).",
                    id="intake.E302",
                )
            )
    token = settings.ZILLOW_RENTALS_TOKEN
    if token and len(token) < MIN_TOKEN_LENGTH:
        problems.append(
            Warning(
                f"ZILLOW_RENTALS_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters: anyone "
                "could guess the callback URL. Use a long random string.",
                id="intake.W302",
            )
        )
    return problems


@register()
def check_every_lead_has_a_team(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """With several teams, each source whose leads may come without one (Realtor.com,
    Zillow...) needs a default team, or a lead no territory covers would be in nobody's pool.

    It reads the teams from the database; before ``migrate`` made the table, it says nothing.
    """
    from leads.models import Team

    from .sources import SOURCES, get_source

    try:
        teams = list(Team.objects.values_list("default_for_sources", flat=True))
    except DatabaseError:
        return []
    if len(teams) <= 1:
        return []  # the only team takes every lead
    named = {key for sources in teams if isinstance(sources, list) for key in sources}
    if "*" in named:
        return []
    return [
        Error(
            f"With {len(teams)} teams, a {get_source(key).label} lead that no territory covers "
            "would belong to no team, and nobody could see it.",
            hint=(
                f'In the admin, add "{key}" to one team\'s "Default for sources" '
                '(or "*" for every source).'
            ),
            id="intake.E310",
        )
        for key in SOURCES
        if not get_source(key).leads_carry_team and key not in named
    ]
