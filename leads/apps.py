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
        from django_q.signals import post_spawn

        from . import checks, live  # noqa: F401 - checks registers the checks
        from .tasks import schedules_ensure

        connection_created.connect(register_sqlite_functions, dispatch_uid="leads.sqlite_fold")
        self.connect_routing_forget()
        post_migrate.connect(schedules_ensure, sender=self, dispatch_uid="leads.schedules")
        post_spawn.connect(self.warm, dispatch_uid="leads.warm")
        live.connect()

    def connect_routing_forget(self) -> None:
        """Routing forgets the teams it knew when what it routes by is saved or deleted in this
        process (leads.routing.team_routing)."""
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from .models import Agent, RoutingRule, RuleMember, Territory
        from .routing import routing_forget

        for model in (RoutingRule, RuleMember, Territory, Agent, get_user_model()):
            name = model._meta.label_lower
            post_save.connect(routing_forget, sender=model, dispatch_uid=f"routing.saved.{name}")
            post_delete.connect(routing_forget, sender=model, dispatch_uid=f"routing.gone.{name}")
        m2m_changed.connect(
            routing_forget, sender=Territory.agents.through, dispatch_uid="routing.agents"
        )

    def warm(self, **kwargs: Any) -> None:
        """Build what a lead needs that is built on first use, as the process starts (a queue
        worker, as django-q2 spawns or recycles it; a web process, from crm/wsgi.py), so
        the first lead after a start does not wait for it."""
        import phonenumbers
        from django.core.validators import validate_email

        from .routing import zip_facts

        zip_facts("00000")  # the ZIP index: 30 ms from the shipped file
        validate_email("warm@example.com")  # the email validator's regexes, compiled lazily
        phonenumbers.parse("+12025550123")  # the US numbering metadata, loaded lazily
