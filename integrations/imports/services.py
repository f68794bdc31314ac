"""An import's life: uploaded, mapped, read (the dry run), started, worked a chunk at a
time in the worker, finished or cancelled.

Each chunk is one transaction that writes the chunk's rows (or their outcomes) and the
job's counters together, under a lock on the job row, so two workers never write the same
chunk and a worker killed mid-chunk leaves the job exactly at the end of the chunk before.
A worker gives the job back after ``IMPORT_TASK_SECONDS`` and rings for the next part; the
sweeper rings for a job whose worker stopped writing (``IMPORT_STALE_SECONDS``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from integrations.lib.queue import enqueue_on_commit
from leads import bulk
from leads.exports import csv_stream
from leads.models import Team

from . import fields, readers
from .models import ImportJob, ImportMapping, ImportRow

logger = logging.getLogger(__name__)
WORK_TASK = "integrations.imports.tasks.work"
CHUNK = 1000


class ImportError_(ValueError):
    """What is wrong with an upload or a mapping, for the person."""


def job_create(
    *, team: Team, user: AbstractBaseUser | AnonymousUser | None, name: str, content: bytes
) -> ImportJob:
    """Keep the uploaded file and read its header row; the mapping starts from the one the
    team used for files of this shape, or from a guess."""
    if len(content) > settings.IMPORT_MAX_BYTES:
        raise ImportError_(f"The file is larger than {settings.IMPORT_MAX_BYTES // 2**20} MB.")
    try:
        format = readers.detect_format(name, content)
        headers = readers.headers(content, format)
    except readers.UnreadableFile as error:
        raise ImportError_(str(error)) from error
    remembered = ImportMapping.objects.filter(team=team, shape=fields.shape(headers)).first()
    mapping = list(remembered.fields) if remembered else fields.guess(headers)
    return ImportJob.objects.create(
        team=team, created_by=user if isinstance(user, User) else None,
        file_name=name[:255], format=format, content=content, headers=headers, fields=mapping,
    )  # fmt: skip


def job_map(
    *, job: ImportJob, mapping: Sequence[str], consent_source: str = "", route: bool = False
) -> ImportJob:
    """Set the columns' fields and start the dry run (in the worker). The mapping is
    remembered for the team's next file of the same shape."""
    if job.status not in (ImportJob.Status.MAPPING, ImportJob.Status.READY):
        raise ImportError_("This import is past its mapping.")
    mapping = [m if m in fields.BY_KEY else "" for m in mapping][: len(job.headers)]
    mapping += [""] * (len(job.headers) - len(mapping))
    chosen = [m for m in mapping if m]
    if len(chosen) != len(set(chosen)):
        twice = sorted({fields.BY_KEY[m].label for m in chosen if chosen.count(m) > 1})
        raise ImportError_(f"Each field can take one column: {', '.join(twice)} has more.")
    if not {"email", "phone", "more_emails", "more_phones"} & set(chosen):
        raise ImportError_("Map a column to Email or Phone: that is how people are recognised.")
    consent_source = consent_source.strip()
    if set(chosen) & set(fields.CONSENT_FIELDS) and not consent_source:
        raise ImportError_("Say where and how the consents in this file were given.")
    with transaction.atomic():
        ImportMapping.objects.update_or_create(
            team=job.team, shape=fields.shape(job.headers),
            defaults={"headers": job.headers, "fields": mapping},
        )  # fmt: skip
        ImportRow.objects.filter(job=job).delete()
        job.fields, job.consent_source, job.route = mapping, consent_source, route
        job.status = ImportJob.Status.READING
        job.total_rows, job.rows_done, job.planned, job.counts = 0, 0, {}, {}
        job.heartbeat_at = None
        job.save()
        enqueue_on_commit(WORK_TASK, job.pk)
    return job


def job_start(*, job: ImportJob) -> ImportJob:
    """After the dry run: import the rows (in the worker)."""
    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.READY).update(
            status=ImportJob.Status.RUNNING, started_at=timezone.now(), heartbeat_at=None
        )
        if not updated:
            raise ImportError_("Only an import whose dry run is done can be started.")
        enqueue_on_commit(WORK_TASK, job.pk)
    job.refresh_from_db()
    return job


def job_cancel(*, job: ImportJob) -> ImportJob:
    """Stop the import after the chunk being written; what was imported stays."""
    ImportJob.objects.filter(
        pk=job.pk,
        status__in=[ImportJob.Status.MAPPING, ImportJob.Status.READING, ImportJob.Status.READY,
                    ImportJob.Status.RUNNING],
    ).update(status=ImportJob.Status.CANCELLED, finished_at=timezone.now())  # fmt: skip
    job.refresh_from_db()
    return job


class _Reader:
    """The file's rows as far as a worker has read them: kept open across the chunks of one
    task, so the file is parsed once, not once per chunk."""

    def __init__(self, job: ImportJob) -> None:
        content = ImportJob.objects.values_list("content", flat=True).get(pk=job.pk)
        self.rows = readers.rows(bytes(content), job.format)
        self.position = job.total_rows
        for _ in itertools.islice(self.rows, 1 + self.position):  # the headers, rows read
            pass

    def take(self, n: int) -> list[Any]:
        taken = list(itertools.islice(self.rows, n))
        self.position += len(taken)
        return taken


def job_work(*, job_id: int, seconds: float | None = None) -> str:
    """Work on the job for about ``seconds`` (``IMPORT_TASK_SECONDS``), a chunk per
    transaction; then ring for the rest. Returns the job's status as left."""
    seconds = settings.IMPORT_TASK_SECONDS if seconds is None else seconds
    until = time.monotonic() + seconds
    reader: list[_Reader] = []
    while True:
        status, more = _chunk(job_id, reader)
        if not more:
            return status
        if time.monotonic() >= until:
            enqueue_on_commit(WORK_TASK, job_id)
            return status


def _chunk(job_id: int, reader: list[_Reader]) -> tuple[str, bool]:
    """One chunk of the job's current phase. Returns (status, whether there is more)."""
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True)
            .defer("content")
            .filter(pk=job_id)
            .first()
        )
        if job is None:  # another worker holds it, or it is gone
            return "", False
        if job.status == ImportJob.Status.READING:
            return job.status, _read_chunk(job, reader)
        if job.status == ImportJob.Status.RUNNING:
            return job.status, _import_chunk(job)
        return job.status, False


def _read_chunk(job: ImportJob, reader: list[_Reader]) -> bool:
    """The dry run: the next rows of the file stored with what importing them would do."""
    start = job.total_rows
    try:
        if not reader or reader[0].position != start:
            reader[:] = [_Reader(job)]
        cells = reader[0].take(CHUNK)
    except readers.UnreadableFile as error:
        job.status, job.error, job.finished_at = ImportJob.Status.FAILED, str(error), timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        return False
    now = timezone.now()
    texts = [[readers.cell_text(c) for c in row] for row in cells]
    people, errors = _people(job, texts, start, now)
    valid = [p for p in people if p is not None]
    first_emails = {p.emails[0] for p in valid if p.emails}
    first_phones = {p.phones[0] for p in valid if p.phones}
    earlier = ImportRow.objects.filter(job=job).filter(
        Q(email__in=first_emails) | Q(phone__in=first_phones)
    )
    pending_emails = frozenset(e for e, _ in earlier.values_list("email", "phone") if e)
    pending_phones = frozenset(p for _, p in earlier.values_list("email", "phone") if p)
    plans = iter(
        bulk.people_plan(
            team_id=job.team_id, rows=valid, pending_emails=pending_emails,
            pending_phones=pending_phones,
        )
    )  # fmt: skip
    made = []
    for n, (values, person, why) in enumerate(zip(texts, people, errors, strict=True)):
        plan = next(plans) if person is not None else bulk.Outcome(bulk.FAIL, why)
        made.append(
            ImportRow(
                job=job, number=start + n + 1, values=values,
                email=person.emails[0] if person and person.emails else "",
                phone=person.phones[0] if person and person.phones else "",
                plan=plan.kind, plan_reason=plan.reason,
            )
        )  # fmt: skip
    ImportRow.objects.bulk_create(made)
    planned = Counter(job.planned)
    planned.update(row.plan for row in made)
    job.planned = dict(planned)
    job.total_rows = start + len(made)
    job.heartbeat_at = now
    more = len(cells) == CHUNK
    if not more:
        job.status = ImportJob.Status.READY
    job.save(update_fields=["planned", "total_rows", "heartbeat_at", "status"])
    return more


def _people(
    job: ImportJob, texts: list[list[str]], start: int, now: dt.datetime
) -> tuple[list[bulk.PersonRow | None], list[str]]:
    people: list[bulk.PersonRow | None] = []
    errors: list[str] = []
    for n, values in enumerate(texts):
        try:
            person = fields.person(
                values, job.fields, key=f"import-{job.pk}-{start + n + 1}",
                consent_source=job.consent_source, now=now,
            )  # fmt: skip
        except fields.RowError as error:
            people.append(None)
            errors.append(str(error))
        else:
            people.append(person)
            errors.append("")
    return people, errors


def _import_chunk(job: ImportJob) -> bool:
    """The next rows written: people, their leads and the rows' outcomes, with the counters."""
    rows = list(
        ImportRow.objects.filter(job=job, number__gt=job.rows_done).order_by("number")[:CHUNK]
    )
    if not rows:
        job.status, job.finished_at = ImportJob.Status.DONE, timezone.now()
        job.save(update_fields=["status", "finished_at"])
        return False
    now = timezone.now()
    people, errors = _people(job, [row.values for row in rows], rows[0].number - 1, now)
    valid = [p for p in people if p is not None]
    author = (
        job.created_by.get_full_name() or job.created_by.get_username() if job.created_by else ""
    )
    origin = f"{job.label}, by {author}" if author else job.label
    outcomes = iter(
        bulk.people_import(
            team_id=job.team_id, rows=valid, origin=origin, actor_id=job.created_by_id,
            route=job.route, now=now,
        )
    )  # fmt: skip
    counts = Counter(job.counts)
    for row, person, error in zip(rows, people, errors, strict=True):
        outcome = next(outcomes) if person is not None else bulk.Outcome(bulk.FAIL, error)
        row.outcome, row.reason = outcome.kind, outcome.reason
        row.contact_id, row.lead_id = outcome.contact_id, outcome.lead_id
        counts[outcome.kind] += 1
    _write_outcomes(rows)
    job.counts = dict(counts)
    job.rows_done = rows[-1].number
    job.heartbeat_at = now
    more = job.rows_done < job.total_rows
    if not more:
        job.status, job.finished_at = ImportJob.Status.DONE, now
    job.save(update_fields=["counts", "rows_done", "heartbeat_at", "status", "finished_at"])
    return more


def _write_outcomes(rows: list[ImportRow]) -> None:
    """The rows' outcomes in one statement: ``UPDATE ... FROM (VALUES ...)`` on PostgreSQL
    (Django's ``bulk_update`` builds a CASE per field and row, quadratic in the chunk)."""
    if connection.vendor != "postgresql":
        ImportRow.objects.bulk_update(rows, ["outcome", "reason", "contact_id", "lead_id"])
        return
    table = connection.ops.quote_name(ImportRow._meta.db_table)
    values = ", ".join(["(%s::bigint, %s, %s, %s::bigint, %s::bigint)"] * len(rows))
    params: list[Any] = []
    for row in rows:
        params += [row.pk, row.outcome, row.reason, row.contact_id, row.lead_id]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS r SET outcome = v.outcome, reason = v.reason, "  # noqa: S608
            f"contact_id = v.contact_id, lead_id = v.lead_id FROM (VALUES {values}) "
            "AS v(id, outcome, reason, contact_id, lead_id) WHERE r.id = v.id",
            params,
        )


def jobs_sweep(*, now: dt.datetime | None = None) -> int:
    """Ring for every import whose worker stopped writing (killed, restarted, lost task)."""
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.IMPORT_STALE_SECONDS)
    ids = list(
        ImportJob.objects.filter(
            status__in=[ImportJob.Status.READING, ImportJob.Status.RUNNING]
        ).filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale))
        .values_list("pk", flat=True)[:100]
    )  # fmt: skip
    for pk in ids:
        enqueue_on_commit(WORK_TASK, pk)
    return len(ids)


RESULT_HEADERS = ["Row", "Result", "Reason", "Person id", "Lead id"]


def results_stream(*, job: ImportJob) -> Iterator[bytes]:
    """Every row with its result (the import's, or the dry run's until then) and its cells,
    as CSV, streamed."""

    def data() -> Iterator[list[Any]]:
        rows = ImportRow.objects.filter(job=job).order_by("number")
        for row in rows.values_list(
            "number", "outcome", "reason", "plan", "plan_reason", "contact_id", "lead_id",
            "values",
        ).iterator(chunk_size=2000):  # fmt: skip
            number, outcome, reason, plan, plan_reason, contact_id, lead_id, values = row
            result = outcome or (f"would {plan}" if plan != bulk.FAIL else plan)
            yield [number, result, reason if outcome else plan_reason, contact_id, lead_id, *values]

    return csv_stream([*RESULT_HEADERS, *job.headers], data())


def failed_rows(*, job: ImportJob, limit: int = 50) -> list[ImportRow]:
    """The first rows that fail (the import's outcome, or the dry run's plan)."""
    rows = ImportRow.objects.filter(job=job)
    if job.status in (ImportJob.Status.DONE, ImportJob.Status.RUNNING) or job.rows_done:
        rows = rows.filter(outcome=bulk.FAIL)
    else:
        rows = rows.filter(plan=bulk.FAIL)
    return list(rows.order_by("number")[:limit])
