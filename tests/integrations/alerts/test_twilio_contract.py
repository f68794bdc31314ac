"""Contract: our SMS requests, as the real ``twilio`` client sends them, against a mock
server generated from Twilio's own OpenAPI description (Prism validates each request
against the spec and answers with the spec's example Message).

The spec is ``tests/peers/twilio/twilio_api_v2010.json`` (Twilio's, MIT licensed; its
licence beside it). Prism runs with ``npx @stoplight/prism-cli@5.14.2`` (the last release
for Node 20). Without Node the test is skipped, except in CI, where it fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from integrations.alerts.models import AgentAlert
from integrations.alerts.services import alert_send
from leads.data import LeadData
from leads.models import Agent, Territory
from leads.services import lead_capture
from tests.conftest import IN_CI

SPEC = Path(__file__).resolve().parents[2] / "peers" / "twilio" / "twilio_api_v2010.json"
PRISM = "@stoplight/prism-cli@5.14.2"

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    npx = shutil.which("npx")
    if npx is None:
        if IN_CI:
            pytest.fail("CI=true but npx (Node.js) is missing: the Twilio contract test needs it")
        pytest.skip("needs Node.js (npx) for the Prism mock of Twilio's API")
    port = _free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("w") as output:  # a file, not a pipe nobody reads that Prism's log could fill
        process = subprocess.Popen(
            [npx, "--yes", PRISM, "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # npx starts Prism as a child: stop the whole group
        )
    deadline = time.monotonic() + 180  # a first run downloads Prism
    try:
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def sms_to_prism(settings, prism: str) -> str:
    settings.TWILIO_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
    settings.TWILIO_AUTH_TOKEN = "contract-test-token"
    settings.TWILIO_FROM_NUMBER = "+13055550000"
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_API_BASE_URL = prism
    return prism


def _sms_alert(team, alice: Agent, n: int) -> AgentAlert:
    territory, _ = Territory.objects.get_or_create(
        team=team, name="Little River", defaults={"zip_codes": ["33150"]}
    )
    territory.agents.set([alice])
    data = LeadData(
        source="webform", external_id=f"contract-{n}", received_at=timezone.now(),
        first_name="Jane", last_name="Doe", email=f"jane{n}@example.net",
        property_zip="33150", price=Decimal("450000"),
    )  # fmt: skip
    lead_capture(data=data)
    from tests.conftest import _commit_callbacks

    _commit_callbacks()
    return AgentAlert.objects.get(channel="sms", lead__external_id=f"contract-{n}")


def test_an_sms_alert_is_a_valid_create_message_request(team, alice, sms_to_prism):
    delivery = _sms_alert(team, alice, 1)
    sent = alert_send(alert_id=delivery.pk)
    assert sent is not None
    sent.refresh_from_db()
    assert sent.status == AgentAlert.Status.SENT, sent.last_error
    assert sent.provider_id.startswith("SM")  # the spec's example Message


def test_a_messaging_service_request_is_valid_too(team, alice, settings, sms_to_prism):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "ab" * 16
    delivery = _sms_alert(team, alice, 2)
    sent = alert_send(alert_id=delivery.pk)
    assert sent is not None
    sent.refresh_from_db()
    assert sent.status == AgentAlert.Status.SENT, sent.last_error


def test_the_mock_does_check_requests_against_the_spec(prism):
    """Without this, the two tests above would prove nothing: a request missing ``To`` is
    refused, and one without credentials too."""
    url = f"{prism}/2010-04-01/Accounts/AC{'0' * 32}/Messages.json"
    missing_to = requests.post(
        url, data={"From": "+13055550000", "Body": "x"}, auth=("a", "b"), timeout=10
    )
    assert missing_to.status_code == 422
    anonymous = requests.post(
        url, data={"To": "+13055550111", "From": "+1305", "Body": "x"}, timeout=10
    )
    assert anonymous.status_code == 401
