from typing import Any

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "integrations.alerts"
    label = "alerts"
    verbose_name = "Agent alerts"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from integrations.lib.queue import schedules_connect
        from leads import extensions

        from . import checks, forms, models, receivers, selectors, tasks  # noqa: F401 - checks registers

        receivers.connect()
        schedules_connect(self, tasks.SCHEDULES)
        extensions.timeline.register("alerts", selectors.alert_timeline)
        extensions.dashboard.register("alerts", selectors.failed_alerts_panel)
        extensions.settings_sections.register("alerts", forms.SECTION)
        extensions.settings_panels.register("push", forms.PUSH_PANEL)
        extensions.agent_reads.register("alerts", models.AGENT_READ)
        post_spawn.connect(self.warm, dispatch_uid="alerts.warm")

    def warm(self, **kwargs: Any) -> None:
        """Compile the alert templates and import the Twilio message resource (the client
        imports it lazily) as a worker starts, not on the first lead's alert."""
        from django.template.loader import get_template
        from twilio.rest.api.v2010.account import message  # noqa: F401

        for name in ("alerts/lead_alert.txt", "alerts/lead_alert.html"):
            get_template(name)
