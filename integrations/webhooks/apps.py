from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "integrations.webhooks"
    label = "webhooks"
    verbose_name = "Outbound webhooks"

    def ready(self) -> None:
        from integrations.lib.queue import schedules_connect

        from . import receivers, tasks

        receivers.connect()
        schedules_connect(self, tasks.SCHEDULES)
