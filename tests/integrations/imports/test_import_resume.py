"""A worker killed half-way through an import: the chunk it was writing rolls back, and the
next worker goes on from the rows, so every row is imported exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from integrations.imports import services
from integrations.imports.models import ImportJob, ImportRow
from leads.models import Contact, ContactEmail, Lead

from . import files
from .test_import import run

ROOT = Path(__file__).resolve().parents[3]
WORKER = """
import sys
import django
django.setup()
from integrations.imports.services import job_work
job_work(job_id=int(sys.argv[1]), seconds=3600)
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_half_way_and_another_resumes(team, mona):
    rows = files.people(10_000, bad_every=20)
    job = services.job_create(team=team, user=mona.user, name="big.csv",
                              content=files.csv_bytes(rows))  # fmt: skip
    services.job_map(job=job, mapping=job.fields)
    job = run(job)
    assert job.planned == {"create": 9_500, "fail": 500}
    services.job_start(job=job)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.test_settings",
        "DATABASE_URL": _database_url(),
        "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(job.pk)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.rows_done >= 3_000 or worker.poll() is not None:
            break
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, worker.stderr.read()  # type: ignore[union-attr]

    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    assert 3_000 <= job.rows_done < 10_000  # killed half-way
    # What was committed is exactly the chunks counted: no person without their row's result.
    written = ImportRow.objects.filter(job=job).exclude(outcome="")
    assert written.count() == job.rows_done
    assert (
        not ImportRow.objects.filter(job=job, number__gt=job.rows_done).exclude(outcome="").exists()
    )
    assert Contact.objects.count() == written.filter(outcome="create").count()

    # The sweeper rings for it once it is stale; the next worker goes on from the rows.
    assert services.jobs_sweep(now=job.heartbeat_at + _stale()) == 1
    services.job_work(job_id=job.pk, seconds=3600)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.rows_done == 10_000
    assert job.counts == {"create": 9_500, "fail": 500}
    assert Contact.objects.count() == 9_500
    assert ContactEmail.objects.count() == 9_500
    assert Lead.objects.filter(source="import").count() == 9_500
    assert not ImportRow.objects.filter(job=job, outcome="").exists()


def _stale():
    import datetime as dt

    return dt.timedelta(seconds=settings.IMPORT_STALE_SECONDS + 1)
