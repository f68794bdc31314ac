"""The lead's night: when a text may reach them (``LEAD_SMS_HOURS`` in their local time).

Their time zone comes from their phone's area code (the ``phonenumbers`` library), else from
the state of the lead's ZIP, else the team's. Where a number or a state spans zones (Florida's
panhandle, an area code on a zone line), the window must be open in every one of them: a text
never lands in anyone's night. A non-geographic number (toll-free, a zone list of more than a
few) says nothing and the ZIP is asked.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_zones

from leads.models import Lead
from leads.routing import zip_facts

EASTERN, CENTRAL, MOUNTAIN, ARIZONA, PACIFIC = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles",
)  # fmt: skip
STATE_ZONES: dict[str, tuple[str, ...]] = {
    **{
        s: (EASTERN,)
        for s in [
            "CT",
            "DE",
            "DC",
            "GA",
            "ME",
            "MD",
            "MA",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        ]
    },
    **{s: (CENTRAL,) for s in ["AL", "AR", "IL", "IA", "LA", "MN", "MS", "MO", "OK", "WI"]},
    **{s: (MOUNTAIN,) for s in ["CO", "MT", "NM", "UT", "WY"]},
    **{s: (PACIFIC,) for s in ["CA", "WA", "NV"]},
    **{s: (CENTRAL, MOUNTAIN) for s in ["TX", "KS", "NE", "SD", "ND"]},
    **{s: (EASTERN, CENTRAL) for s in ["FL", "IN", "KY", "TN"]},
    "MI": ("America/Detroit",),
    "AZ": (ARIZONA,),
    "ID": (MOUNTAIN, PACIFIC),
    "OR": (PACIFIC, MOUNTAIN),
    "AK": ("America/Anchorage",),
    "HI": ("Pacific/Honolulu",),
    "PR": ("America/Puerto_Rico",),
}
MOST_ZONES = 3  # more than this for one number: not a place (toll-free, non-geographic)


def sms_hours() -> tuple[dt.time, dt.time] | None:
    """``LEAD_SMS_HOURS`` ("08:00-21:00") as two times; None when empty (any hour)."""
    value = (settings.LEAD_SMS_HOURS or "").strip()
    if not value:
        return None
    start, _, end = value.partition("-")
    return dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())


def lead_zones(lead: Lead, phone: str) -> tuple[str, ...]:
    """The time zones the person may be in: their phone's, else their ZIP's state's, else
    the team's."""
    try:
        zones = tuple(
            zone
            for zone in phone_zones.time_zones_for_number(phonenumbers.parse(phone, None))
            if zone != phone_zones.UNKNOWN_TIMEZONE
        )
    except phonenumbers.NumberParseException:
        zones = ()
    if 0 < len(zones) <= MOST_ZONES:
        return zones
    state = (lead.property_state or "").upper()
    if not state and lead.property_zip:
        state = zip_facts(lead.property_zip)[2].upper()
    if state in STATE_ZONES:
        return STATE_ZONES[state]
    team_zone = lead.team.time_zone if lead.team_id and lead.team else settings.TIME_ZONE
    return (team_zone,)


def _inside(at: dt.datetime, zone: zoneinfo.ZoneInfo, start: dt.time, end: dt.time) -> bool:
    clock = at.astimezone(zone).time().replace(tzinfo=None)
    return start <= clock < end if start < end else (clock >= start or clock < end)


def next_daytime(now: dt.datetime, zone_names: Sequence[str]) -> dt.datetime:
    """``now`` when it is inside ``LEAD_SMS_HOURS`` in every zone, else the first moment it
    is (each zone's next opening, tried in order). DST is the zones' own."""
    hours = sms_hours()
    if hours is None:
        return now
    start, end = hours
    zones = []
    for name in zone_names:
        try:
            zones.append(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    zones = zones or [zoneinfo.ZoneInfo(settings.TIME_ZONE)]
    if all(_inside(now, zone, start, end) for zone in zones):
        return now
    openings = []
    for zone in zones:
        local = now.astimezone(zone)
        for days in range(3):
            day = local.date() + dt.timedelta(days=days)
            opening = dt.datetime.combine(day, start, tzinfo=zone)
            if opening > now:
                openings.append(opening.astimezone(dt.UTC))
    for opening in sorted(openings):
        if all(_inside(opening, zone, start, end) for zone in zones):
            return opening
    return min(openings)  # windows that never meet (zones far apart): the earliest opening
