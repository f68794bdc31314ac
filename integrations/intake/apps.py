from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "integrations.intake"
    label = "intake"
    verbose_name = "Lead intake"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from integrations.lib.queue import schedules_connect
        from leads import extensions

        # The checks modules register the sources' system checks when imported.
        from . import checks, tasks  # noqa: F401
        from .models import WebForm
        from .selectors import web_forms_forget
        from .sources.email import settings_section
        from .sources.facebook import checks as facebook_checks  # noqa: F401

        schedules_connect(self, tasks.SCHEDULES)
        extensions.settings_sections.register("email", settings_section.SECTION)
        post_save.connect(web_forms_forget, sender=WebForm, dispatch_uid="intake.forms_saved")
        post_delete.connect(web_forms_forget, sender=WebForm, dispatch_uid="intake.forms_deleted")

        from anymail.signals import inbound

        from .sources.email.webhooks import email_inbound

        inbound.connect(email_inbound, dispatch_uid="intake.email_inbound")

        from django_q.signals import post_spawn

        from .claims import claimer_start

        # Each queue worker process claims inbound events from their rows (after the apps
        # before this one warmed the process on the same signal).
        post_spawn.connect(claimer_start, dispatch_uid="intake.claimer")
