"""What the domain announces. Integrations listen; leads never imports integrations.

Each signal is sent after the transaction that made the change has committed.
"""

from __future__ import annotations

from django.dispatch import Signal

# sender=Lead, lead=Lead, created=bool
lead_captured = Signal()
# sender=Lead, lead=Lead, agent=Agent, reason=str
lead_assigned = Signal()
# sender=Lead, lead=Lead, agents=list[Agent], reason=str: first to claim, all alerted
lead_offered = Signal()
# sender=Lead, lead=Lead, agent=Agent: a pool or offered lead was claimed
lead_claimed = Signal()
# sender=Lead, lead=Lead, reason=str: nobody could take it; it waits in the team pool
lead_pooled = Signal()
# sender=Lead, lead=Lead, step=int, previous_agent=Agent|None, agent=Agent|None,
# offered=list[Agent], managers=list[Agent] (non-empty at the first breach), reason=str
lead_escalated = Signal()
# sender=Lead, lead=Lead, agent=Agent: the assigned agent accepted it (the clock stopped)
lead_accepted = Signal()
# sender=Lead, lead=Lead, before=str, after=str, agent=Agent|None: its status moved
lead_status_changed = Signal()
# sender=Contact, contact=Contact, fields=list[str], origin=str
contact_changed = Signal()
# sender=Agent, agent=Agent, fields=list[str]: the agent changed their own settings
agent_settings_changed = Signal()
