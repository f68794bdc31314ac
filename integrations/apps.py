from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import schedules
        from .sources import checks  # noqa: F401 - registers the sources' system checks

        post_migrate.connect(schedules.ensure_schedules, sender=self)
