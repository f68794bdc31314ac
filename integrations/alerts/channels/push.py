"""Web Push alerts: one alert row for an agent, pushed to every device they turned
notifications on for, all at once (``integrations/alerts/push.py`` says how).

The alert is sent when one device's push service took it. A device its push service no
longer knows (404, 410) is removed; one that answered nothing or 429/5xx this time is not
retried while another device took the alert. When none took it: our VAPID key refused
(401, 403) is configuration; only gone devices, permanent; anything else, tried again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from integrations.alerts import push
from integrations.alerts.facts import AlertFacts
from integrations.alerts.models import AgentAlert, PushSubscription
from leads.models import Agent

from .base import Channel, DeliveryError, SendResult


class PushChannel(Channel):
    key = "push"
    label = "Push"

    def configured(self) -> bool:
        return push.configured()

    def reachable(self, agent: Agent) -> str:
        count = PushSubscription.objects.filter(agent=agent).count()
        return f"{count} device{'s' if count != 1 else ''}" if count else ""

    def address(self, agent: Agent) -> str:
        # Turning notifications on for a device is the agent's choice: no switch besides.
        return self.reachable(agent)

    def send(self, alert: AgentAlert, facts: AlertFacts) -> SendResult:
        devices = list(PushSubscription.objects.filter(agent_id=alert.agent_id))
        if not devices:
            raise DeliveryError("no device has notifications on", permanent=True, code="none")
        data = push.payload(alert, facts)
        with ThreadPoolExecutor(max_workers=min(8, len(devices))) as pool:
            outcomes = list(pool.map(lambda device: push.deliver(device, data), devices))
        push.outcomes_record(outcomes)
        taken = [o for o in outcomes if o.ok]
        if taken:
            return SendResult(provider_id=(taken[0].message_id or "push")[:200])
        statuses = ", ".join(str(o.status or "no answer") for o in outcomes)
        if any(o.ours for o in outcomes):
            raise DeliveryError(f"push refused our VAPID key ({statuses})", configuration=True,
                                code="vapid")  # fmt: skip
        if all(o.gone for o in outcomes):
            raise DeliveryError(f"every device is gone ({statuses})", permanent=True, code="gone")
        if any(o.transient for o in outcomes):
            raise DeliveryError(f"push services answered {statuses}", code="retry")
        raise DeliveryError(f"push services refused it ({statuses})", permanent=True,
                            code="refused")  # fmt: skip

    def flag_broken(self, agent: Agent, error: DeliveryError) -> None:
        """Nothing to flag: a device its push service no longer knows was removed already."""
