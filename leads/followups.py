"""Follow-ups in the agent's own time: the quick picks of the lead page, and the day they
fall on. No query here: the services and selectors write and read the ``Task`` rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from .models import Agent

# The hour of day a pick like "tomorrow" means, in the agent's time zone.
MORNING = dt.time(10, 0)
EVENING = dt.time(18, 0)


@dataclass(frozen=True)
class QuickPick:
    key: str
    label: str
    at: dt.datetime


def agent_zone(agent: Agent) -> ZoneInfo:
    """The agent's time zone; the site's when theirs is unknown."""
    try:
        return ZoneInfo(agent.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def day_bounds(agent: Agent, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The start of the agent's today and of their tomorrow, as aware datetimes."""
    zone = agent_zone(agent)
    today = now.astimezone(zone).date()
    start = dt.datetime.combine(today, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end


def _at(day: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=zone)


def quick_picks(agent: Agent, now: dt.datetime) -> list[QuickPick]:
    """When a follow-up can be set for in one tap, in the agent's time zone: in an hour (on
    the next quarter hour), this evening (before five), tomorrow at 10, in three days at 10,
    next Monday at 10."""
    zone = agent_zone(agent)
    local = now.astimezone(zone)
    soon = (local + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    soon += dt.timedelta(minutes=(-soon.minute) % 15)
    picks = [QuickPick("1h", f"In an hour ({soon:%-H:%M})", soon)]
    if local.time() < dt.time(17, 0):
        picks.append(QuickPick("evening", "This evening 18:00", _at(local.date(), EVENING, zone)))
    tomorrow = local.date() + dt.timedelta(days=1)
    picks.append(QuickPick("tomorrow", "Tomorrow 10:00", _at(tomorrow, MORNING, zone)))
    later = local.date() + dt.timedelta(days=3)
    picks.append(QuickPick("3d", f"In 3 days ({later:%a} 10:00)", _at(later, MORNING, zone)))
    monday = local.date() + dt.timedelta(days=7 - local.weekday())
    picks.append(
        QuickPick("monday", f"Next Monday ({monday:%b %-d}) 10:00", _at(monday, MORNING, zone))
    )
    return picks


def pick_time(agent: Agent, now: dt.datetime, key: str) -> dt.datetime | None:
    """The moment quick pick ``key`` means now, or None for an unknown key."""
    return next((pick.at for pick in quick_picks(agent, now) if pick.key == key), None)


# --- The calendar feed (RFC 5545) ----------------------------------------------------------------


def ics_text(value: str) -> str:
    """A TEXT value escaped (RFC 5545 3.3.11): backslash, semicolon, comma, newline."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def ics_fold(line: str) -> str:
    """One content line folded at 75 octets (RFC 5545 3.1), never inside a UTF-8 character:
    each continuation starts with a space."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def ics_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    start: dt.datetime
    minutes: int
    summary: str
    description: str
    location: str
    url: str
    done: bool
    changed: dt.datetime


def calendar(name: str, events: list[CalendarEvent], now: dt.datetime) -> str:
    """A VCALENDAR of ``events`` (one VEVENT each, times in UTC), CRLF line ends."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Leadline//Follow-ups//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_text(name)}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT15M",
        "X-PUBLISHED-TTL:PT15M",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{ics_time(now)}",
            f"LAST-MODIFIED:{ics_time(event.changed)}",
            f"DTSTART:{ics_time(event.start)}",
            f"DTEND:{ics_time(event.start + dt.timedelta(minutes=event.minutes))}",
            f"SUMMARY:{ics_text(('Done: ' if event.done else '') + event.summary)}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{ics_text(event.description)}")
        if event.location:
            lines.append(f"LOCATION:{ics_text(event.location)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines += ["STATUS:CONFIRMED", "TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(ics_fold(line) + "\r\n" for line in lines)
