"""The manager's dashboard: conversion received → appointment → won per agent and per source,
a custom date range, and the tables as CSV; for managers only."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from leads.models import Lead

from .test_views import make_lead, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def period(alice, bob, oscar):
    """Alice: 4 leads (2 reached an appointment, 1 won); Bob: 2 (none further); one of Alice's
    from 40 days ago; one of another team."""
    now = timezone.now()
    for status, source in (
        ("appointment", "zillow"), ("closed_won", "zillow"), ("contacted", "webform"),
        ("new", "webform"),
    ):  # fmt: skip
        make_lead(alice.team, alice, status=status, source=source)
    make_lead(alice.team, bob, status="accepted", source="zillow")
    make_lead(alice.team, bob, status="closed_lost", source="realtor")
    old = make_lead(alice.team, alice, status="closed_won", source="realtor")
    Lead.objects.filter(pk=old.pk).update(received_at=now - dt.timedelta(days=40))
    make_lead(oscar.team, oscar, status="closed_won", source="zillow")
    return now


def test_conversion_per_agent_and_per_source(client, mona, period):
    board = signed_in(client, mona).get("/dashboard/?days=30").context["board"]
    agents = {c.label: (c.received, c.appointment, c.won) for c in board.conversion_by_agent}
    assert agents == {"Alice": (4, 2, 1), "Bob": (2, 0, 0)}
    sources = {c.label: (c.received, c.appointment, c.won) for c in board.conversion_by_source}
    assert sources == {"zillow": (3, 2, 1), "webform": (2, 0, 0), "realtor": (1, 0, 0)}
    alice = board.conversion_by_agent[0]
    assert (alice.to_appointment, alice.to_won) == ("50%", "25%")
    page = client.get("/dashboard/?days=30").content.decode()
    assert "Conversion: received → appointment → won" in page
    assert 'href="/?source=zillow"' in page  # the figure leads to the leads behind it


def test_a_custom_date_range(client, mona, period):
    today = timezone.localdate()
    start = today - dt.timedelta(days=45)
    end = today - dt.timedelta(days=35)
    board = signed_in(client, mona).get(f"/dashboard/?from={start}&to={end}").context["board"]
    assert board.total == 1
    assert [(c.label, c.won) for c in board.conversion_by_agent] == [("Alice", 1)]
    both = client.get(f"/dashboard/?from={start}&to={today}").context["board"]
    assert both.total == 7


@pytest.mark.parametrize(
    "query", ["from=yesterday", "from=2026-05-02&to=2026-05-01", "from=2020-01-01&to=2026-01-01"]
)
def test_a_bad_range_is_a_clear_400(client, mona, query):
    response = signed_in(client, mona).get(f"/dashboard/?{query}")
    assert response.status_code == 400
    assert response.content.decode().startswith("Not shown.")


def test_the_conversion_tables_export_as_csv(client, mona, period):
    response = signed_in(client, mona).get("/dashboard/?days=30&export=conversion")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="conversion-')
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["by", "name", "received", "appointment", "won", "to appointment", "to won"]
    assert ["agent", "Alice", "4", "2", "1", "50%", "25%"] in rows
    assert ["source", "zillow", "3", "2", "1", "67%", "33%"] in rows
    assert not any(row[1] == "Oscar" for row in rows)


@pytest.mark.parametrize("persona", ["alice", "oscar"])
def test_an_agent_gets_no_dashboard_and_no_export(request, client, persona, period):
    agent = request.getfixturevalue(persona)
    assert signed_in(client, agent).get("/dashboard/?export=conversion").status_code == 403
