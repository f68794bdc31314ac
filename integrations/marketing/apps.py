from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "integrations.marketing"
    label = "marketing"
    verbose_name = "Marketing sync"

    def ready(self) -> None:
        from integrations.intake.sources import source_register
        from integrations.lib.queue import schedules_connect

        from . import checks, receivers, tasks  # noqa: F401 - checks registers the system checks

        receivers.connect()
        schedules_connect(self, tasks.SCHEDULES)
        # The platform's webhooks come in through intake's door: stored raw, then applied.
        source_register("mailchimp", "integrations.marketing.hooks.MailchimpSource")
