"""What the domain announces. Integrations listen; leads never imports integrations.

Each signal is sent after the transaction that made the change has committed.
"""

from __future__ import annotations

from django.dispatch import Signal

# sender=Lead, lead=Lead, created=bool
lead_captured = Signal()
# sender=Lead, lead=Lead, agent=Agent, reason=str
lead_assigned = Signal()
# sender=Contact, contact=Contact, fields=list[str], origin=str
contact_changed = Signal()
