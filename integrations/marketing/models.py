"""The marketing sync's rows: each contact's state on the platform, and the sync runs.

The tables keep the names they had when the edges were one app (``integrations_*``).
"""

from __future__ import annotations

from django.db import models


class SyncState(models.Model):
    """What the marketing platform knows of one contact, and what it still has to be told.

    The row is the truth of the push path: a change to the contact sets ``due_at`` (a short
    delay, so a burst of changes makes one push) and rings the queue; the push claims the row,
    sends the contact's current facts and clears ``due_at`` unless another change came in
    meanwhile (``version``). The sweeper re-rings for every row past its ``due_at``.
    ``field_changes`` records, per field, which side changed it last and when: the newer
    change wins, and a change that came from the platform is never pushed back.
    """

    contact = models.OneToOneField(
        "leads.Contact", on_delete=models.CASCADE, related_name="marketing_sync"
    )
    email = models.EmailField(blank=True, help_text="The address the platform knows them by.")
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="Push the contact then; empty: nothing to push."
    )
    version = models.PositiveIntegerField(default=0, editable=False)
    send_status = models.CharField(
        max_length=16,
        blank=True,
        help_text="A subscription change a person made in the CRM, sent with the next push.",
    )
    pushed_hash = models.CharField(max_length=64, blank=True, editable=False)
    pushed_tags = models.JSONField(default=list, blank=True, editable=False)
    pushed_at = models.DateTimeField(null=True, blank=True)
    remote_status = models.CharField(max_length=16, blank=True)
    remote_changed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    error_permanent = models.BooleanField(
        default=False,
        help_text="The platform refused this contact for good (compliance state, forgotten "
        "email, invalid data): no more pushes until the email changes or an operator retries.",
    )
    field_changes = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per field, the last change: {"first_name": {"origin": "mailchimp", '
        '"at": "2026-11-30T10:00:00+00:00"}}.',
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "integrations_syncstate"
        verbose_name = "marketing sync state"
        indexes = [
            models.Index(
                fields=["due_at"], condition=models.Q(due_at__isnull=False), name="syncstate_due"
            ),
            models.Index(fields=["email"], name="syncstate_email"),
        ]

    def __str__(self) -> str:
        return f"Marketing sync of {self.contact}"


class SyncRun(models.Model):
    """One full sync or reconciliation with the marketing platform, and how far it got."""

    class Kind(models.TextChoices):
        FULL = "full", "Full sync (every contact, through batches)"
        RECONCILE = "reconcile", "Reconciliation (changes made on the platform)"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    total = models.PositiveIntegerField(default=0, help_text="Contacts (or members) to handle.")
    done = models.PositiveIntegerField(default=0, help_text="Handled so far.")
    errored = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Contacts the run changed.")
    batches = models.JSONField(
        default=list, blank=True, help_text="The platform's batch ids and their progress."
    )
    since = models.DateTimeField(
        null=True, blank=True, help_text="Reconciliation: members changed since then."
    )
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="Full sync: when its batches were handed over."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "integrations_syncrun"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.done / self.total))
