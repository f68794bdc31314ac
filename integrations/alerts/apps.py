from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "integrations.alerts"
    label = "alerts"
    verbose_name = "Agent alerts"

    def ready(self) -> None:
        from integrations.lib.queue import schedules_connect
        from leads import extensions

        from . import forms, receivers, selectors, tasks

        receivers.connect()
        schedules_connect(self, tasks.SCHEDULES)
        extensions.timeline.register("alerts", selectors.alert_timeline)
        extensions.dashboard.register("alerts", selectors.failed_alerts_panel)
        extensions.settings_sections.register("alerts", forms.SECTION)
