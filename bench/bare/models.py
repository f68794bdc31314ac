from __future__ import annotations

from django.db import models


class Submission(models.Model):
    """One posted body, as it came."""

    data = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    # Declared because the type checker reads Leadline's settings, where this app is not.
    objects: models.Manager[Submission] = models.Manager()

    class Meta:
        app_label = "bare"
        db_table = "submission"

    def __str__(self) -> str:
        return f"submission {self.pk}"
