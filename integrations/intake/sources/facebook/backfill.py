"""The backfill: each form's leads created since the last one seen, stored through the same
path, so a lead the webhook missed arrives once and one it delivered is not doubled.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from integrations.intake.models import FacebookPage
from integrations.intake.services import event_store
from integrations.lib.encryption import DecryptionError

from .graph import LEAD_FIELDS, GraphError, graph_pages, graph_url
from .mapping import created_time
from .pages import facebook_page_needs_reauth
from .source import FacebookSource
from .webhook import facebook_id

logger = logging.getLogger(__name__)


# The backfill asks for leads a little older than the last one seen: clocks differ, and the
# duplicates it finds are answered by the events' unique external id.
BACKFILL_OVERLAP = dt.timedelta(minutes=5)


@dataclass
class BackfillResult:
    forms: int = 0
    seen: int = 0
    stored: int = 0
    error: str = ""


def facebook_backfill(*, page: FacebookPage, now: dt.datetime | None = None) -> BackfillResult:
    """Store every lead of the page's forms created since the last one seen, as events.

    Each lead is stored with ``external_id`` = its id, the webhook's ``leadgen_id``, so one
    already received is found, not doubled. A page that needs re-authorisation is skipped;
    a 190/102 answer marks it so. Returns what was seen and stored, and the error that
    stopped it, if one did.
    """
    now = now or timezone.now()
    result = BackfillResult()
    if page.status != FacebookPage.Status.ACTIVE:
        result.error = "The page needs re-authorisation."
        return result
    since = (page.last_lead_time or page.created_at) - BACKFILL_OVERLAP
    newest = page.last_lead_time
    source = FacebookSource()
    try:
        token = page.access_token()
        forms = graph_pages(
            graph_url(f"{page.page_id}/leadgen_forms"),
            token=token,
            params={"fields": "id,name,status", "limit": 100},
        )
        for form in forms:
            result.forms += 1
            for lead in _form_leads(facebook_id(form.get("id")), token, since):
                result.seen += 1
                result.stored += _store_backfilled(source, page, lead)
                created = created_time(lead, now)
                newest = max(newest, created) if newest else created
    except DecryptionError as exc:
        facebook_page_needs_reauth(page=page, reason=str(exc))
        result.error = str(exc)
    except GraphError as exc:
        if exc.needs_reauth:
            facebook_page_needs_reauth(page=page, reason=str(exc))
        logger.warning("backfill of Facebook page %s stopped: %s", page.page_id, exc)
        result.error = str(exc)
    # Only a complete pass moves the mark on; an interrupted one is asked again next time.
    fields: dict[str, dt.datetime | None] = {"last_backfill_at": now}
    if not result.error:
        fields["last_lead_time"] = newest
    FacebookPage.objects.filter(pk=page.pk).update(**fields)
    for name, value in fields.items():
        setattr(page, name, value)
    return result


def _form_leads(form_id: str, token: str, since: dt.datetime) -> Iterator[dict[str, Any]]:
    if not form_id:
        return iter(())
    filtering = [
        {"field": "time_created", "operator": "GREATER_THAN", "value": int(since.timestamp())}
    ]
    return graph_pages(
        graph_url(f"{form_id}/leads"),
        token=token,
        params={"fields": LEAD_FIELDS, "limit": 100, "filtering": json.dumps(filtering)},
    )


def _store_backfilled(source: FacebookSource, page: FacebookPage, lead: dict[str, Any]) -> int:
    """Store one Graph lead raw as an event (1) unless its id was received before (0)."""
    leadgen_id = facebook_id(lead.get("id"))
    if not leadgen_id:
        return 0
    stored = event_store(
        source=source.key,
        body=json.dumps(lead, separators=(",", ":")).encode(),
        content_type="application/json",
        external_id=leadgen_id,
        meta={
            "page_id": page.page_id,
            "form_id": facebook_id(lead.get("form_id")),
            "via": "backfill",
        },
    )
    return int(stored.created)


def facebook_backfill_all() -> dict[str, int]:
    """Backfill every active page; the scheduled task. Returns leads stored per page id."""
    return {
        page.page_id: facebook_backfill(page=page).stored
        for page in FacebookPage.objects.filter(status=FacebookPage.Status.ACTIVE)
    }
