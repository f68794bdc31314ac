"""The life of an alert: made as rows, sent on the queue, retried, fallen back, reported.

- ``alerts_create`` writes one ``AgentAlert`` per agent and usable channel (the unique key on
  lead, agent, channel, kind and step means no alert is ever made twice) and rings the
  queue after commit.
- ``alert_send`` makes one attempt at a due row; safe to call any number of times.
- ``alerts_sweep`` re-rings for rows whose time has come (retries, quiet hours, lost tasks).
- ``alert_status_record`` moves an alert on with what its provider reports, and
  ``agent_text_receive`` acts on an agent's text (a claim, STOP, a note); the provider's own
  words are read by its channel module (``channels/sms.py`` for Twilio).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from integrations.lib.backoff import backoff
from integrations.lib.queue import enqueue_on_commit, in_worker
from leads import services as leads_services
from leads.models import Agent, Lead, LeadOffer, Task, from_short_code

from .channels import channels, get_channel
from .channels.base import DeliveryError, SendResult
from .facts import AlertFacts, alert_facts
from .faults import sending_fault_record
from .models import PREFERENCES, AgentAlert, AlertSettings, alert_settings_for

logger = logging.getLogger(__name__)

SEND_TASK = "integrations.alerts.tasks.send"
# How long one attempt may hold a row: the provider's timeout and some.
LEASE = dt.timedelta(seconds=60)
# Provider statuses, ranked: a callback moves a alert only to a higher rank.
RANK: dict[str, int] = {
    AgentAlert.Status.QUEUED: 0,
    AgentAlert.Status.SENT: 1,
    AgentAlert.Status.DELIVERED: 2,
    AgentAlert.Status.UNDELIVERED: 2,
    AgentAlert.Status.FAILED: 2,
    AgentAlert.Status.CANCELED: 2,
}


# --- The agent's alert settings ---------------------------------------------------------


def alert_settings_set(*, agent: Agent, **fields: object) -> AlertSettings:
    """Write ``fields`` of the agent's alert settings (their row made when they have none)."""
    known, _ = AlertSettings.objects.update_or_create(agent=agent, defaults=fields)
    agent.alert_settings = known  # what this agent reads from now on
    return known


def alert_settings_update(*, agent: Agent, actor: Agent, **changes: object) -> list[str]:
    """The agent's (or their team manager's) change of their alert preferences; returns what
    changed, in words (the settings page writes it to the agent's history). Unknown names
    raise ``ValueError``."""
    if actor.pk != agent.pk and not (actor.is_manager and actor.team_id == agent.team_id):
        raise PermissionDenied("An agent changes only their own settings.")
    unknown = set(changes) - set(PREFERENCES)
    if unknown:
        raise ValueError(f"{', '.join(sorted(unknown))}: not an alert preference.")
    known = alert_settings_for(agent)
    changed = [name for name, value in changes.items() if getattr(known, name) != value]
    if changed:
        alert_settings_set(agent=agent, **{name: changes[name] for name in changed})
    return [
        str(getattr(AlertSettings._meta.get_field(name), "verbose_name", name)) for name in changed
    ]


# --- Making alerts ------------------------------------------------------------------------


def in_quiet_hours(agent: Agent, now: dt.datetime) -> dt.datetime | None:
    """When ``agent``'s quiet hours end, if ``now`` is inside them; else None."""
    known = alert_settings_for(agent)
    start, end = known.quiet_hours_start, known.quiet_hours_end
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


def alerts_create(
    *,
    lead: Lead,
    agents: Iterable[Agent],
    kind: str,
    now: dt.datetime | None = None,
    here_if_worker: bool = True,
    task: Task | None = None,
    body: str = "",
    routing: str | None = None,
) -> list[AgentAlert]:
    """Write the alerts about ``lead`` for ``agents``, then send them.

    One row per agent and channel the agent can be reached on. In the agent's quiet hours a
    channel that waits for them (SMS) waits for their end, unless the lead is hot; the others
    go at once. A test lead alerts nobody. Each row due now is sent after the commit: by this
    process when it is a queue worker and ``here_if_worker`` (the worker that routed the lead
    sends its alerts itself, one queue trip fewer: speed to lead), else by a task rung for
    it; the sweeps that make many alerts at once ring instead. Returns the rows made now (an
    alert that exists already is not made again). ``body``, when given, is the text an SMS
    says (a person's reply: "Jordan replied: ...") instead of the one composed from the lead.

    Sent here, a row is written already claimed for its first attempt (as ``alert_send``
    claims one: a lease on ``next_attempt_at``), and sent with the ``lead`` and the agents
    in memory and the ``routing`` reason the caller gives (read from the database when
    None), not read again; should the process die first, the sweeper sends it when the lease
    runs out.
    """
    if lead.is_test:
        return []
    now = now or timezone.now()
    here = here_if_worker and in_worker()
    rows = []
    for agent in agents:
        if not agent.is_active:
            continue
        quiet_until = in_quiet_hours(agent, now)
        for channel in channels():
            to = channel.address(agent) if channel.configured() else ""
            if not to:
                continue
            due = now
            if channel.waits_for_quiet_hours and quiet_until and not is_hot(lead):
                due = quiet_until
            claim = here and due <= now
            task_id = task.pk if task else None
            step = lead.escalation_step
            rows.append(
                _row(lead.pk, step, agent, channel.key, kind, to, due, claim, task_id, body)
            )
    made = _insert(rows)
    send_here = [alert for alert in made if alert.attempts]
    if send_here:
        transaction.on_commit(lambda: _send_claimed(send_here, lead, routing))
    return made


def _row(
    lead_id: int, step: int, agent: Agent, channel: str, kind: str, to: str, due: dt.datetime,
    claim: bool = False, task_id: int | None = None, body: str = "",
    fallback_for: AgentAlert | None = None,
) -> AgentAlert:  # fmt: skip
    """The row of one alert for the lead's escalation ``step``, not saved yet. ``claim``:
    the caller sends it itself, after the commit (the row is written claimed for that
    attempt: a lease on ``next_attempt_at``, its first attempt counted)."""
    alert = AgentAlert(
        lead_id=lead_id, agent=agent, channel=channel, kind=kind, step=step, to=to,
        next_attempt_at=due, fallback_for=fallback_for, task_id=task_id, body=body,
    )  # fmt: skip
    if claim:
        alert.next_attempt_at, alert.attempts = timezone.now() + LEASE, 1
    return alert


def _insert(rows: list[AgentAlert]) -> list[AgentAlert]:
    """Insert ``rows`` in one statement and return them. Should one exist already (the
    alerts' unique key: a sweep, a signal heard twice), each is inserted alone and those
    that exist are left out. A row its caller did not claim and due now is rung for after
    the commit. Inside a transaction each try is a savepoint: a duplicate leaves the
    caller's work be."""
    if not rows:
        return []
    try:
        with _savepoint():
            _insert_all(rows)
        made = rows
    except IntegrityError:
        made = []
        for row in rows:
            try:
                with _savepoint():
                    row.save(force_insert=True)
            except IntegrityError:
                continue
            made.append(row)
    now = timezone.now()
    for alert in made:
        if not alert.attempts and alert.next_attempt_at and alert.next_attempt_at <= now:
            enqueue_on_commit(SEND_TASK, alert.pk, task_name=f"alert-{alert.pk}")
    return made


def _insert_all(rows: list[AgentAlert]) -> None:
    """One INSERT for all ``rows``, their ids set: what ``bulk_create`` does, without the
    transaction it opens around the insert (outside one: a BEGIN and a COMMIT more, the
    round trips this saves). A failed insert writes no row."""
    meta = AgentAlert._meta
    if len(rows) == 1 or not connection.features.can_return_rows_from_bulk_insert:
        for row in rows:
            row.save(force_insert=True)
        return
    fields = [f for f in meta.concrete_fields if not f.generated and f is not meta.pk]
    returning = meta.db_returning_fields
    # ``QuerySet._insert`` is how ``Model.save`` and ``bulk_create`` insert (not in the stubs).
    insert: Any = AgentAlert.objects.all()._insert  # type: ignore[attr-defined]
    returned = insert(rows, fields=fields, returning_fields=returning)
    for row, values in zip(rows, returned, strict=True):
        for field, value in zip(returning, values, strict=True):
            setattr(row, field.attname, value)
        row._state.adding, row._state.db = False, connection.alias


def _savepoint() -> AbstractContextManager[object]:
    """A savepoint inside a transaction; outside one, nothing (each statement commits alone)."""
    if transaction.get_connection().in_atomic_block:
        return transaction.atomic()
    return nullcontext()


def _send_claimed(alerts: list[AgentAlert], lead: Lead, routing: str | None) -> None:
    """Send alerts claimed for this process (see ``alerts_create``), one after the other; an
    error is logged and leaves the row to the sweeper."""
    for alert in alerts:
        try:
            _attempt(alert, alert_facts(alert, lead=lead, routing=routing))
        except Exception:
            logger.exception("alert %s failed in this worker; the sweeper will retry", alert.pk)


# --- Sending ------------------------------------------------------------------------------


def retry_wait(attempt: int) -> dt.timedelta:
    """The wait after failed attempt ``attempt``: doubling from ``ALERT_RETRY_BASE_SECONDS``,
    with jitter (0.5x to 1.5x) so alerts failing together do not retry together."""
    return dt.timedelta(
        seconds=backoff(attempt, base=settings.ALERT_RETRY_BASE_SECONDS, jitter=0.5)
    )


def _moot(alert: AgentAlert, lead: Lead) -> str:
    """Why the alert no longer needs sending ("" if it still does)."""
    if alert.kind == AgentAlert.Kind.FOLLOW_UP:
        task = Task.objects.filter(pk=alert.task_id or 0).only("status", "agent_id").first()
        if task is None or task.status != Task.Status.OPEN:
            return "the follow-up was done"
        if task.agent_id != alert.agent_id:
            return "the follow-up went to someone else"
        return ""
    mine = (
        AgentAlert.Kind.ASSIGNED,
        AgentAlert.Kind.REMINDER,
        AgentAlert.Kind.REPLIED,
        AgentAlert.Kind.REPEAT,
    )
    if alert.kind in mine and lead.assigned_agent_id != alert.agent_id:
        return "the lead went to someone else"
    if alert.kind == AgentAlert.Kind.OFFERED and lead.assigned_agent_id is not None:
        return "the lead was claimed"
    if alert.kind in (AgentAlert.Kind.ASSIGNED, AgentAlert.Kind.REMINDER) and lead.accepted_at:
        return "the lead was accepted"
    return ""


def alert_send(*, alert_id: int) -> AgentAlert | None:
    """Make one attempt at a due alert; safe to call any number of times.

    The row is claimed by a conditional UPDATE that pushes ``next_attempt_at`` past the
    attempt's longest duration, so of two workers rung for it one sends and the other finds
    it taken; a worker that dies mid-send leaves the row to the sweeper after the lease.
    """
    now = timezone.now()
    claimed = AgentAlert.objects.filter(
        pk=alert_id, status=AgentAlert.Status.QUEUED, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    if not claimed:
        return None
    alert = AgentAlert.objects.select_related("agent__alert_settings").get(pk=alert_id)
    _attempt(alert, alert_facts(alert))
    return alert


def _attempt(alert: AgentAlert, facts: AlertFacts) -> None:
    """Send a claimed alert once and record how it went."""
    reason = _moot(alert, facts.lead)
    if reason:
        _finish(alert, AgentAlert.Status.CANCELED, error=f"Not sent: {reason}.")
        return
    channel = get_channel(alert.channel)
    try:
        result = channel.send(alert, facts)
    except DeliveryError as exc:
        _failed(alert, exc)
        return
    _sent(alert, result, facts.lead)


def _finish(alert: AgentAlert, status: str, *, error: str = "") -> None:
    now = timezone.now()
    alert.status = status
    alert.last_error = error[:2000]
    alert.next_attempt_at = None
    fields = ["status", "last_error", "next_attempt_at", "updated_at"]
    if status in (AgentAlert.Status.FAILED, AgentAlert.Status.UNDELIVERED):
        alert.failed_at = now
        fields.append("failed_at")
    alert.save(update_fields=fields)


def _sent(alert: AgentAlert, result: SendResult, lead: Lead) -> None:
    now = timezone.now()
    changes = {
        "status": result.status, "provider_id": result.provider_id, "sent_at": now,
        "next_attempt_at": None, "last_error": "", "error_code": "", "updated_at": now,
    }  # fmt: skip
    moved = AgentAlert.objects.filter(pk=alert.pk, status=AgentAlert.Status.QUEUED).update(
        **changes
    )
    if moved:
        for name, value in changes.items():
            setattr(alert, name, value)
    else:  # a status callback came first: it holds the truth
        alert.refresh_from_db()
    # Speed to lead counts the lead's own alerts (not follow-ups), from the first one out;
    # known here when the lead was just read or written (no query after the first).
    if alert.kind != AgentAlert.Kind.FOLLOW_UP and lead.alert_sent_at is None:
        Lead.objects.filter(pk=lead.pk, alert_sent_at__isnull=True).update(alert_sent_at=now)
        lead.alert_sent_at = now


def _failed(alert: AgentAlert, error: DeliveryError) -> None:
    """An attempt failed: retry while it can help, else give up and fall back."""
    now = timezone.now()
    alert.error_code = error.code
    wait = retry_wait(alert.attempts)
    window_ends = alert.created_at + dt.timedelta(seconds=settings.ALERT_RETRY_WINDOW_SECONDS)
    if (
        not error.permanent
        and alert.attempts < settings.ALERT_MAX_ATTEMPTS
        and now + wait <= window_ends
    ):
        alert.last_error = f"Attempt {alert.attempts}: {error}"[:2000]
        alert.next_attempt_at = now + wait
        alert.save(update_fields=["last_error", "error_code", "next_attempt_at", "updated_at"])
        logger.info("alert %s: %s; retrying in %.0f s", alert.pk, error, wait.total_seconds())
        return
    alert.save(update_fields=["error_code"])
    _give_up(alert, error, AgentAlert.Status.FAILED)


def _give_up(alert: AgentAlert, error: DeliveryError, status: str) -> None:
    """Mark the alert failed, flag a broken address, tell operations of our own faults,
    and send the alert on the agent's other channel instead."""
    _finish(alert, status, error=f"Attempt {alert.attempts}: {error}")
    logger.warning("alert %s failed for good: %s", alert.pk, error)
    channel = get_channel(alert.channel)
    if error.configuration:
        _tell_operations(alert, error)
    elif error.permanent:
        channel.flag_broken(alert.agent, error)
    _fall_back(alert)


def _tell_operations(alert: AgentAlert, error: DeliveryError) -> None:
    sending_fault_record(channel=alert.channel, error=error, where="agent alerts")


def _fall_back(alert: AgentAlert) -> AgentAlert | None:
    """Send the same alert on the other channel, unless it went that way already. An alert
    that cannot arrive one way goes the other even if the agent turned that channel off."""
    agent = Agent.objects.get(pk=alert.agent_id)
    for channel in channels():
        if channel.key == alert.channel or not channel.configured():
            continue
        to = channel.reachable(agent)
        if not to:
            continue
        row = _row(
            alert.lead_id, alert.step, agent, channel.key, alert.kind, to,
            timezone.now(), fallback_for=alert, task_id=alert.task_id,
        )  # fmt: skip
        if made := _insert([row]):
            return made[0]
    return None


def alerts_remind(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Remind each agent whose assigned lead is still not accepted when its deadline is
    ``ALERT_REMINDER_SECONDS`` away (0: no reminders). Once per lead, agent and step: the
    sweeps that find the lead again are answered by the alerts' unique key."""
    if settings.ALERT_REMINDER_SECONDS <= 0:
        return 0
    now = now or timezone.now()
    soon = now + dt.timedelta(seconds=settings.ALERT_REMINDER_SECONDS)
    due = _awaiting_acceptance().filter(sla_due_at__gt=now, sla_due_at__lte=soon)
    return _alert_assignees(due.order_by("sla_due_at")[:limit], AgentAlert.Kind.REMINDER)


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
        made += len(alerts_create(lead=lead, agents=agents, kind=kind, here_if_worker=False))
    return made


# An assignment or offer this old with no alert row lost its alerts (the process died between
# the routing commit and the rows); younger ones may still be on their way.
MISSING_AFTER = dt.timedelta(seconds=30)


def alerts_recover(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Make the alerts of assignments and offers that have none: the routing committed but
    the process died before writing their rows. Looks back ``ALERT_RETRY_WINDOW_SECONDS``;
    the alerts' unique key keeps it from making any alert twice."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.ALERT_RETRY_WINDOW_SECONDS)
    settled = now - MISSING_AFTER
    no_alert = ~Exists(
        AgentAlert.objects.filter(
            lead=OuterRef("pk"), agent=OuterRef("assigned_agent"), kind=AgentAlert.Kind.ASSIGNED,
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
    made = _alert_assignees(assigned.order_by("assigned_at")[:limit], AgentAlert.Kind.ASSIGNED)
    offers = (
        LeadOffer.objects.filter(
            ~Exists(
                AgentAlert.objects.filter(
                    lead=OuterRef("lead"), agent=OuterRef("agent"), kind=AgentAlert.Kind.OFFERED
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
            alerts_create(
                lead=offer.lead,
                agents=[offer.agent],
                kind=AgentAlert.Kind.OFFERED,
                here_if_worker=False,
            )
        )
    return made


def alerts_sweep(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Ring for every queued alert whose time has come: retries, the end of quiet hours,
    and rows whose task was lost or whose worker died (their lease ran out). Alerts lost
    before their rows were written, and reminders of deadlines coming up, are made first."""
    now = now or timezone.now()
    alerts_recover(now=now)
    alerts_remind(now=now)
    due = AgentAlert.objects.filter(status=AgentAlert.Status.QUEUED).filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
    )
    ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for pk in ids:
        enqueue_on_commit(SEND_TASK, pk, task_name=f"alert-{pk}")
    return len(ids)


def alerts_resend(*, alerts: Iterable[AgentAlert]) -> int:
    """Send failed alerts again now (the admin's action): a new round of attempts."""
    now = timezone.now()
    count = 0
    for alert in alerts:
        updated = AgentAlert.objects.filter(
            pk=alert.pk,
            status__in=[AgentAlert.Status.FAILED, AgentAlert.Status.UNDELIVERED],
        ).update(
            status=AgentAlert.Status.QUEUED, attempts=0, next_attempt_at=now, created_at=now,
            failed_at=None, updated_at=now,
        )  # fmt: skip
        if updated:
            enqueue_on_commit(SEND_TASK, alert.pk, task_name=f"alert-{alert.pk}")
            count += 1
    return count


# --- What providers report back -------------------------------------------------------------


def alert_status_record(
    *, channel: str, provider_id: str, status: str, error: DeliveryError | None = None
) -> AgentAlert | None:
    """Move the alert the provider knows as ``provider_id`` on to ``status``.

    Idempotent, and never moves a status backwards: a report out of order or repeated
    changes nothing. A failure on the way (``error``, read by the channel from the provider's
    code) is sent again as a new attempt when it may pass later and attempts remain, else the
    alert gives up and falls back to another channel. Returns the alert, or None when no
    alert has that id.
    """
    alert = AgentAlert.objects.filter(provider_id=provider_id, channel=channel).first()
    if alert is None:
        return None
    now = timezone.now()
    lower = [s for s, rank in RANK.items() if rank < RANK[status]]
    failed = status in (AgentAlert.Status.FAILED, AgentAlert.Status.UNDELIVERED)
    changes: dict[str, object] = {"status": status, "updated_at": now}
    if status == AgentAlert.Status.DELIVERED:
        changes["delivered_at"] = now
    if failed:
        changes.update(failed_at=now, error_code=error.code if error else "", last_error=str(error))
    moved = AgentAlert.objects.filter(
        pk=alert.pk, provider_id=provider_id, status__in=lower
    ).update(**changes)
    if not moved:
        return alert
    alert.refresh_from_db()
    if status == AgentAlert.Status.DELIVERED and alert.kind != AgentAlert.Kind.FOLLOW_UP:
        Lead.objects.filter(pk=alert.lead_id, alert_delivered_at__isnull=True).update(
            alert_delivered_at=now
        )
    elif failed:
        _failed_on_the_way(alert, error or DeliveryError(status, permanent=True), status)
    return alert


def _failed_on_the_way(alert: AgentAlert, error: DeliveryError, status: str) -> None:
    """The provider could not deliver: send again if the error says it may pass later."""
    window_ends = alert.created_at + dt.timedelta(seconds=settings.ALERT_RETRY_WINDOW_SECONDS)
    now = timezone.now()
    if not error.permanent and alert.attempts < settings.ALERT_MAX_ATTEMPTS and now < window_ends:
        AgentAlert.objects.filter(pk=alert.pk, status=status).update(
            status=AgentAlert.Status.QUEUED, next_attempt_at=now + retry_wait(alert.attempts),
            provider_id="", failed_at=None, updated_at=now,
            last_error=f"Attempt {alert.attempts} ({alert.provider_id}): {error}",
        )  # fmt: skip
        return
    _give_up(alert, error, status)


STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_WORDS = frozenset({"START", "UNSTOP"})
CLAIM_WORDS = frozenset({"Y", "YES", "CLAIM"})


def agent_for_phone(phone: str) -> Agent | None:
    """The active agent whose mobile phone sent the text."""
    return Agent.objects.filter(mobile_phone=phone, is_active=True).select_related("user").first()


def agent_text_receive(*, phone: str, body: str, opt_out: str = "") -> str:
    """An agent's text: claim or accept a lead, pause or resume SMS alerts, or a note.

    ``Y``, ``YES`` or ``CLAIM`` (optionally followed by a lead's short code), or the short
    code alone, takes the lead the agent was last alerted about (or the one named). The
    STOP family pauses the agent's SMS alerts (email goes on) and START resumes them; Twilio
    answers those itself. Anything else becomes a note on the lead of the last alert.
    Returns the reply to text back ("" for none).
    """
    agent = agent_for_phone(phone)
    if agent is None:
        return ""
    body = " ".join(body.split())
    words = body.upper().strip(".!").split()
    opt = opt_out.upper()
    if opt == "STOP" or (len(words) == 1 and words[0] in STOP_WORDS):
        alert_settings_set(agent=agent, sms_opted_out_at=timezone.now())
        return ""
    if opt == "START" or (len(words) == 1 and words[0] in START_WORDS):
        alert_settings_set(agent=agent, sms_opted_out_at=None)
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
    if pk is None or not AgentAlert.objects.filter(agent=agent, lead_id=pk).exists():
        return None
    return Lead.objects.select_related("contact").get(pk=pk)


def _last_alerted_lead(agent: Agent) -> Lead | None:
    latest = (
        AgentAlert.objects.filter(agent=agent)
        .exclude(kind=AgentAlert.Kind.ESCALATED)
        .order_by("-created_at", "-id")
        .select_related("lead__contact")
        .first()
    )
    if latest is None:
        latest = AgentAlert.objects.filter(agent=agent).order_by("-created_at", "-id").first()
    return latest.lead if latest else None
