"""What the domain announces. Integrations listen; leads never imports integrations.

Each signal is a :class:`DomainSignal`, announced by the service that made the change with
:meth:`DomainSignal.announce`, inside the change's transaction. A receiver chooses when it
hears it:

- ``signal.connect(receiver)``: after the transaction has committed (the change is visible to
  everyone and final). For work that may be redone from the rows: alerts, marketing pushes.
  If the process dies right after the commit, these receivers never run: their app's sweeper
  must find what is missing from the rows.
- ``signal.in_transaction.connect(receiver)``: at once, inside the change's transaction. What
  the receiver writes commits or rolls back with the change itself (an outbox: the outbound
  webhooks' deliveries), and an error it raises undoes the change. Keep it to a few writes.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal


class DomainSignal(Signal):
    """A signal sent after the commit, with a twin (``in_transaction``) sent before it."""

    def __init__(self) -> None:
        super().__init__()
        self.in_transaction = Signal()

    def announce(self, sender: Any, **kwargs: Any) -> None:
        """Announce a change made in the current transaction (call it inside that
        transaction): the ``in_transaction`` receivers now, the others after the commit."""
        self.in_transaction.send(sender=sender, **kwargs)
        transaction.on_commit(lambda: self.send(sender=sender, **kwargs))


# sender=Lead, lead=Lead, created=bool
lead_captured = DomainSignal()
# sender=Lead, lead=Lead, agent=Agent, reason=str, repeat=bool (a person the agent already
# works with wrote again: the lead is accepted already, no clock runs; "Jordan wrote again")
lead_assigned = DomainSignal()
# sender=Lead, lead=Lead, agents=list[Agent], reason=str: first to claim, all alerted
lead_offered = DomainSignal()
# sender=Lead, lead=Lead, agent=Agent: a pool or offered lead was claimed
lead_claimed = DomainSignal()
# sender=Lead, lead=Lead, reason=str: nobody could take it; it waits in the team pool
lead_pooled = DomainSignal()
# sender=Lead, lead=Lead, step=int, previous_agent=Agent|None, agent=Agent|None,
# offered=list[Agent], managers=list[Agent] (non-empty at the first breach), reason=str
lead_escalated = DomainSignal()
# sender=Lead, lead=Lead, agent=Agent: the assigned agent accepted it (the clock stopped)
lead_accepted = DomainSignal()
# sender=Lead, lead=Lead, before=str, after=str, agent=Agent|None: its status moved
lead_status_changed = DomainSignal()
# sender=Contact, contact=Contact, fields=list[str], origin=str
contact_changed = DomainSignal()
# sender=Contact, contact=Contact, origin=str: a new person (a capture, the API, a merge's undo)
person_created = DomainSignal()
# sender=Lead, lead=Lead, activity=Activity, agent=Agent|None: a note on the lead's timeline
note_added = DomainSignal()
# sender=Lead, lead=Lead, how=str ("call", "text", "email"), activity=Activity, agent=Agent,
# outcome=str (a call's: talked, voicemail, no_answer, bad_number)
contact_logged = DomainSignal()
# sender=Lead, lead=Lead, actor=Any: the lead is about to be deleted (announced before)
lead_deleted = DomainSignal()
# sender=Contact, survivor=Contact, merged_id=int, merge=PersonMerge: two people became one
# (announced before the merged person's row is deleted: move what an edge keeps of them)
people_merged = DomainSignal()
# sender=Contact, survivor=Contact, restored=Contact, merge=PersonMerge: a merge was undone
people_unmerged = DomainSignal()
# sender=Contact, created=list[int], updated=list[int], origin=str: people written by an
# import (leads.bulk), a chunk at a time; their leads are not routed and announce nothing
people_imported = DomainSignal()
# sender=Agent, agent=Agent, fields=list[str]: the agent changed their own settings
agent_settings_changed = DomainSignal()
# sender=Task, task=Task: a follow-up fell due and its reminder is to be sent (announced once,
# in the transaction that marks it reminded: a receiver on ``in_transaction`` writes its
# reminder exactly when the mark commits)
task_due = DomainSignal()
# sender=Contact, consent=Consent: a person's consent on a channel was recorded (a STOP, a
# START, a form's answer given later)
consent_changed = DomainSignal()
# sender=Task, task=Task, agent=Agent: a follow-up was set on a lead
task_created = DomainSignal()
# sender=Task, task=Task, agent=Agent: an open follow-up was marked done or canceled
task_finished = DomainSignal()
