from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "integrations.conversations"
    label = "conversations"
    verbose_name = "Conversations with leads"

    def ready(self) -> None:
        from integrations.alerts import faults, inbound
        from integrations.lib.queue import schedules_connect
        from leads import extensions

        from . import panels, receivers, selectors, services, tasks

        schedules_connect(self, tasks.SCHEDULES)
        inbound.register(services.lead_text_receive)
        faults.sends_register("conversations", selectors.text_sent_after)
        receivers.connect()
        extensions.lead_panels.register("conversations", panels.conversation_panel)
        extensions.lead_marks.register("conversations", panels.unread_marks)
