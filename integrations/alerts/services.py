"""The life of an alert: made as rows, sent on the queue, retried, fallen back, reported.

- ``alerts_create`` writes one ``Delivery`` per agent and usable channel (the unique key on
  lead, agent, channel, kind and step means no alert is ever made twice) and rings the
  queue after commit.
- ``alert_send`` makes one attempt at a due row; safe to call any number of times.
- ``alerts_sweep`` re-rings for rows whose time has come (retries, quiet hours, lost tasks).
- ``status_callback`` and ``inbound_sms`` handle what Twilio posts back.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.mail import mail_admins
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from integrations.lib.backoff import backoff
from integrations.lib.queue import enqueue_on_commit
from integrations.models import Delivery
from leads import services as leads_services
from leads.models import Agent, Lead, LeadOffer, from_short_code

from . import CHANNELS
from .base import DeliveryError, SendResult, alert_facts
from .sms import CONFIGURATION_CODES, RETRY_CODES

logger = logging.getLogger(__name__)

SEND_TASK = "integrations.tasks.send_alert"
# How long one attempt may hold a row: the provider's timeout and some.
LEASE = dt.timedelta(seconds=60)
# Provider statuses, ranked: a callback moves a delivery only to a higher rank.
RANK = {
    Delivery.Status.QUEUED: 0,
    Delivery.Status.SENT: 1,
    Delivery.Status.DELIVERED: 2,
    Delivery.Status.UNDELIVERED: 2,
    Delivery.Status.FAILED: 2,
    Delivery.Status.CANCELED: 2,
}
TWILIO_STATUSES = {
    "sending": Delivery.Status.SENT,
    "sent": Delivery.Status.SENT,
    "delivered": Delivery.Status.DELIVERED,
    "read": Delivery.Status.DELIVERED,
    "undelivered": Delivery.Status.UNDELIVERED,
    "failed": Delivery.Status.FAILED,
}


# --- Making alerts ------------------------------------------------------------------------


def in_quiet_hours(agent: Agent, now: dt.datetime) -> dt.datetime | None:
    """When ``agent``'s quiet hours end, if ``now`` is inside them; else None."""
    start, end = agent.quiet_hours_start, agent.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    try:
        zone = zoneinfo.ZoneInfo(agent.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += dt.timedelta(days=1)
    return ends.astimezone(dt.UTC)


def is_hot(lead: Lead) -> bool:
    """A hot lead reaches the agent's phone even in quiet hours: one from a source listed
    in ``ALERT_HOT_SOURCES``, or one its source marked hot."""
    return lead.source in settings.ALERT_HOT_SOURCES or (lead.extra or {}).get("hot") is True


# Set while a queue worker captures leads (``sending_inline``): alerts made then are sent by
# that worker at once, after their rows are committed, instead of waiting for another task.
_inline: contextvars.ContextVar[bool] = contextvars.ContextVar("alerts_inline", default=False)


@contextlib.contextmanager
def sending_inline() -> Iterator[None]:
    """Within this block (a worker's task), alerts made are sent by the same worker."""
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


def alerts_create(
    *, lead: Lead, agents: Iterable[Agent], kind: str, now: dt.datetime | None = None
) -> list[Delivery]:
    """Write the alerts about ``lead`` for ``agents``, then send them.

    One row per agent and channel the agent can be reached on. In the agent's quiet hours
    the SMS waits for their end (unless the lead is hot); email goes at once. A test lead
    alerts nobody. Rows due now are sent by this process when it is a queue worker
    capturing leads (``sending_inline``: no second trip through the queue), else by a task
    rung after commit. Returns the rows made now (an alert that exists already is not made
    again).
    """
    if lead.is_test:
        return []
    now = now or timezone.now()
    made = []
    for agent in agents:
        if not agent.is_active:
            continue
        quiet_until = in_quiet_hours(agent, now)
        for channel in CHANNELS.values():
            to = channel.address(agent) if channel.configured() else ""
            if not to:
                continue
            due = now
            if channel.key == Delivery.Channel.SMS and quiet_until and not is_hot(lead):
                due = quiet_until
            delivery = _make(
                lead.pk, lead.escalation_step, agent, channel.key, kind, to, due,
                ring=not _inline.get(),
            )  # fmt: skip
            if delivery is not None:
                made.append(delivery)
    if _inline.get():
        _send_now([d for d in made if d.next_attempt_at and d.next_attempt_at <= now])
    return made


def _send_now(deliveries: list[Delivery]) -> None:
    """Send the rows in this process, SMS first. Rows are committed already: should this
    process fail, the sweeper finds them queued and sends them."""
    ordered = sorted(deliveries, key=lambda d: d.channel != Delivery.Channel.SMS)
    for delivery in ordered:
        try:
            alert_send(delivery_id=delivery.pk)
        except Exception:
            logger.exception("alert %s: sending failed; the sweeper will retry", delivery.pk)


def _make(
    lead_id: int, step: int, agent: Agent, channel: str, kind: str, to: str, due: dt.datetime,
    fallback_for: Delivery | None = None, ring: bool = True,
) -> Delivery | None:  # fmt: skip
    """Insert the row for the lead's escalation ``step`` unless it exists; ring for it after
    commit when it is due now (and ``ring``)."""
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                lead_id=lead_id, agent=agent, channel=channel, kind=kind, step=step, to=to,
                next_attempt_at=due, fallback_for=fallback_for,
            )  # fmt: skip
    except IntegrityError:
        return None
    if ring and due <= timezone.now():
        enqueue_on_commit(SEND_TASK, delivery.pk, task_name=f"alert-{delivery.pk}")
    return delivery


# --- Sending ------------------------------------------------------------------------------


def retry_wait(attempt: int) -> dt.timedelta:
    """The wait after failed attempt ``attempt``: doubling from ``ALERT_RETRY_BASE_SECONDS``,
    with jitter (0.5x to 1.5x) so alerts failing together do not retry together."""
    return dt.timedelta(
        seconds=backoff(attempt, base=settings.ALERT_RETRY_BASE_SECONDS, jitter=0.5)
    )


def _moot(delivery: Delivery, lead: Lead) -> str:
    """Why the alert no longer needs sending ("" if it still does)."""
    mine = (Delivery.Kind.ASSIGNED, Delivery.Kind.REMINDER)
    if delivery.kind in mine and lead.assigned_agent_id != delivery.agent_id:
        return "the lead went to someone else"
    if delivery.kind == Delivery.Kind.OFFERED and lead.assigned_agent_id is not None:
        return "the lead was claimed"
    if delivery.kind in (Delivery.Kind.ASSIGNED, Delivery.Kind.REMINDER) and lead.accepted_at:
        return "the lead was accepted"
    return ""


def alert_send(*, delivery_id: int) -> Delivery | None:
    """Make one attempt at a due delivery; safe to call any number of times.

    The row is claimed by a conditional UPDATE that pushes ``next_attempt_at`` past the
    attempt's longest duration, so of two workers rung for it one sends and the other finds
    it taken; a worker that dies mid-send leaves the row to the sweeper after the lease.
    """
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=Delivery.Status.QUEUED, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("agent").get(pk=delivery_id)
    facts = alert_facts(delivery)
    reason = _moot(delivery, facts.lead)
    if reason:
        _finish(delivery, Delivery.Status.CANCELED, error=f"Not sent: {reason}.")
        return delivery
    channel = CHANNELS[delivery.channel]
    try:
        result = channel.send(delivery, facts)
    except DeliveryError as exc:
        _failed(delivery, exc)
        return delivery
    _sent(delivery, result)
    return delivery


def _finish(delivery: Delivery, status: str, *, error: str = "") -> None:
    now = timezone.now()
    delivery.status = status
    delivery.last_error = error[:2000]
    delivery.next_attempt_at = None
    fields = ["status", "last_error", "next_attempt_at", "updated_at"]
    if status in (Delivery.Status.FAILED, Delivery.Status.UNDELIVERED):
        delivery.failed_at = now
        fields.append("failed_at")
    delivery.save(update_fields=fields)


def _sent(delivery: Delivery, result: SendResult) -> None:
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED).update(
        status=result.status, provider_id=result.provider_id, sent_at=now, next_attempt_at=None,
        last_error="", error_code="", updated_at=now,
    )  # fmt: skip
    Lead.objects.filter(pk=delivery.lead_id, alert_sent_at__isnull=True).update(alert_sent_at=now)
    delivery.refresh_from_db()


def _failed(delivery: Delivery, error: DeliveryError) -> None:
    """An attempt failed: retry while it can help, else give up and fall back."""
    now = timezone.now()
    delivery.error_code = error.code
    wait = retry_wait(delivery.attempts)
    window_ends = delivery.created_at + dt.timedelta(seconds=settings.ALERT_RETRY_WINDOW_SECONDS)
    if (
        not error.permanent
        and delivery.attempts < settings.ALERT_MAX_ATTEMPTS
        and now + wait <= window_ends
    ):
        delivery.last_error = f"Attempt {delivery.attempts}: {error}"[:2000]
        delivery.next_attempt_at = now + wait
        delivery.save(update_fields=["last_error", "error_code", "next_attempt_at", "updated_at"])
        logger.info("alert %s: %s; retrying in %.0f s", delivery.pk, error, wait.total_seconds())
        return
    delivery.save(update_fields=["error_code"])
    _give_up(delivery, error, Delivery.Status.FAILED)


def _give_up(delivery: Delivery, error: DeliveryError, status: str) -> None:
    """Mark the delivery failed, flag a broken address, tell operations of our own faults,
    and send the alert on the agent's other channel instead."""
    _finish(delivery, status, error=f"Attempt {delivery.attempts}: {error}")
    logger.warning("alert %s failed for good: %s", delivery.pk, error)
    channel = CHANNELS[delivery.channel]
    if error.configuration:
        _tell_operations(delivery, error)
    elif error.permanent:
        channel.flag_broken(delivery.agent, error)
    _fall_back(delivery)


def _tell_operations(delivery: Delivery, error: DeliveryError) -> None:
    """Mail the admins about a configuration fault, once an hour per channel and code."""
    key = f"alerts:config:{delivery.channel}:{error.code}"
    if cache.add(key, 1, timeout=3600):
        mail_admins(
            f"{delivery.get_channel_display()} alerts are failing: {error}",
            f"Alerts by {delivery.get_channel_display()} cannot be sent: {error}.\n\n"
            "This is a configuration fault (credentials, sender or account), not the agent's: "
            "check the settings in docs/alerts.md. Failed alerts are listed in the admin under "
            "Integrations > Deliveries, and fall back to the other channel.",
        )


def _fall_back(delivery: Delivery) -> Delivery | None:
    """Send the same alert on the other channel, unless it went that way already. An alert
    that cannot arrive one way goes the other even if the agent turned that channel off."""
    agent = Agent.objects.get(pk=delivery.agent_id)
    for channel in CHANNELS.values():
        if channel.key == delivery.channel or not channel.configured():
            continue
        to = channel.reachable(agent)
        if not to:
            continue
        made = _make(
            delivery.lead_id, delivery.step, agent, channel.key, delivery.kind, to,
            timezone.now(), fallback_for=delivery,
        )  # fmt: skip
        if made is not None:
            return made
    return None


def alerts_remind(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Remind each agent whose assigned lead is still not accepted when its deadline is
    ``ALERT_REMINDER_SECONDS`` away (0: no reminders). Once per lead, agent and step: the
    sweeps that find the lead again are answered by the deliveries' unique key."""
    if settings.ALERT_REMINDER_SECONDS <= 0:
        return 0
    now = now or timezone.now()
    soon = now + dt.timedelta(seconds=settings.ALERT_REMINDER_SECONDS)
    due = _awaiting_acceptance().filter(sla_due_at__gt=now, sla_due_at__lte=soon)
    return _alert_assignees(due.order_by("sla_due_at")[:limit], Delivery.Kind.REMINDER)


def _awaiting_acceptance() -> QuerySet[Lead]:
    """Leads assigned to an agent who has not accepted them yet (test leads aside)."""
    return Lead.objects.filter(
        assigned_agent__isnull=False, accepted_at__isnull=True, is_test=False
    ).select_related("assigned_agent")


def _alert_assignees(leads: Iterable[Lead], kind: str) -> int:
    """Alert each lead's assigned agent; the number of alerts made."""
    made = 0
    for lead in leads:
        agents = [lead.assigned_agent] if lead.assigned_agent else []
        made += len(alerts_create(lead=lead, agents=agents, kind=kind))
    return made


# An assignment or offer this old with no alert row lost its alerts (the process died between
# the routing commit and the rows); younger ones may still be on their way.
MISSING_AFTER = dt.timedelta(seconds=30)


def alerts_recover(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Make the alerts of assignments and offers that have none: the routing committed but
    the process died before writing their rows. Looks back ``ALERT_RETRY_WINDOW_SECONDS``;
    the deliveries' unique key keeps it from making any alert twice."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.ALERT_RETRY_WINDOW_SECONDS)
    settled = now - MISSING_AFTER
    no_alert = ~Exists(
        Delivery.objects.filter(
            lead=OuterRef("pk"), agent=OuterRef("assigned_agent"), kind=Delivery.Kind.ASSIGNED,
            step=OuterRef("escalation_step"),
        )
    )  # fmt: skip
    assigned = _awaiting_acceptance().filter(
        no_alert,
        # A lead waiting to be accepted has a deadline after its assignment: this finds them
        # through the deadline's index, not by reading every lead.
        sla_due_at__gte=since,
        assigned_at__gte=since,
        assigned_at__lte=settled,
    )
    made = _alert_assignees(assigned.order_by("assigned_at")[:limit], Delivery.Kind.ASSIGNED)
    offers = (
        LeadOffer.objects.filter(
            ~Exists(
                Delivery.objects.filter(
                    lead=OuterRef("lead"), agent=OuterRef("agent"), kind=Delivery.Kind.OFFERED
                )
            ),
            status=LeadOffer.Status.OPEN,
            offered_at__gte=since,
            offered_at__lte=settled,
            lead__assigned_agent__isnull=True,
            lead__is_test=False,
        )
        .select_related("lead", "agent")
        .order_by("offered_at")[:limit]
    )
    for offer in offers:
        made += len(
            alerts_create(lead=offer.lead, agents=[offer.agent], kind=Delivery.Kind.OFFERED)
        )
    return made


def alerts_sweep(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Ring for every queued alert whose time has come: retries, the end of quiet hours,
    and rows whose task was lost or whose worker died (their lease ran out). Alerts lost
    before their rows were written, and reminders of deadlines coming up, are made first."""
    now = now or timezone.now()
    alerts_recover(now=now)
    alerts_remind(now=now)
    due = Delivery.objects.filter(status=Delivery.Status.QUEUED).filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
    )
    ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for pk in ids:
        enqueue_on_commit(SEND_TASK, pk, task_name=f"alert-{pk}")
    return len(ids)


def alerts_resend(*, deliveries: Iterable[Delivery]) -> int:
    """Send failed alerts again now (the admin's action): a new round of attempts."""
    now = timezone.now()
    count = 0
    for delivery in deliveries:
        updated = Delivery.objects.filter(
            pk=delivery.pk,
            status__in=[Delivery.Status.FAILED, Delivery.Status.UNDELIVERED],
        ).update(
            status=Delivery.Status.QUEUED, attempts=0, next_attempt_at=now, created_at=now,
            failed_at=None, updated_at=now,
        )  # fmt: skip
        if updated:
            enqueue_on_commit(SEND_TASK, delivery.pk, task_name=f"alert-{delivery.pk}")
            count += 1
    return count


# --- What Twilio posts back ------------------------------------------------------------------


def status_callback(params: Mapping[str, str]) -> Delivery | None:
    """Apply one status callback. Idempotent, and never moves a status backwards: a
    callback out of order or repeated changes nothing. A failure Twilio calls transient is
    sent again (a new attempt) while attempts remain; a permanent one falls back."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = TWILIO_STATUSES.get(params.get("MessageStatus") or params.get("SmsStatus") or "")
    if not sid or status is None:
        return None
    delivery = Delivery.objects.filter(provider_id=sid, channel=Delivery.Channel.SMS).first()
    if delivery is None:
        return None
    now = timezone.now()
    lower = [s for s, rank in RANK.items() if rank < RANK[status]]
    code = (params.get("ErrorCode") or "").strip()
    changes: dict[str, object] = {"status": status, "updated_at": now}
    if status == Delivery.Status.DELIVERED:
        changes["delivered_at"] = now
    if status in (Delivery.Status.FAILED, Delivery.Status.UNDELIVERED):
        changes.update(failed_at=now, error_code=code, last_error=f"Twilio {code}: {status}")
    moved = Delivery.objects.filter(pk=delivery.pk, provider_id=sid, status__in=lower).update(
        **changes
    )
    if not moved:
        return delivery
    delivery.refresh_from_db()
    if status == Delivery.Status.DELIVERED:
        Lead.objects.filter(pk=delivery.lead_id, alert_delivered_at__isnull=True).update(
            alert_delivered_at=now
        )
    elif status in (Delivery.Status.FAILED, Delivery.Status.UNDELIVERED):
        _failed_on_the_way(delivery, code, status)
    return delivery


def _failed_on_the_way(delivery: Delivery, code: str, status: str) -> None:
    """The carrier could not deliver: send again if the code says it may pass later."""
    number = int(code) if code.isdigit() else None
    error = DeliveryError(
        f"Twilio {code or '?'}: {status}",
        permanent=number not in RETRY_CODES,
        configuration=number in CONFIGURATION_CODES,
        code=code,
    )
    window_ends = delivery.created_at + dt.timedelta(seconds=settings.ALERT_RETRY_WINDOW_SECONDS)
    now = timezone.now()
    if (
        not error.permanent
        and delivery.attempts < settings.ALERT_MAX_ATTEMPTS
        and now < window_ends
    ):
        Delivery.objects.filter(pk=delivery.pk, status=status).update(
            status=Delivery.Status.QUEUED, next_attempt_at=now + retry_wait(delivery.attempts),
            provider_id="", failed_at=None, updated_at=now,
            last_error=f"Attempt {delivery.attempts} ({delivery.provider_id}): {error}",
        )  # fmt: skip
        return
    _give_up(delivery, error, status)


STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_WORDS = frozenset({"START", "UNSTOP"})
CLAIM_WORDS = frozenset({"Y", "YES", "CLAIM"})


def agent_for_phone(phone: str) -> Agent | None:
    """The active agent whose mobile phone sent the text."""
    return Agent.objects.filter(mobile_phone=phone, is_active=True).select_related("user").first()


def inbound_sms(params: Mapping[str, str]) -> str:
    """An agent's text: claim or accept a lead, pause or resume SMS alerts, or a note.

    ``Y``, ``YES`` or ``CLAIM`` (optionally followed by a lead's short code), or the short
    code alone, takes the lead the agent was last alerted about (or the one named). The
    STOP family pauses the agent's SMS alerts (email goes on) and START resumes them; Twilio
    answers those itself. Anything else becomes a note on the lead of the last alert.
    Returns the reply to text back ("" for none).
    """
    agent = agent_for_phone(params.get("From", ""))
    if agent is None:
        return ""
    body = " ".join((params.get("Body") or "").split())
    words = body.upper().strip(".!").split()
    opt = (params.get("OptOutType") or "").upper()
    if opt == "STOP" or (len(words) == 1 and words[0] in STOP_WORDS):
        Agent.objects.filter(pk=agent.pk).update(sms_opted_out_at=timezone.now())
        return ""
    if opt == "START" or (len(words) == 1 and words[0] in START_WORDS):
        Agent.objects.filter(pk=agent.pk).update(sms_opted_out_at=None)
        return ""
    if not words:
        return ""
    named = _alerted_lead(agent, words[-1]) if len(words) <= 2 else None
    if (words[0] in CLAIM_WORDS and len(words) <= 2) or (len(words) == 1 and named is not None):
        lead = named or _last_alerted_lead(agent)
        if lead is None:
            return "No lead to claim: no alert was sent to you yet."
        return _claim(lead, agent)
    lead = _last_alerted_lead(agent)
    if lead is None:
        return "Leadline got your text, but there is no lead to add it to."
    try:
        leads_services.lead_add_note(lead=lead, agent=agent, text=f"By SMS: {body}")
    except PermissionDenied:
        return f"That lead is not yours, so your text was not added to it. {_link(lead)}"
    return ""


def _claim(lead: Lead, agent: Agent) -> str:
    result = leads_services.lead_claim(lead=lead, agent=agent)
    lead.refresh_from_db()
    name = lead.contact.full_name or "the lead"
    if result.won:
        return f"{name} is yours. Call them now: {_link(lead)}"
    if result.holder is not None:
        return f"Too late: {result.holder} has {name}."
    return f"You cannot take {name}. {_link(lead)}"


def _link(lead: Lead) -> str:
    return settings.SITE_URL + lead.get_short_url()


def _alerted_lead(agent: Agent, code: str) -> Lead | None:
    """The lead with short code ``code``, if the agent was alerted about it."""
    pk = from_short_code(code)
    if pk is None or not Delivery.objects.filter(agent=agent, lead_id=pk).exists():
        return None
    return Lead.objects.select_related("contact").get(pk=pk)


def _last_alerted_lead(agent: Agent) -> Lead | None:
    latest = (
        Delivery.objects.filter(agent=agent)
        .exclude(kind=Delivery.Kind.ESCALATED)
        .order_by("-created_at", "-id")
        .select_related("lead__contact")
        .first()
    )
    if latest is None:
        latest = Delivery.objects.filter(agent=agent).order_by("-created_at", "-id").first()
    return latest.lead if latest else None
