"""The domain's signals, turned into instant replies (connected in ``ConversationsConfig``)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from leads import signals
from leads.models import Lead

from .greetings import greeting_plan, greeting_possible

logger = logging.getLogger(__name__)


def on_lead_captured(sender: Any, lead: Lead, created: bool = True, **kwargs: Any) -> None:
    """In the capture's own transaction, so the reply exists exactly when the lead does (the
    sweeper sends it if its task is lost); in a savepoint, so that a fault here never undoes
    the capture. No savepoint when no reply can be due (instant replies off, a test lead)."""
    if not created or not greeting_possible(lead):
        return
    try:
        with transaction.atomic():
            greeting_plan(lead)
    except Exception:
        logger.exception("could not plan the instant reply to lead %s", lead.pk)


def connect() -> None:
    signals.lead_captured.in_transaction.connect(
        on_lead_captured, dispatch_uid="conversations.lead_captured"
    )
