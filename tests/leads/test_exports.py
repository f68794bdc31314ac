"""Exports of the inbox, role by role: a manager gets their team's leads and people, an agent
only their own, nobody another team's; the list's filters narrow the file; CSV and XLSX
carry the same rows; the file is streamed in constant memory."""

from __future__ import annotations

import csv
import io
import tracemalloc

import openpyxl
import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from leads import exports, selectors
from leads.models import Contact, Lead

from .test_views import make_lead

pytestmark = pytest.mark.django_db


def _body(response) -> bytes:
    assert response.status_code == 200, response
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)  # type: ignore[arg-type]


def _csv(response) -> list[dict[str, str]]:
    body = _body(response)
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _xlsx(response) -> list[dict[str, object]]:
    book = openpyxl.load_workbook(io.BytesIO(_body(response)), read_only=True)
    sheet = book.worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    headers = values[0]
    return [dict(zip(headers, row, strict=True)) for row in values[1:]]


@pytest.fixture
def leads(alice, bob, mona, oscar):
    return {
        "alice": make_lead(alice.team, alice, first_name="Ana", status=Lead.Status.ACCEPTED),
        "alice_won": make_lead(
            alice.team, alice, first_name="Wendy", status=Lead.Status.CLOSED_WON
        ),
        "bob": make_lead(bob.team, bob, first_name="Bea"),
        "pool": make_lead(alice.team, None, first_name="Pat"),
        "oscar": make_lead(oscar.team, oscar, first_name="Olga"),
    }


def test_a_manager_exports_the_teams_leads_with_the_lists_filters(client, mona, leads):
    client.force_login(mona.user)
    rows = _csv(client.get("/export/leads.csv"))
    assert {r["First name"] for r in rows} == {"Ana", "Wendy", "Bea", "Pat"}
    assert rows[0].keys() >= {"Lead id", "Status", "Email", "Agent", "Received"}
    by_name = {r["First name"]: r for r in rows}
    assert by_name["Ana"]["Agent"] == "Alice"
    assert by_name["Ana"]["Lead id"] == str(leads["alice"].public_id)
    assert by_name["Pat"]["Agent"] == ""

    open_only = _csv(client.get("/export/leads.csv", {"status": "open"}))
    assert {r["First name"] for r in open_only} == {"Ana", "Bea", "Pat"}
    searched = _csv(client.get("/export/leads.csv", {"q": "wendy"}))
    assert [r["First name"] for r in searched] == ["Wendy"]
    mine = _csv(client.get("/export/leads.csv", {"mine": "on"}))
    assert mine == []


def test_an_agent_exports_only_their_own_leads(client, alice, leads):
    client.force_login(alice.user)
    rows = _csv(client.get("/export/leads.csv"))
    assert sorted(r["First name"] for r in rows) == ["Ana", "Wendy"]  # not Bea's, not the pool
    people = _csv(client.get("/export/people.csv"))
    assert sorted(r["First name"] for r in people) == ["Ana", "Wendy"]


def test_another_teams_agent_gets_none_of_it(client, oscar, leads):
    client.force_login(oscar.user)
    assert [r["First name"] for r in _csv(client.get("/export/leads.csv"))] == ["Olga"]
    assert [r["First name"] for r in _xlsx(client.get("/export/people.xlsx"))] == ["Olga"]


def test_people_are_exported_once_each_with_the_managers_filters(client, mona, alice, leads):
    again = Lead.objects.create(
        contact=leads["alice"].contact, team=alice.team, source="zillow", external_id="again",
        received_at=timezone.now(), assigned_agent=alice,
    )  # fmt: skip
    assert again.contact_id == leads["alice"].contact_id
    client.force_login(mona.user)
    people = _csv(client.get("/export/people.csv"))
    assert sorted(r["First name"] for r in people) == ["Ana", "Bea", "Pat", "Wendy"]
    assert {r["Person id"] for r in people} == {
        str(leads[k].contact_id) for k in ("alice", "alice_won", "bob", "pool")
    }
    zillow = _csv(client.get("/export/people.csv", {"source": "zillow"}))
    assert [r["First name"] for r in zillow] == ["Ana"]


def test_xlsx_carries_the_same_rows_as_csv(client, mona, leads):
    client.force_login(mona.user)
    as_csv = _csv(client.get("/export/leads.csv"))
    response = client.get("/export/leads.xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'filename="leads-' in response["Content-Disposition"]
    as_xlsx = _xlsx(response)
    assert [r["Lead id"] for r in as_xlsx] == [r["Lead id"] for r in as_csv]
    assert [r["Email"] for r in as_xlsx] == [r["Email"] for r in as_csv]


def test_cells_that_look_like_formulas_are_not_run(client, alice):
    make_lead(alice.team, alice, first_name='=HYPERLINK("http://evil")', message="+1 call me")
    client.force_login(alice.user)
    row = _csv(client.get("/export/leads.csv"))[0]
    assert row["First name"] == '\'=HYPERLINK("http://evil")'
    assert row["Message"] == "'+1 call me"
    cell = _xlsx(client.get("/export/leads.xlsx"))[0]
    assert cell["First name"] == '\'=HYPERLINK("http://evil")'


def test_signed_out_and_unknown_exports(client, alice):
    response = client.get("/export/leads.csv")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"] or "login" in response["Location"]
    client.force_login(alice.user)
    assert client.get("/export/leads.pdf").status_code == 404
    assert client.get("/export/agents.csv").status_code == 404


def test_the_inbox_offers_the_exports_inside_its_filter_form(client, mona, leads):
    client.force_login(mona.user)
    page = client.get("/", {"status": "open"}).content.decode()
    assert 'formaction="/export/leads.csv"' in page
    assert 'formaction="/export/people.xlsx"' in page


def _bulk_leads(team, agent, n: int) -> None:
    contacts = Contact.objects.bulk_create(
        Contact(first_name=f"P{i}", last_name="Bulk", email=f"bulk{i}@example.com")
        for i in range(n)
    )
    now = timezone.now()
    Lead.objects.bulk_create(
        Lead(
            contact=c, team=team, source="import", external_id=f"bulk-{c.pk}", received_at=now,
            assigned_agent=agent, message="x" * 200,
        )
        for c in contacts
    )  # fmt: skip


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_an_export_streams_in_constant_memory(mona, format):
    """Four times the leads, about the same peak memory: the rows are never all held."""

    def peak() -> tuple[int, int]:
        queryset = selectors.export_leads(user=mona.user)
        stream = exports.export_stream(queryset, exports.LEAD_COLUMNS, format=format, sheet="Leads")
        tracemalloc.start()
        size = sum(len(chunk) for chunk in stream)
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size, top

    _bulk_leads(mona.team, mona, 3000)
    small_size, small_peak = peak()
    _bulk_leads(mona.team, mona, 9000)
    big_size, big_peak = peak()
    assert big_size > 3.5 * small_size
    assert big_peak < 1.5 * small_peak, (small_peak, big_peak)
