"""Sending faults: our own faults that stop a channel sending, recorded while they last.

A fault (credentials, a sender not registered, a filtered sender) is recorded by the send
that meets it (``sending_fault_record``: a row, the ``ADMINS`` mailed once) and ends with the
channel's next successful send. A successful send writes nothing here: the row of every send
already says when it went (its ``sent_at``), so whoever reads the faults (``/healthz``, the
admin, the next fault's record) first clears those a send succeeded after
(``sending_faults_open``). The truth is the same in every process, whichever one met the
fault and whichever one sent next, and a send costs no statement for faults that are not
there.

The apps whose sends count register where their sent rows are (``sends_register``): the
agent alerts and the conversations with leads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.db.models import F, Min, QuerySet
from django.utils import timezone

from .channels import CHANNELS, get_channel
from .channels.base import DeliveryError
from .models import AgentAlert, SendingFault

# For a channel and a moment: when the first send on that channel after it succeeded (None:
# none did). One per app that sends, by name.
FirstSentAfter = Callable[[str, dt.datetime], dt.datetime | None]

# How far before a fault a send that succeeded after it may have been made: an SMS held for
# the agent's quiet hours waits at most a day (the rows are found through their creation's
# index, not by reading every row).
MADE_BEFORE = dt.timedelta(days=2)


def sends_register(name: str, first_sent_after: FirstSentAfter) -> None:
    """Count the sends ``first_sent_after`` finds as ending faults (from an app's ``ready``)."""
    _sends[name] = first_sent_after


def first_sent_after(rows: QuerySet[Any], since: dt.datetime) -> dt.datetime | None:
    """When the first of ``rows`` (one channel's sends) sent after ``since`` went."""
    after = rows.filter(sent_at__gt=since, created_at__gte=since - MADE_BEFORE)
    first: dt.datetime | None = after.aggregate(first=Min("sent_at"))["first"]
    return first


def alert_sent_after(channel: str, since: dt.datetime) -> dt.datetime | None:
    """The agent alerts' own sends."""
    return first_sent_after(AgentAlert.objects.filter(channel=channel), since)


_sends: dict[str, FirstSentAfter] = {"alerts": alert_sent_after}


def sending_faults_open(*, channel: str | None = None, limit: int = 20) -> list[SendingFault]:
    """The faults still open (newest first, at most ``limit``). Those a send on their channel
    succeeded after are cleared first, as of that send: they are over."""
    rows = SendingFault.objects.filter(cleared_at__isnull=True)
    if channel is not None:
        rows = rows.filter(channel=channel)
    found = []
    for fault in rows[:limit]:
        ended = min(
            (at for find in _sends.values() if (at := find(fault.channel, fault.last_seen_at))),
            default=None,
        )
        if ended is None:
            found.append(fault)
            continue
        # Unless it was met again meanwhile: then it is not over.
        SendingFault.objects.filter(
            pk=fault.pk, cleared_at__isnull=True, last_seen_at=fault.last_seen_at
        ).update(cleared_at=ended)
    return found


def sending_fault_record(*, channel: str, error: DeliveryError, where: str) -> SendingFault:
    """A configuration fault (credentials, sender, A2P registration): recorded while it lasts,
    shown on ``/healthz`` and in the admin, and the ``ADMINS`` mailed once when it appears
    (again after a successful send ended it)."""
    now = timezone.now()
    code = error.code or "?"
    sending_faults_open(channel=channel)  # one a send has ended since is not met again
    with transaction.atomic():
        fault = (
            SendingFault.objects.select_for_update()
            .filter(channel=channel, code=code, cleared_at__isnull=True)
            .first()
        )
        if fault is not None:
            SendingFault.objects.filter(pk=fault.pk).update(
                occurrences=F("occurrences") + 1, last_seen_at=now, message=str(error)[:500]
            )
            return fault
        try:
            with transaction.atomic():
                fault = SendingFault.objects.create(
                    channel=channel, code=code, message=str(error)[:500], where=where,
                    first_seen_at=now, last_seen_at=now, mailed_at=now,
                )  # fmt: skip
        except IntegrityError:  # another worker recorded it first, and mailed
            return SendingFault.objects.get(channel=channel, code=code, cleared_at__isnull=True)
    label = get_channel(channel).label if channel in CHANNELS else channel
    mail_admins(
        f"{label} sending is failing ({where}): {error}",
        f"{label} messages ({where}) cannot be sent: {error}.\n\n"
        "This is a configuration fault (credentials, sender, account or its A2P 10DLC / "
        "toll-free registration), not the recipient's: see docs/alerts.md. It is listed on "
        "/healthz and in the admin under Sending faults until a send succeeds again; failed "
        "alerts fall back to the other channel.",
    )
    return fault
