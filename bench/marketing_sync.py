"""Marketing full-sync benchmark: 10,000 existing contacts to Mailchimp through batches.

Builds a PostgreSQL database of its own with N contacts (a lead each, half with
marketing-email consent), starts the test suite's fake Mailchimp on 127.0.0.1 and runs the
full sync exactly as ``manage.py marketing_sync --full`` does: batches of
``MARKETING_BATCH_SIZE`` contacts posted to ``/batches``, followed to the end. Prints the
time to build and submit the batches, the time until Mailchimp's side finished, and the
members the fake holds at the end.

    .venv/bin/python bench/marketing_sync.py [--contacts 10000] [--database-url postgres://...]

Not a test: it prints its figures and exits 0. It only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.routing import recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadline_bench_marketing"


def setup_django(database_url: str, fake_url: str, api_key: str, audience: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "localhost",
            "LOG_LEVEL": "WARNING",
            "MAILCHIMP_API_KEY": api_key,
            "MAILCHIMP_AUDIENCE_ID": audience,
            "MAILCHIMP_API_BASE_URL": fake_url,
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def build(count: int) -> None:
    """Contacts, their emails, one lead each and, for every other one, marketing consent."""
    from django.utils import timezone

    from leads.models import Consent, Contact, ContactEmail, Lead, Team

    now = timezone.now()
    team = Team.objects.create(name="Bench Realty")
    contacts = Contact.objects.bulk_create(
        (
            Contact(first_name=f"Person{n}", last_name="Bench", email=f"p{n}@bench.example")
            for n in range(count)
        ),
        batch_size=2000,
    )
    ContactEmail.objects.bulk_create(
        (ContactEmail(contact=c, email=c.email) for c in contacts), batch_size=2000
    )
    Lead.objects.bulk_create(
        (
            Lead(
                contact=c, team=team, source="zillow", external_id=f"b{c.pk}", received_at=now,
                property_zip="33139",
            )
            for c in contacts
        ),
        batch_size=2000,
    )  # fmt: skip
    Consent.objects.bulk_create(
        (
            Consent(
                contact=c, channel="marketing_email", granted=True, text="Yes", origin="bench",
                obtained_at=now,
            )
            for c in contacts[::2]
        ),
        batch_size=2000,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between progress reads")
    args = parser.parse_args(argv)
    if not args.database_url.rsplit("/", 1)[1].startswith("leadline_bench"):
        parser.error("the database name must start with leadline_bench: it is dropped first")

    from tests.integrations.marketing.fake_mailchimp import FakeMailchimp

    fake = FakeMailchimp().start()
    recreate_database(args.database_url)
    setup_django(args.database_url, fake.url, fake.api_key, fake.audience)
    from django.core.management import call_command

    from integrations.marketing.models import SyncRun, SyncState
    from integrations.marketing.services import marketing_full_sync, marketing_full_sync_start

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    build(args.contacts)
    built = time.monotonic() - started

    started = time.monotonic()
    run = marketing_full_sync_start(enqueue=False)
    assert run is not None
    run = marketing_full_sync(run_id=run.pk, wait_seconds=0)
    submitted = time.monotonic() - started
    while run.status == SyncRun.Status.RUNNING:
        time.sleep(args.poll)
        run = marketing_full_sync(run_id=run.pk, wait_seconds=0)
    total = time.monotonic() - started
    fake.stop()

    pushed = SyncState.objects.filter(pushed_at__isnull=False).count()
    print(f"contacts:                 {args.contacts:,} (built in {built:.1f} s)")
    largest = max(len(b["contacts"]) for b in run.batches)
    print(f"batches:                  {len(run.batches)} of up to {largest:,} contacts")
    print(f"operations:               {sum(len(b.operations) for b in fake.batches.values()):,}")
    print(f"prepared and submitted:   {submitted:.1f} s")
    print(f"full sync, start to end:  {total:.1f} s (polling every {args.poll} s)")
    print(
        f"run:                      {run.status}, {run.done:,}/{run.total:,}, {run.errored} refused"
    )
    print(f"members on the fake:      {len(fake.members):,}; states marked pushed: {pushed:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
