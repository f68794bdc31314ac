from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "integrations.imports"
    label = "imports"
    verbose_name = "Imports"

    def ready(self) -> None:
        from integrations.lib.queue import schedules_connect
        from leads import extensions

        from . import selectors, tasks

        schedules_connect(self, tasks.SCHEDULES)
        extensions.dashboard.register("imports", selectors.imports_panel)
