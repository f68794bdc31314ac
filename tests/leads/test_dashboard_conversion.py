"""The manager's dashboard: conversion received → appointment → won per agent and per source,
a custom date range, and the tables as CSV; for managers only."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

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


FIGURE = re.compile(r'<a href="(/\?each=inquiry[^"]*)">([^<]*)')
# A bar or a column of a chart: its figure in its name.
BAR = re.compile(r'<a href="(/\?each=inquiry[^"]*)"[^>]*aria-label="[^"]*: (\d+) leads?"')


def listed(client, url: str) -> int:
    """How many rows the lead list shows at ``url``, every page of it."""
    count, page = 0, 1
    while page:
        response = client.get(f"{url}&page={page}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="more")
        assert response.status_code == 200, url
        count += len(response.context["rows"])
        page = response.context["next_page"]
    return count


@pytest.mark.parametrize("period_query", ["days=30", "days=90", "range"])
def test_every_figure_lists_exactly_the_leads_behind_it(client, mona, alice, period, period_query):
    # More to count: a lost lead that got as far as contacted, one nobody has, 26 of Alice's
    # (a second page), and one received after the dashboard was read (in no figure of a
    # rolling period; a range that ends today takes it, as the dashboard would).
    lost = make_lead(alice.team, alice, status="closed_lost", source="webform")
    Lead.objects.filter(pk=lost.pk).update(accepted_at=period, first_contact_at=period)
    make_lead(alice.team, None, status="new", source="zillow")
    for _ in range(26):
        make_lead(alice.team, alice, status="qualified", source="facebook")
    if period_query == "range":
        start = timezone.localdate() - dt.timedelta(days=45)
        period_query = f"from={start}&to={timezone.localdate()}"
    page = signed_in(client, mona).get(f"/dashboard/?{period_query}").content.decode()
    if period_query.startswith("days"):
        make_lead(alice.team, alice, status="qualified", source="facebook")
    figures = [(html.unescape(url), text) for url, text in FIGURE.findall(page)]
    # The conversion tables (3 per agent and per source), the speed tables, the total.
    assert len(figures) >= 3 * (3 + 4) + (3 + 4) + 1
    bars = [(html.unescape(url), text) for url, text in BAR.findall(page)]
    # Leads by source, the funnel's 7 stages, a column a week.
    assert len(bars) >= 4 + 7 + 5
    figures += bars
    for url, text in figures:
        shown = int(re.search(r"\d+", text).group())  # type: ignore[union-attr]
        assert listed(client, url) == shown, (url, text)
    assert any("agent=none" in url for url, _ in figures)
    assert any("stage=appointment" in url for url, _ in figures)
    assert any("stage=won" in url for url, _ in figures)
    assert any("stage=contacted" in url for url, _ in figures)
    weeks = [int(n) for url, n in bars if "stage=" not in url and "source=" not in url]
    total = next(text for _, text in figures if text.endswith(" leads"))
    assert sum(weeks) == int(total.split()[0])  # the weeks share the period out


@pytest.mark.parametrize("persona", ["alice", "mona"])
def test_bad_narrowing_is_left_out_with_a_word_and_the_rest_applies(request, client, persona):
    agent = request.getfixturevalue(persona)
    zillow = make_lead(agent.team, agent, source="zillow")
    make_lead(agent.team, agent, source="webform")
    response = signed_in(client, agent).get(
        "/?each=inquiry&source=zillow&agent=bob&stage=nowhere&from=yesterday&to=2026-13-01"
    )
    assert response.status_code == 200
    assert [lead.pk for lead in response.context["rows"]] == [zillow.pk]
    said = response.content.decode()
    assert "Left out of this list: " in said
    for name in ("agent: an agent&#x27;s number", "stage: ", "from: a day as YYYY-MM-DD", "to: "):
        assert name in said
    backwards = client.get("/?each=inquiry&from=2026-11-10&to=2026-11-01")
    assert backwards.status_code == 200
    assert "to: a day or moment on or after from." in backwards.content.decode()


def test_an_agent_narrowing_to_a_teammate_sees_none_of_their_leads(client, alice, bob):
    make_lead(alice.team, bob, source="zillow")
    mine = make_lead(alice.team, alice, source="zillow")
    signed_in(client, alice)
    assert list(client.get(f"/?each=inquiry&agent={bob.pk}").context["rows"]) == []
    assert [lead.pk for lead in client.get(f"/?agent={alice.pk}").context["rows"]] == [mine.pk]


def test_a_manager_sees_the_narrowing_in_words_and_can_drop_it(client, mona, alice, oscar):
    make_lead(alice.team, alice, status="appointment")
    response = signed_in(client, mona).get(
        f"/?each=inquiry&agent={alice.pk}&stage=appointment&from=2026-11-01&to=2026-11-30&q=jo"
    )
    page = response.content.decode()
    assert (
        "Only leads assigned to Alice, got as far as appointment, received from Nov 1, 2026" in page
    )
    assert 'href="?each=inquiry&amp;q=jo">Show all</a>' in page
    assert f'<input type="hidden" name="agent" value="{alice.pk}">' in page  # kept by the filters
    # Another team's agent is not named.
    other = client.get(f"/?each=inquiry&agent={oscar.pk}").content.decode()
    assert "Oscar" not in other
    assert list(client.get(f"/?each=inquiry&agent={oscar.pk}").context["rows"]) == []
