"""A person's reply reaches the lead page its agent has open: the page's next ask is not a
304 (leads.live), and it shows the text."""

from __future__ import annotations

from django.test import Client

from leads.models import Agent, Lead

from .conftest import inbound

LIVE = {"HX-Request": "true", "HX-Target": "lead-body"}


def test_a_reply_reaches_the_agents_open_lead_page(
    client, alice: Agent, jordan: Lead, twilio, run_queue, django_capture_on_commit_callbacks
):
    run_queue()
    agent = Client()
    agent.force_login(alice.user)
    page = f"/leads/{jordan.pk}/"
    tag = agent.get(page, headers=LIVE)["ETag"]
    assert agent.get(page, headers={**LIVE, "If-None-Match": tag}).status_code == 304
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound(client, "Can we see it at 5?", sid="SM" + "9" * 32).status_code == 200
    response = agent.get(page, headers={**LIVE, "If-None-Match": tag})
    assert response.status_code == 200
    assert "Can we see it at 5?" in response.content.decode()
