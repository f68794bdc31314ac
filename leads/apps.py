from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created


def register_sqlite_functions(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Give SQLite the ``leadline_fold(text)`` that PostgreSQL gets from a migration."""
    if connection.vendor == "sqlite":
        from .normalize import fold

        connection.connection.create_function("leadline_fold", 1, fold, deterministic=True)


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401 - registers the checks
        from .tasks import schedules_ensure

        connection_created.connect(register_sqlite_functions, dispatch_uid="leads.sqlite_fold")
        post_migrate.connect(schedules_ensure, sender=self, dispatch_uid="leads.schedules")
