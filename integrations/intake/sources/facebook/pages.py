"""Facebook Pages: their tokens, and a page that needs re-authorisation (its leads wait)."""

from __future__ import annotations

import logging

from django.core.mail import mail_admins
from django.db import transaction

from integrations.intake.models import FacebookPage, InboundEvent
from integrations.intake.sources.base import RetryLater
from integrations.lib.encryption import DecryptionError

from .webhook import KEY

logger = logging.getLogger(__name__)


# A lead waiting for its page to be re-authorised is looked at again this often (and at once
# when a new token is saved).
REAUTH_WAIT_SECONDS = 60 * 60


def facebook_page_needs_reauth(*, page: FacebookPage, reason: str) -> bool:
    """Mark ``page`` as needing a new token, and tell operations once (after commit).

    Returns whether this call changed it: a page already marked is not mailed about again.
    """
    changed = FacebookPage.objects.filter(pk=page.pk, status=FacebookPage.Status.ACTIVE).update(
        status=FacebookPage.Status.NEEDS_REAUTH, status_reason=reason[:500]
    )
    page.status, page.status_reason = FacebookPage.Status.NEEDS_REAUTH, reason[:500]
    if changed:
        logger.warning("Facebook page %s needs re-authorisation: %s", page.page_id, reason)
        subject = f"Facebook page {page.name} needs re-authorisation"
        message = (
            f"Facebook refused the access token of the page {page.name} ({page.page_id}): "
            f"{reason}\n\nIts leads are kept and wait. Save a new Page access token in the "
            f"admin (Facebook pages) and they are read at once."
        )
        transaction.on_commit(lambda: mail_admins(subject, message))
    return bool(changed)


def facebook_page_set_token(*, page: FacebookPage, token: str) -> int:
    """Store a new Page access token (encrypted), make the page active again, and make the
    leads that waited for it due at once (the claimers take them). Returns how many."""
    page.set_access_token(token)
    page.status, page.status_reason = FacebookPage.Status.ACTIVE, ""
    page.save()
    waiting = list(
        InboundEvent.objects.filter(
            source=KEY, status=InboundEvent.Status.RECEIVED, meta__page_id=page.page_id
        ).values_list("pk", flat=True)
    )
    InboundEvent.objects.filter(pk__in=waiting).update(next_attempt_at=None, claimed_until=None)
    return len(waiting)


def token_for(page: FacebookPage) -> str:
    """The page's token, or ``RetryLater`` (marking the page) when there is none to use."""
    try:
        token = page.access_token()
    except DecryptionError as exc:
        reason = str(exc)
        raise RetryLater(
            f"Page {page.page_id} needs re-authorisation: {reason}",
            REAUTH_WAIT_SECONDS,
            after=lambda: facebook_page_needs_reauth(page=page, reason=reason),
        ) from exc
    if not token:
        raise RetryLater(
            f"Page {page.page_id} has no access token yet; the lead waits for one.",
            REAUTH_WAIT_SECONDS,
        )
    return token
