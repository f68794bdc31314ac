"""The portal sources' settings are checked at start-up: half-made or unusable ones say so."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from integrations.intake.checks import check_portal_source_settings

TOPIC = "arn:aws:sns:us-east-1:324733501228:zillow-tech-connect-leadline"


def ids(**overrides) -> list[str | None]:
    with override_settings(**overrides):
        return [message.id for message in check_portal_source_settings()]


def test_sources_left_off_or_fully_set_are_fine():
    assert ids(ZILLOW_BASIC_AUTH="", ZILLOW_TOPIC_ARNS=[], ZILLOW_RENTALS_TOKEN="") == []
    assert ids(
        ZILLOW_BASIC_AUTH="zillow:pass", ZILLOW_TOPIC_ARNS=[TOPIC],
        ZILLOW_RENTALS_TOKEN="zr-7Qm2xV9kP4sL8nB3",
    ) == []  # fmt: skip


def test_only_one_of_the_two_zillow_settings_warns_that_zillow_stays_off():
    assert ids(ZILLOW_BASIC_AUTH="zillow:pass", ZILLOW_TOPIC_ARNS=[]) == ["intake.W301"]
    assert ids(ZILLOW_BASIC_AUTH="", ZILLOW_TOPIC_ARNS=[TOPIC]) == ["intake.W301"]


@pytest.mark.parametrize("credentials", ["zillowpass", "zillow:", ":pass"])
def test_basic_credentials_must_be_user_colon_password(credentials):
    assert ids(ZILLOW_BASIC_AUTH=credentials, ZILLOW_TOPIC_ARNS=[TOPIC]) == ["intake.E301"]


def test_a_topic_that_is_not_an_sns_arn_is_an_error():
    found = ids(ZILLOW_BASIC_AUTH="zillow:pass", ZILLOW_TOPIC_ARNS=[TOPIC, "zillow-tech-connect"])
    assert found == ["intake.E302"]


def test_a_short_rentals_token_warns_that_it_can_be_guessed():
    assert ids(ZILLOW_RENTALS_TOKEN="abc123") == ["intake.W302"]


@pytest.mark.django_db  # intake.E310 reads the teams
def test_the_checks_run_with_manage_py_check():
    with (
        override_settings(ZILLOW_BASIC_AUTH="zillowpass", ZILLOW_TOPIC_ARNS=[TOPIC]),
        pytest.raises(SystemCheckError, match=r"intake\.E301"),
    ):
        call_command("check")
