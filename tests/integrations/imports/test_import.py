"""Importing people from real files: read, mapped, dry run, imported in chunks, the result
of every row kept; BOMs, semicolons, Excel dates; nobody routed or alerted unless asked."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from integrations.imports import services
from integrations.imports.models import ImportJob, ImportMapping, ImportRow
from leads.models import Activity, Consent, Contact, ContactEmail, ContactTag, Lead, LeadOffer

from . import files

pytestmark = pytest.mark.django_db


def run(job: ImportJob) -> ImportJob:
    """The worker's part: the dry run, or the import, to its end."""
    while services.job_work(job_id=job.pk, seconds=3600) in (
        ImportJob.Status.READING, ImportJob.Status.RUNNING
    ):  # fmt: skip
        job.refresh_from_db()
        if not job.active:
            break
    job.refresh_from_db()
    return job


def upload(team, user, content: bytes, name="contacts.csv", **mapping) -> ImportJob:
    job = services.job_create(team=team, user=user, name=name, content=content)
    services.job_map(job=job, mapping=mapping.pop("fields", job.fields), **mapping)
    return run(job)


def test_a_csv_with_a_bom_and_semicolons_is_read_dry_run_then_imported(team, mona):
    rows = files.people(3)
    content = files.csv_bytes(rows, delimiter=";", bom=True)
    job = services.job_create(team=team, user=mona.user, name="old-crm.csv", content=content)
    assert job.headers == files.HEADERS  # the BOM is not part of the first header
    assert job.fields == [
        "first_name", "last_name", "email", "phone", "tags", "status", "received_at", "message",
    ]  # fmt: skip
    services.job_map(job=job, mapping=job.fields)
    job = run(job)
    assert job.status == ImportJob.Status.READY
    assert job.planned == {"create": 3}
    assert not Contact.objects.exists()  # a dry run writes nobody

    services.job_start(job=job)
    job = run(job)
    assert job.status == ImportJob.Status.DONE
    assert job.counts == {"create": 3}
    assert job.rows_done == 3
    person = Contact.objects.get(email="person1@example.com")
    assert (person.first_name, person.last_name, person.phone) == (
        "First1",
        "Last1",
        "+13052000001",
    )
    assert set(ContactTag.objects.filter(contact=person).values_list("name", flat=True)) == {
        "past client", "investor",
    }  # fmt: skip
    lead = Lead.objects.get(contact=person)
    assert (lead.team, lead.source, lead.status, lead.message) == (
        team,
        "import",
        "contacted",
        "note 1",
    )
    assert timezone.localtime(lead.received_at).date() == dt.date(2024, 3, 14)
    assert lead.assigned_agent is None
    assert lead.sla_due_at is None
    assert not LeadOffer.objects.exists()
    assert Activity.objects.filter(lead=lead, kind="received", actor=mona.user).exists()


def test_an_xlsx_with_excel_dates_and_numbers(team, mona):
    rows = [
        ["Ana", "Ruiz", "ana@example.com", 3055550123, "", "new", dt.datetime(2023, 11, 2), "hi"],
        ["Bo", "Li", "bo@example.com", "", "", "", dt.date(2024, 1, 31), ""],
    ]
    job = upload(team, mona.user, files.xlsx_bytes(rows), name="export.xlsx")
    assert job.format == "xlsx"
    assert job.planned == {"create": 2}
    services.job_start(job=job)
    run(job)
    ana = Lead.objects.get(contact__email="ana@example.com")
    assert ana.contact.phone == "+13055550123"  # a number cell, not "3055550123.0"
    assert timezone.localtime(ana.received_at).date() == dt.date(2023, 11, 2)
    bo = Lead.objects.get(contact__email="bo@example.com")
    assert timezone.localtime(bo.received_at).date() == dt.date(2024, 1, 31)


def test_excel_serial_dates_in_a_csv_and_other_encodings(team, mona):
    rows = [["Zoë", "Núñez", "zoe@example.com", "", "", "", "45365", ""]]
    content = files.csv_bytes(rows, bom=False, encoding="cp1252")
    job = upload(team, mona.user, content)
    services.job_start(job=job)
    run(job)
    lead = Lead.objects.get(contact__email="zoe@example.com")
    assert lead.contact.first_name == "Zoë"
    assert timezone.localtime(lead.received_at).date() == dt.date(2024, 3, 14)  # day 45365


def test_ten_thousand_rows_with_five_percent_bad(team, mona):
    rows = files.people(10_000, bad_every=20)
    job = upload(team, mona.user, files.csv_bytes(rows))
    assert job.total_rows == 10_000
    assert job.planned == {"create": 9_500, "fail": 500}
    reasons = set(
        ImportRow.objects.filter(job=job, plan="fail").values_list("plan_reason", flat=True)
    )
    assert reasons == {
        'email: "not-an-email" is not an email address',
        "no email or phone: the person could not be recognised",
        'status: "hot" is not one of new, accepted, contacted, qualified, appointment, '
        "under_contract, closed_won, closed_lost",
        'date received: "yesterday-ish" is not a date',
    }
    services.job_start(job=job)
    job = run(job)
    assert job.counts == {"create": 9_500, "fail": 500}
    assert Contact.objects.count() == 9_500
    assert Lead.objects.filter(source="import").count() == 9_500
    assert not Lead.objects.filter(assigned_agent__isnull=False).exists()
    body = b"".join(services.results_stream(job=job)).decode("utf-8-sig")
    lines = body.splitlines()
    assert len(lines) == 10_001
    assert lines[0].startswith("Row,Result,Reason,Person id,Lead id,First Name,")
    assert lines[20].startswith('20,fail,"email: ""not-an-email"" is not an email address",,,')


def test_known_people_are_matched_or_updated_never_overwritten(team, mona, alice):
    known = Contact.objects.create(first_name="Ann", last_name="", email="ann@example.com")
    ContactEmail.objects.create(contact=known, email="ann@example.com")
    same = Contact.objects.create(first_name="Sam", last_name="Fox", email="sam@example.com")
    ContactEmail.objects.create(contact=same, email="sam@example.com")
    Lead.objects.create(contact=same, team=team, source="webform", external_id="w1",
                        received_at=timezone.now(), assigned_agent=alice)  # fmt: skip
    headers = ["Name", "Email", "Phone", "Agent"]
    rows = [
        ["Annie Smith", "ANN@example.com", "", ""],  # fills the last name: update
        ["Sam Fox", "sam@example.com", "", ""],  # nothing new: match
        ["Dee Dup", "dee@example.com", "", "alice@example.com"],  # new, assigned to Alice
        ["Dee Dup", "", "305-555-0199", ""],  # phone only: a new person
        ["Dee Again", "dee@example.com", "3055550177", ""],  # same as row 3, adds a phone
        ["Eve", "eve@example.com", "", "nobody@example.com"],  # no such agent: fail
    ]
    job = upload(team, mona.user, files.csv_bytes(rows, headers=headers))
    assert job.fields == ["full_name", "email", "phone", "agent_email"]
    plans = list(ImportRow.objects.filter(job=job).values_list("plan", flat=True))
    assert plans == ["update", "match", "create", "create", "update", "fail"]
    services.job_start(job=job)
    job = run(job)
    outcomes = list(ImportRow.objects.filter(job=job).values_list("outcome", "reason"))
    assert [o for o, _ in outcomes] == ["update", "match", "create", "create", "update", "fail"]
    assert outcomes[4][1] == "the same person as row 3"
    assert outcomes[5][1] == "agent: nobody on the team has the address nobody@example.com"
    known.refresh_from_db()
    assert (known.first_name, known.last_name) == ("Ann", "Smith")  # the blank filled only
    assert Lead.objects.filter(contact=same).count() == 1  # the team already had a lead
    assert Lead.objects.filter(contact=known, source="import").count() == 1
    dee = Contact.objects.get(email="dee@example.com")
    assert set(dee.phones.values_list("phone", flat=True)) == {"+13055550177"}
    dee_lead = Lead.objects.get(contact=dee)
    assert dee_lead.assigned_agent == alice
    assert dee_lead.sla_due_at is None


def test_consent_columns_need_their_source(team, mona):
    headers = ["Email", "Email opt in"]
    content = files.csv_bytes([["a@example.com", "yes"], ["b@example.com", "no"]], headers=headers)
    job = services.job_create(team=team, user=mona.user, name="c.csv", content=content)
    assert job.fields == ["email", "consent_marketing_email"]
    with pytest.raises(services.ImportError_, match="consents"):
        services.job_map(job=job, mapping=job.fields)
    services.job_map(job=job, mapping=job.fields, consent_source="Open house sign-in sheet, 2024")
    job = run(job)
    services.job_start(job=job)
    run(job)
    granted = Consent.objects.get(contact__email="a@example.com")
    assert granted.granted
    assert granted.channel == "marketing_email"
    assert granted.text == "Imported: Open house sign-in sheet, 2024"
    assert not Consent.objects.get(contact__email="b@example.com").granted


def test_the_mapping_is_remembered_for_files_of_the_same_shape(team, mona):
    headers = ["Col A", "Col B"]
    content = files.csv_bytes([["x@example.com", "Xavier"]], headers=headers)
    job = services.job_create(team=team, user=mona.user, name="a.csv", content=content)
    assert job.fields == ["", ""]  # nothing to guess from
    services.job_map(job=job, mapping=["email", "first_name"])
    assert ImportMapping.objects.filter(team=team).count() == 1
    again = services.job_create(team=team, user=mona.user, name="b.csv", content=content)
    assert again.fields == ["email", "first_name"]


def test_route_these_as_new_leads(team, mona, beach):
    headers = ["Email", "ZIP"]
    content = files.csv_bytes([["r@example.com", "33139"]], headers=headers)
    job = services.job_create(team=team, user=mona.user, name="r.csv", content=content)
    services.job_map(job=job, mapping=job.fields, route=True)
    run(job)
    services.job_start(job=job)
    job = run(job)
    assert job.counts == {"create": 1}
    lead = Lead.objects.get(contact__email="r@example.com")
    assert lead.assigned_agent is not None
    assert lead.sla_due_at is not None


def test_a_cancelled_import_stops(team, mona):
    job = upload(team, mona.user, files.csv_bytes(files.people(2500)))
    services.job_start(job=job)
    assert services._chunk(job.pk, []) == (ImportJob.Status.RUNNING, True)  # one chunk
    services.job_cancel(job=job)
    assert services.job_work(job_id=job.pk) == ImportJob.Status.CANCELLED
    job.refresh_from_db()
    assert job.rows_done == 1000
    assert Contact.objects.count() == 1000


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "Save the spreadsheet"),
        ("broken.xlsx", b"PK\x03\x04garbage", "damaged"),
    ],
)
def test_files_that_cannot_be_read_are_refused_with_a_reason(team, mona, name, content, message):
    with pytest.raises(services.ImportError_, match=message):
        services.job_create(team=team, user=mona.user, name=name, content=content)


def test_a_mapping_without_email_or_phone_is_refused(team, mona):
    job = services.job_create(
        team=team, user=mona.user, name="a.csv", content=files.csv_bytes([["x"]], headers=["Name"])
    )
    with pytest.raises(services.ImportError_, match="Email or Phone"):
        services.job_map(job=job, mapping=["full_name"])
