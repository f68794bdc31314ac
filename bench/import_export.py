"""Import and export benchmark: rows imported a second, and an export's first byte and rows a
second, on PostgreSQL.

Builds a database of its own (``leadline_bench_io``): one team, its manager. Then:

1. **Import**: a CSV of ``--rows`` people (names, email, phone, tags, status, date, notes),
   as another CRM writes it, uploaded and mapped as a manager does, its dry run and its
   import run by the worker's own function (``job_work``) in this process, each timed.
2. **Export**: the team is filled up to ``--leads`` leads with COPY, then the manager's
   ``/export/leads.csv`` and ``/export/leads.xlsx`` are requested through Django's test
   client (the whole middleware and view stack, no network): the time to the first chunk,
   then rows a second to the last byte, and how much the process's peak memory grew.

    .venv/bin/python bench/import_export.py [--rows 100000] [--leads 1000000] [--database-url ...]

Not a test: it prints its figures and exits 0. It only talks to the local PostgreSQL.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import resource
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ui import copy_rows, recreate_database, setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leadline_bench_io"
HEADERS = ["First Name", "Last Name", "E-mail", "Mobile", "Tags", "Status", "Created", "Notes"]


def phone(i: int) -> str:
    """A valid US number of its own for each ``i`` (up to 8 million)."""
    area = (305, 786, 954, 561, 407, 813, 904, 239)[i // 8_000_000 % 8]
    return f"+1{area}{200 + (i // 10_000) % 800}{i % 10_000:04d}"


def people_csv(rows: int) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for i in range(rows):
        writer.writerow([
            f"First{i}", f"Last{i}", f"person{i}@example.com", phone(i), "past client; investor",
            "contacted", f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", f"Imported note {i}",
        ])  # fmt: skip
    return b"\xef\xbb\xbf" + out.getvalue().encode()


def cpu() -> float:
    """This process's CPU seconds (user and system): on a busy machine, the app's own cost
    whatever the wall clock says (the database's CPU is not in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_import(team, user, rows: int) -> None:
    from integrations.imports import services
    from integrations.imports.models import ImportJob

    content = people_csv(rows)
    print(f"Import: {rows:,} rows, {len(content) / 2**20:.1f} MB of CSV")
    started = time.perf_counter()
    job = services.job_create(team=team, user=user, name="bench.csv", content=content)
    services.job_map(job=job, mapping=job.fields)
    upload = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), cpu()
    while services.job_work(job_id=job.pk, seconds=3600) == ImportJob.Status.READING:
        pass
    dry, dry_cpu = time.perf_counter() - started, cpu() - cpu_started
    job.refresh_from_db()
    assert job.status == ImportJob.Status.READY, job.error
    services.job_start(job=job)
    started, cpu_started = time.perf_counter(), cpu()
    while services.job_work(job_id=job.pk, seconds=3600) == ImportJob.Status.RUNNING:
        pass
    run, run_cpu = time.perf_counter() - started, cpu() - cpu_started
    job.refresh_from_db()
    print(f"  upload and header read  {upload:7.2f} s")
    print(f"  dry run                 {dry:7.2f} s  {rows / dry:8,.0f} rows/s  "
          f"{rows / dry_cpu:8,.0f} rows per CPU-second of Django  {job.planned}")  # fmt: skip
    print(f"  import                  {run:7.2f} s  {rows / run:8,.0f} rows/s  "
          f"{rows / run_cpu:8,.0f} rows per CPU-second of Django  {job.counts}")  # fmt: skip
    print(f"  dry run and import      {dry + run:7.2f} s  {rows / (dry + run):8,.0f} rows/s")


def fill(team, leads: int) -> None:
    """Up to ``leads`` leads for the team, one person each, loaded with COPY."""
    from django.db import connection
    from django.utils import timezone

    from leads.models import Contact, Lead

    have = Lead.objects.filter(team=team).count()
    missing = leads - have
    if missing <= 0:
        return
    started = time.perf_counter()
    first = (Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    copy_rows(
        Contact,
        ({"first_name": f"Fill{i}", "last_name": "Bench", "email": f"fill{i}@example.org",
          "phone": ""} for i in range(missing)),
    )  # fmt: skip
    now = timezone.now()
    copy_rows(
        Lead,
        ({"contact_id": first + i, "team_id": team.pk, "source": "webform",
          "external_id": f"fill-{i}", "status": "contacted", "received_at": now - dt.timedelta(
              minutes=i), "message": "Can we see it this Saturday?",
          "public_id": uuid.uuid4()} for i in range(missing)),
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"  filled to {leads:,} leads with COPY in {time.perf_counter() - started:.0f} s")


def bench_export(user, leads: int) -> None:
    from django.test import Client

    client = Client()
    client.force_login(user)
    for name in ("csv", "xlsx"):
        before = peak_mb()
        started = time.perf_counter()
        response = client.get(f"/export/leads.{name}")
        chunks = iter(getattr(response, "streaming_content", []))
        first = next(chunks)
        first_byte = time.perf_counter() - started
        size = len(first) + sum(len(chunk) for chunk in chunks)
        total = time.perf_counter() - started
        rows = min(leads, 1_048_575) if name == "xlsx" else leads
        print(
            f"  {name:4}  first chunk {first_byte:6.3f} s  all {total:6.1f} s  "
            f"{rows / total:8,.0f} rows/s  {size / 2**20:6.1f} MB  "
            f"peak memory +{peak_mb() - before:5.1f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows imported")
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads exported")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--export-only", action="store_true", help="reuse the database a run built; export only"
    )
    args = parser.parse_args()

    if not args.export_only:
        recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from leads.models import Agent, Lead, Team

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"PostgreSQL {version}, {os.cpu_count()} cores, load average {load}")
    if args.export_only:
        team = Team.objects.get(name="Bench")
        user = get_user_model().objects.get(username="manager")
    else:
        team = Team.objects.create(name="Bench")
        user = get_user_model().objects.create_user("manager", "manager@example.com")
        Agent.objects.create(user=user, team=team, role=Agent.Role.MANAGER,
                             display_name="Manager", email="manager@example.com",
                             working_hours={})  # fmt: skip
        bench_import(team, user, args.rows)
    print(f"Export: the manager's leads.csv and leads.xlsx, {args.leads:,} leads")
    fill(team, args.leads)
    assert Lead.objects.filter(team=team).count() == args.leads
    bench_export(user, args.leads)


if __name__ == "__main__":
    main()
