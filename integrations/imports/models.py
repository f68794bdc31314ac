"""An import: a file of people from another CRM, its rows, and the column mapping a team
chose for files of the same shape.

The rows are the truth of where an import stands: each file row is an ``ImportRow`` (its
cells as read, the dry run's plan, then the outcome), written a chunk at a time in the
same transaction as the job's counters. A worker that dies loses at most the chunk it was
writing, which rolls back and is done again by the next one.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from leads.models import Team


class ImportMapping(models.Model):
    """The fields a team mapped the columns of a file to, remembered by the file's header
    row (its shape): the next file with the same headers starts from it."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    shape = models.CharField(max_length=64, help_text="SHA-256 of the normalised header row.")
    headers = models.JSONField(default=list)
    fields = models.JSONField(default=list, help_text="One field per column; empty: ignored.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "shape"], name="importmapping_unique_shape")
        ]

    def __str__(self) -> str:
        return f"{', '.join(self.headers)[:80]}"


class ImportJob(models.Model):
    class Status(models.TextChoices):
        MAPPING = "mapping", "Columns to map"
        READING = "reading", "Dry run"
        READY = "ready", "Dry run done"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Could not be read"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255)
    format = models.CharField(max_length=4, choices=[("csv", "CSV"), ("xlsx", "XLSX")])
    content = models.BinaryField(editable=False, help_text="The file as uploaded.")
    headers = models.JSONField(default=list)
    fields = models.JSONField(default=list, help_text="The field of each column; empty: ignored.")
    consent_source = models.CharField(
        max_length=200, blank=True, help_text="Where and how the file's consents were given."
    )
    route = models.BooleanField(
        default=False, help_text="Route these as new leads: routed and alerted like any lead."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.MAPPING)
    total_rows = models.PositiveIntegerField(default=0, help_text="Rows read so far.")
    rows_done = models.PositiveIntegerField(default=0, help_text="Rows imported so far.")
    planned = models.JSONField(default=dict, blank=True, help_text="The dry run's counts.")
    counts = models.JSONField(default=dict, blank=True, help_text="The import's counts.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker last wrote a chunk."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def label(self) -> str:
        return f"{self.file_name} (import {self.pk})"

    @property
    def active(self) -> bool:
        return self.status in (self.Status.READING, self.Status.RUNNING)

    def progress(self) -> dict[str, Any]:
        """Rows done out of the total, the rate so far (rows a second) and the time left."""
        from django.utils import timezone

        reading = self.status in (self.Status.READING,)
        done = self.total_rows if reading else self.rows_done
        total = self.total_rows
        start = self.created_at if reading else self.started_at
        end = self.heartbeat_at or timezone.now()
        seconds = (end - start).total_seconds() if start else 0.0
        rate = done / seconds if seconds > 0 and done else 0.0
        left = (total - done) / rate if rate and not reading else None
        return {
            "done": done,
            "total": total,
            "percent": int(100 * done / total) if total and not reading else 0,
            "rate": rate,
            "seconds_left": left,
        }


class ImportRow(models.Model):
    """One row of the file: its cells, the dry run's plan, and what the import did."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    number = models.PositiveIntegerField(help_text="1 is the first row under the headers.")
    values = models.JSONField(default=list)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    plan = models.CharField(max_length=8, blank=True)
    plan_reason = models.TextField(blank=True)
    outcome = models.CharField(max_length=8, blank=True)
    reason = models.TextField(blank=True)
    contact_id = models.BigIntegerField(null=True, blank=True)
    lead_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="importrow_unique_number")
        ]
        indexes = [
            models.Index(fields=["job", "email"], name="importrow_job_email"),
            models.Index(fields=["job", "phone"], name="importrow_job_phone"),
            models.Index(fields=["job", "plan"], name="importrow_job_plan"),
        ]

    def __str__(self) -> str:
        return f"row {self.number}"
