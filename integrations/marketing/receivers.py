"""The domain's signals, turned into contacts due for a push (connected in ``ready``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from leads import signals
from leads.models import Consent, Contact, Lead

from .models import SyncState
from .services import ORIGIN, marketing_mark

logger = logging.getLogger(__name__)


def _mark_quietly(contact_id: int | None, fields: Iterable[str] = ()) -> None:
    """Mark from a signal: a failure here must never reach the change that caused it."""
    if contact_id is None:
        return
    try:
        marketing_mark(contact_id=contact_id, fields=fields)
    except Exception:
        logger.exception("could not mark contact %s for the marketing sync", contact_id)


def on_lead_changed(sender: Any, lead: Lead, **kwargs: Any) -> None:
    """A lead's news reaches the marketing list; a test lead's never does."""
    if not lead.is_test:
        _mark_quietly(lead.contact_id)


def on_contact_changed(
    sender: Any, contact: Contact, fields: list[str], origin: str = "", **kwargs: Any
) -> None:
    """A change made in the CRM is pushed; one that came from the platform is not (no echo)."""
    if origin == ORIGIN:
        return
    _mark_quietly(contact.pk, fields)


def on_consent_changed(sender: Any, consent: Consent, **kwargs: Any) -> None:
    """A STOP or START texted back (or any consent recorded later) reaches the platform."""
    _mark_quietly(consent.contact_id)


def on_people_imported(
    sender: Any, created: list[int], updated: list[int], origin: str = "", **kwargs: Any
) -> None:
    """People an import made or filled in are pushed like any other change."""
    for contact_id in [*created, *updated]:
        _mark_quietly(contact_id)


def on_people_merged_in_transaction(
    sender: Any, survivor: Contact, merged_id: int, **kwargs: Any
) -> None:
    """Before the merged person's row goes: the platform's state of them becomes the
    survivor's when the survivor has none (the member the platform knows is kept)."""
    if not SyncState.objects.filter(contact=survivor).exists():
        SyncState.objects.filter(contact_id=merged_id).update(contact=survivor)


def on_people_merged(sender: Any, survivor: Contact, **kwargs: Any) -> None:
    """The survivor, with the stricter status and every address, is pushed."""
    _mark_quietly(survivor.pk, ["marketing_status"])


def on_people_unmerged(sender: Any, survivor: Contact, restored: Contact, **kwargs: Any) -> None:
    _mark_quietly(survivor.pk, ["marketing_status"])
    _mark_quietly(restored.pk)


def connect() -> None:
    """Listen to the domain (called once, from ``MarketingConfig.ready``)."""
    lead_signals = (
        "lead_captured", "lead_assigned", "lead_claimed", "lead_accepted", "lead_status_changed",
    )  # fmt: skip
    for name in lead_signals:
        getattr(signals, name).connect(on_lead_changed, dispatch_uid=f"marketing.{name}")
    signals.contact_changed.connect(on_contact_changed, dispatch_uid="marketing.contact_changed")
    signals.consent_changed.connect(on_consent_changed, dispatch_uid="marketing.consent_changed")
    signals.people_imported.connect(on_people_imported, dispatch_uid="marketing.people_imported")
    signals.people_merged.in_transaction.connect(
        on_people_merged_in_transaction, dispatch_uid="marketing.people_merged_state"
    )
    signals.people_merged.connect(on_people_merged, dispatch_uid="marketing.people_merged")
    signals.people_unmerged.connect(on_people_unmerged, dispatch_uid="marketing.people_unmerged")
