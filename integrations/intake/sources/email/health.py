"""A vendor whose lead emails suddenly fail to parse (its template changed): shown on the
lead-sources health page and mailed to ``ADMINS`` once.

A failed email event's reason starts with its parser's label (``"Zillow Premier Agent email:
..."``). A vendor is *rising* when the last hour has at least
``EMAIL_VENDOR_ALERT_MIN_FAILURES`` failures and more than three times its average hour over
the day before.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.mail import mail_admins
from django.db.models import Count, Q
from django.utils import timezone

from integrations.intake.models import InboundEvent

from .parsers import parsers

logger = logging.getLogger(__name__)

HOUR = dt.timedelta(hours=1)
BASELINE = dt.timedelta(hours=24)
RISE_FACTOR = 3


@dataclass(frozen=True)
class VendorFailures:
    label: str
    last_hour: int
    day_before: int

    @property
    def rising(self) -> bool:
        usual = self.day_before / (BASELINE / HOUR)
        return (
            self.last_hour >= settings.EMAIL_VENDOR_ALERT_MIN_FAILURES
            and self.last_hour > RISE_FACTOR * usual
        )


def email_vendor_failures(*, now: dt.datetime | None = None) -> list[VendorFailures]:
    """Each parser's failed emails in the last hour and in the day before (one query each)."""
    now = now or timezone.now()
    hour_ago, day_before = now - HOUR, now - HOUR - BASELINE
    failed = InboundEvent.objects.filter(
        source="email", status=InboundEvent.Status.FAILED, received_at__gte=day_before
    )
    rows = []
    for parser in parsers():
        counts = failed.filter(error__startswith=f"{parser.label}: ").aggregate(
            last_hour=Count("pk", filter=Q(received_at__gte=hour_ago)),
            day_before=Count("pk", filter=Q(received_at__lt=hour_ago)),
        )
        if counts["last_hour"] or counts["day_before"]:
            rows.append(VendorFailures(parser.label, counts["last_hour"], counts["day_before"]))
    return rows


def email_vendor_alerts(*, now: dt.datetime | None = None) -> list[str]:
    """Mail ``ADMINS`` about each vendor whose failures are rising, once a day per vendor
    (the shared ``throttle`` cache remembers); returns the vendors mailed about."""
    mailed = []
    for row in email_vendor_failures(now=now):
        if not row.rising:
            continue
        key = "email-vendor-alert:" + "-".join(row.label.lower().split())
        if caches["throttle"].add(key, 1, timeout=24 * 3600) is False:
            continue
        logger.error(
            "lead emails from %s are failing: %d in the last hour", row.label, row.last_hour
        )
        mail_admins(
            f"Lead emails failing: {row.label}",
            f'{row.last_hour} lead email(s) read by the parser "{row.label}" failed in the last '
            f"hour ({row.day_before} in the 24 hours before). The vendor may have changed its "
            "template. The failed events are kept with their reasons in the admin (Inbound "
            "events, source email, status failed): replay them once the parser is fixed.",
            fail_silently=True,
        )
        mailed.append(row.label)
    return mailed
