"""The import pages, role by role: a manager imports for their team (upload, map, dry run,
start, progress, results), an agent may not, another team's manager sees none of it; staff
import for any team from the admin."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations.imports.models import ImportJob
from leads.models import Contact, Lead
from tests.conftest import make_agent

from . import files
from .test_import import run

pytestmark = pytest.mark.django_db


def _upload(client, base="/imports/", **extra):
    content = files.csv_bytes(files.people(30, bad_every=10))
    upload = SimpleUploadedFile("old-crm.csv", content, content_type="text/csv")
    return client.post(base, {"file": upload, **extra})


def test_a_manager_imports_a_file_step_by_step(client, mona):
    client.force_login(mona.user)
    assert "Import people" in client.get("/imports/").content.decode()
    response = _upload(client)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/"
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert 'name="column-2"' in page
    assert "person0@example.com" not in page
    assert '<option value="email" selected>' in page

    form = {f"column-{i}": key for i, key in enumerate(job.fields)}
    assert client.post(f"/imports/{job.pk}/map/", form).status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.READING
    fragment = client.get(f"/imports/{job.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in fragment
    run(job)

    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Dry run: 30 rows" in page
    assert "New people: <strong>27</strong>" in page
    assert "Rows that fail: <strong>3</strong>" in page
    assert "is not an email address" in page
    assert not Contact.objects.exists()

    assert client.post(f"/imports/{job.pk}/start/").status_code == 302
    response = client.get(f"/imports/{job.pk}/progress/")
    assert "0 of 30 rows" in response.content.decode()
    run(job)
    response = client.get(f"/imports/{job.pk}/progress/")
    assert response["HX-Refresh"] == "true"
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Done: 30 of 30 rows" in page
    assert Lead.objects.filter(team=mona.team, source="import").count() == 27

    response = client.get(f"/imports/{job.pk}/results.csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 30
    assert {r["Result"] for r in rows} == {"create", "fail"}
    assert rows[9]["Result"] == "fail"
    assert rows[9]["Reason"]


def test_the_dashboard_leads_to_imports(client, mona):
    client.force_login(mona.user)
    assert 'href="/imports/"' in client.get("/dashboard/").content.decode()


def test_a_bad_mapping_or_file_is_said_not_crashed(client, mona):
    client.force_login(mona.user)
    bad = SimpleUploadedFile("notes.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 64)
    response = client.post("/imports/", {"file": bad})
    assert response.status_code == 400
    assert "Save the spreadsheet as CSV" in response.content.decode()
    _upload(client)
    job = ImportJob.objects.get()
    response = client.post(f"/imports/{job.pk}/map/", {"column-0": "first_name"}, follow=True)
    assert "Map a column to Email or Phone" in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.MAPPING


def test_an_agent_may_not_import(client, alice):
    client.force_login(alice.user)
    assert client.get("/imports/").status_code == 403
    assert _upload(client).status_code == 403
    assert not ImportJob.objects.exists()


def test_another_teams_imports_are_not_there(client, mona, other_team):
    client.force_login(mona.user)
    _upload(client)
    job = ImportJob.objects.get()
    olivia = make_agent(other_team, "olivia", role="manager")
    client.force_login(olivia.user)
    for url in ("", "progress/", "results.csv"):
        assert client.get(f"/imports/{job.pk}/{url}").status_code == 404
    assert client.post(f"/imports/{job.pk}/start/").status_code == 404
    assert client.post(f"/imports/{job.pk}/cancel/").status_code == 404
    job.refresh_from_db()
    assert job.status == ImportJob.Status.MAPPING


def test_staff_import_from_the_admin_for_a_team(client, team):
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-long-enough-1")
    client.force_login(admin)
    assert (
        client.get("/admin/imports/importjob/add/")["Location"] == "/admin/imports/importjob/run/"
    )
    page = client.get("/admin/imports/importjob/run/").content.decode()
    assert 'name="team"' in page
    assert _upload(client, "/admin/imports/importjob/run/").status_code == 400  # no team
    response = _upload(client, "/admin/imports/importjob/run/", team=team.pk)
    job = ImportJob.objects.get()
    assert response["Location"] == f"/admin/imports/importjob/run/{job.pk}/"
    assert job.team == team
    assert job.created_by == admin
    assert client.get("/admin/imports/importjob/").status_code == 200


def test_staff_without_the_permission_may_not(client, team):
    clerk = get_user_model().objects.create_user(
        "clerk", password="pw-long-enough-1", is_staff=True
    )
    client.force_login(clerk)
    assert client.get("/admin/imports/importjob/run/").status_code == 403
