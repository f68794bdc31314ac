"""A new alert channel is one class and one registry line: nothing in ``leads`` changes.

The channel below exists only in this test. Registered, it gets its own alert rows, is sent
like SMS and email, falls back like them, and shows on the lead's timeline and in the API.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from integrations.alerts.channels import CHANNELS, get_channel
from integrations.alerts.channels.base import Channel, DeliveryError, SendResult
from integrations.alerts.facts import AlertFacts
from integrations.alerts.models import AgentAlert
from leads.models import Agent
from leads.selectors import lead_timeline

from .test_alerts import capture

pytestmark = pytest.mark.django_db


class PagerChannel(Channel):
    """A pager: every agent has one, numbered after them; it fails when told to."""

    key = "pager"
    label = "Pager"
    sent: ClassVar[list[tuple[str, str]]] = []
    refuse: ClassVar[list[DeliveryError]] = []

    def configured(self) -> bool:
        return True

    def reachable(self, agent: Agent) -> str:
        return f"pager-{agent.pk}"

    def address(self, agent: Agent) -> str:
        return self.reachable(agent)

    def send(self, alert: AgentAlert, facts: AlertFacts) -> SendResult:
        if self.refuse:
            raise self.refuse.pop()
        self.sent.append((alert.to, f"{facts.headline}: {facts.name}"))
        return SendResult(provider_id=f"page-{alert.pk}")

    def flag_broken(self, agent: Agent, error: DeliveryError) -> None:
        return None


@pytest.fixture
def pager(monkeypatch: Any) -> type[PagerChannel]:
    """Only the pager is registered: the registry line a new channel adds."""
    monkeypatch.setattr(
        "integrations.alerts.channels.CHANNELS",
        {"pager": f"{__name__}.PagerChannel"},
    )
    PagerChannel.sent.clear()
    PagerChannel.refuse.clear()
    return PagerChannel


def test_a_channel_registered_in_one_line_alerts_the_agent(pager, solo, alice, run_queue):
    lead = capture()
    run_queue()

    alert = AgentAlert.objects.get()
    assert (alert.channel, alert.status, alert.provider_id) == ("pager", "sent", f"page-{alert.pk}")
    assert alert.get_channel_display() == "Pager"
    assert pager.sent == [(f"pager-{alice.pk}", "New lead from Web form: Jane Doe")]
    assert isinstance(get_channel("pager"), PagerChannel)
    assert "pager" not in CHANNELS  # the real registry is untouched

    entries = lead_timeline(lead=lead)
    assert [e.title for e in entries if e.kind == "alert"] == ["Pager alert to Alice: Sent"]


def test_a_new_channel_is_retried_like_the_others(pager, solo, run_queue, settings):
    settings.ALERT_RETRY_BASE_SECONDS = 0
    pager.refuse.append(DeliveryError("pager network busy"))
    capture()
    run_queue()

    alert = AgentAlert.objects.get()
    assert (alert.status, alert.attempts) == ("queued", 1)
    assert alert.last_error == "Attempt 1: pager network busy"


def test_the_api_lists_a_new_channels_alerts(pager, solo, alice, client, run_queue):
    capture()
    run_queue()
    client.force_login(alice.user)

    [row] = client.get("/api/v1/agent-alerts/").json()["results"]
    assert (row["channel"], row["status"]) == ("pager", "sent")
