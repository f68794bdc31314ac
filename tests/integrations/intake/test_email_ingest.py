"""``manage.py email_ingest``: the pipe door, as Postfix and an operator use it, and its exit
statuses (sysexits: 0 stored, 65 not a message, 75 database unreachable, 66 no input)."""

from __future__ import annotations

import io
import mailbox
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from integrations.intake.models import InboundEvent
from leads.models import Lead

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "email"
SAMPLE = ROOT / "docs" / "samples" / "lead-metadata.eml"

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def intake_domain(settings):
    settings.EMAIL_INTAKE_DOMAIN = "leads.example.com"


def ingest(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run the command as the MTA would; its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    real_stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with pytest.raises(SystemExit) as exited:
            call_command("email_ingest", *args, stdout=out, stderr=err)
    finally:
        sys.stdin = real_stdin
    return int(exited.value.code or 0), out.getvalue(), err.getvalue()


def test_a_message_on_stdin_is_stored_and_exits_0_and_again_is_already_stored(team, run_queue):
    raw = (FIXTURES / "leadmetadata__head.eml").read_bytes()

    status, out, _ = ingest(stdin=raw)
    assert status == 0
    event = InboundEvent.objects.get()
    assert f"stdin: stored as event {event.public_id}" in out
    assert bytes(event.body) == raw
    assert event.meta["door"] == "pipe"

    status, out, _ = ingest(stdin=raw)
    assert status == 0
    assert "already stored" in out
    assert InboundEvent.objects.count() == 1
    run_queue()
    assert Lead.objects.count() == 1


def test_the_recipient_option_is_the_envelope_recipient(team, other_team, run_queue):
    raw = (FIXTURES / "leadmetadata__head.eml").read_bytes()
    status, _, _ = ingest("--recipient", "orlando@leads.example.com", stdin=raw)
    assert status == 0
    assert InboundEvent.objects.get().meta["recipient"] == "orlando@leads.example.com"
    run_queue()
    assert Lead.objects.get().team == other_team


def test_files_and_a_maildir_are_each_stored(team, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add((FIXTURES / "fallback__inquiry.eml").read_bytes())
    box.add((FIXTURES / "fallback__newsletter.eml").read_bytes())

    status, out, _ = ingest(
        str(FIXTURES / "leadmetadata__head.eml"), "--maildir", str(tmp_path / "Maildir")
    )

    assert status == 0
    assert out.count("stored as event") == 3
    assert InboundEvent.objects.filter(source="email").count() == 3


def test_bytes_that_are_not_a_message_exit_65_and_are_kept_failed(db):
    status, _, err = ingest(stdin=b"just some words, no header\n")

    assert status == 65
    assert "not a mail message" in err
    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.body)) == ("failed", b"just some words, no header\n")


def test_a_message_larger_than_the_limit_exits_65(db, settings):
    settings.EMAIL_INTAKE_MAX_BYTES = 1000
    raw = (FIXTURES / "leadmetadata__head.eml").read_bytes()
    assert len(raw) > 1000

    status, _, err = ingest(stdin=raw)

    assert status == 65
    assert "larger than EMAIL_INTAKE_MAX_BYTES" in err


def test_a_missing_file_exits_66(db):
    status, _, err = ingest("/nonexistent/lead.eml")
    assert status == 66
    assert "No such file" in err


def test_an_unreachable_database_exits_75_so_the_mta_retries():
    """A real process against a database port nobody listens on."""
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:9/leadline_nowhere",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "email_ingest"],
        input=SAMPLE.read_bytes(),
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 75, done.stderr.decode()
    assert b"database unreachable" in done.stderr


def test_the_shipped_sample_makes_a_lead_routed_by_its_zip(db, settings, run_queue):
    """The README's promise, with the demo's team: ``email_ingest < docs/samples/...``."""
    settings.EMAIL_INTAKE_DOMAIN = "leads.localhost"
    call_command("demo", stdout=io.StringIO())

    status, _, _ = ingest(stdin=SAMPLE.read_bytes())
    run_queue()

    assert status == 0
    lead = Lead.objects.select_related("assigned_agent", "team").get()
    assert lead.team is not None
    assert lead.team.name == "Sunrise Realty"
    assert lead.property_zip == "33139"
    assert lead.assigned_agent is not None
    assert lead.assigned_agent.user.username in ("alex", "bella")  # Miami Beach's agents
