"""Forms of the domain that are not tied to one view."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import phonenumbers
from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import Agent, Contact, Lead, Task, Team
from .normalize import normalize_phone, normalize_zip
from .selectors import STAGE_KEYS


class TestLeadForm(forms.Form):
    """The facts of an imagined lead, for the admin's "test a lead" page."""

    team = forms.ModelChoiceField(queryset=Team.objects.all())
    source = forms.CharField(max_length=32, initial="webform")
    lead_type = forms.ChoiceField(choices=Lead.Type.choices, initial=Lead.Type.BUYER)
    zip_code = forms.CharField(max_length=10, required=False, label="ZIP code")
    city = forms.CharField(max_length=100, required=False)
    state = forms.CharField(max_length=2, required=False)
    price = forms.DecimalField(
        max_digits=12, decimal_places=2, required=False, min_value=Decimal(0)
    )
    has_phone = forms.BooleanField(required=False, initial=True, label="Has a phone number")
    mls_number = forms.CharField(max_length=50, required=False, label="MLS number")

    def clean_zip_code(self) -> str:
        raw = self.cleaned_data.get("zip_code", "")
        if raw and not normalize_zip(raw):
            raise forms.ValidationError("Enter a five-digit ZIP code.")
        return normalize_zip(raw)

    def unsaved_lead(self) -> Lead:
        """A lead that is never saved, carrying the facts routing looks at."""
        data = self.cleaned_data
        contact = Contact(phone="+13055550100" if data["has_phone"] else "")
        return Lead(
            contact=contact,
            team=data["team"],
            source=data["source"],
            lead_type=data["lead_type"],
            property_zip=data["zip_code"],
            property_city=data["city"],
            property_state=data["state"].upper(),
            price=data["price"],
            mls_number=data["mls_number"],
        )


# --- Lists typed as words (the admin's routing rules and territories) -------------------------


class WordListField(forms.CharField):
    """A list stored as JSON, typed as words: ``33139, 33140`` or one per line.

    ``lines`` keeps each line whole (entries that hold commas: "Miami Beach, FL"); otherwise
    commas, spaces and new lines all separate. ``normal`` puts each entry in its stored form
    (``str.lower``), ``pattern`` is what it must then look like, ``example`` how the error
    says it.
    """

    def __init__(
        self,
        *,
        lines: bool = False,
        normal: Callable[[str], str] = str.strip,
        pattern: str = "",
        example: str = "",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}) if lines else None)
        if kwargs["widget"] is None:
            kwargs["widget"] = forms.TextInput(attrs={"size": 60})
        super().__init__(**kwargs)
        self.lines, self.normal, self.example = lines, normal, example
        self.pattern = re.compile(pattern or r".+")

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ("\n" if self.lines else ", ").join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        parts = text.splitlines() if self.lines else re.split(r"[,\s]+", text)
        return list(dict.fromkeys(self.normal(" ".join(p.split())) for p in parts if p.strip()))

    def validate(self, value: Any) -> None:
        bad = [item for item in value if not self.pattern.fullmatch(item)]
        if bad:
            raise forms.ValidationError(
                f"Not understood: {', '.join(bad)}. Write them like {self.example}."
            )


# --- The agent's app --------------------------------------------------------------------------


class WhenField(forms.CharField):
    """A day (``2026-11-02``) or a moment (ISO 8601, ``2026-11-02T14:05:00Z``): a ``date``
    or a ``datetime`` (one without an offset is read in the current time zone)."""

    def clean(self, value: Any) -> dt.date | dt.datetime | None:
        text = (super().clean(value) or "").strip()
        if not text:
            return None
        try:
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise forms.ValidationError(
                "a day as YYYY-MM-DD or a moment as YYYY-MM-DDTHH:MM:SSZ."
            ) from None
        return moment if moment.tzinfo else timezone.make_aware(moment)


class LeadFilterForm(forms.Form):
    """The inbox's filters and search, and what the dashboard's links narrow it to; every
    field optional, a bad value left out (``errors`` says which and why)."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), ("open", "Open"), ("closed", "Closed"), *Lead.Status.choices],
    )
    source = forms.CharField(required=False, max_length=32)
    lead_type = forms.ChoiceField(
        required=False, choices=[("", "Any type"), *Lead.Type.choices], label="Type"
    )
    mine = forms.BooleanField(required=False, label="Only mine")
    agent = forms.RegexField(
        required=False, regex=r"^(none|[0-9]{1,9})$", max_length=9,
        error_messages={"invalid": "an agent's number, or none for the unassigned."},
    )  # fmt: skip
    stage = forms.ChoiceField(
        required=False,
        choices=[("", "Any stage")] + [(key, key.replace("_", " ")) for key in STAGE_KEYS],
    )
    each = forms.ChoiceField(
        required=False, choices=[("", "By person"), ("inquiry", "By inquiry")],
        label="Rows",
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = WhenField(required=False, max_length=40)  # received from
        self.fields["to"] = WhenField(required=False, max_length=40)  # received to

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("from"), data.get("to")
        if start and end and type(start) is type(end) and end < start:
            self.add_error("to", "a day or moment on or after from.")
        return data


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[c for c in Lead.Status.choices if c[0] != Lead.Status.NEW])


class NoteForm(forms.Form):
    text = forms.CharField(
        max_length=4000, widget=forms.Textarea(attrs={"rows": 3}), label="Note", strip=True
    )


CALL_OUTCOMES = (
    ("talked", "Talked"),
    ("voicemail", "Left voicemail"),
    ("no_answer", "No answer"),
    ("bad_number", "Wrong or bad number"),
)


class ContactLogForm(forms.Form):
    """A call (with its outcome: only "talked" is first contact), a text or an email."""

    how = forms.ChoiceField(
        choices=[("call", "Call"), ("text", "Text"), ("email", "Email")], initial="call"
    )
    outcome = forms.ChoiceField(choices=CALL_OUTCOMES, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("how") == "call" and not data.get("outcome"):
            raise forms.ValidationError({"outcome": "Say how the call went."})
        if data.get("how") != "call":
            data["outcome"] = ""
        return data


class TaskForm(forms.Form):
    """A follow-up: what, and when: a quick pick's key (``when``) or, with ``when=custom``, a
    local date and time (``at``, in the agent's time zone)."""

    kind = forms.ChoiceField(choices=Task.Kind.choices, initial=Task.Kind.CALL)
    when = forms.CharField(max_length=16)
    at = forms.DateTimeField(
        required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
    )
    location = forms.CharField(max_length=255, required=False)
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, agent: Agent, now: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agent, self.now = agent, now

    def clean(self) -> dict[str, Any]:
        from django.utils import timezone

        from .followups import agent_zone, pick_time

        data = super().clean() or {}
        when = data.get("when", "")
        if when == "custom":
            at = data.get("at")
            if at is None:
                raise forms.ValidationError({"at": "Choose a date and time."})
            zone = agent_zone(self.agent)
            # The browser's datetime-local is the agent's wall clock time (the field made it
            # aware in the site's zone: undo that).
            naive = timezone.make_naive(at) if timezone.is_aware(at) else at
            data["due_at"] = naive.replace(tzinfo=zone)
            if data["due_at"] < self.now:
                raise forms.ValidationError({"at": "Choose a time that is still to come."})
        elif when:
            due = pick_time(self.agent, self.now, when)
            if due is None:
                raise forms.ValidationError({"when": f"{when!r} is not one of the choices."})
            data["due_at"] = due
        return data


class ReassignForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), label="Give it to")
    reason = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, agents: QuerySet[Agent], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agent"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = agents


WEEKDAY_LABELS = (
    ("mon", "Monday"), ("tue", "Tuesday"), ("wed", "Wednesday"), ("thu", "Thursday"),
    ("fri", "Friday"), ("sat", "Saturday"), ("sun", "Sunday"),
)  # fmt: skip
TIME_FORMATS = ["%H:%M"]
# A day with no hours given, while others have some: the whole day (routing reads "24:00" as
# the day's end).
ALL_DAY = ["00:00", "24:00"]
# The time zones a team in North America works in; the agent's own and the team's are added
# when they are others. Operations set any other zone in the admin.
TIME_ZONES = (
    ("America/New_York", "Eastern (New York, Miami)"),
    ("America/Chicago", "Central (Chicago, Dallas)"),
    ("America/Denver", "Mountain (Denver)"),
    ("America/Phoenix", "Arizona (Phoenix)"),
    ("America/Los_Angeles", "Pacific (Los Angeles, Seattle)"),
    ("America/Anchorage", "Alaska (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii (Honolulu)"),
    ("America/Puerto_Rico", "Atlantic (Puerto Rico)"),
)


def time_zone_choices(*zones: str) -> list[tuple[str, str]]:
    """:data:`TIME_ZONES`, and each of ``zones`` that is not among them (named as it is)."""
    known = dict(TIME_ZONES)
    extra = [z for z in dict.fromkeys(zones) if z and z not in known]
    return [*TIME_ZONES, *((z, z.replace("_", " ")) for z in extra)]


def _time_field(label: str) -> forms.TimeField:
    return forms.TimeField(
        required=False, label=label, input_formats=TIME_FORMATS,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )  # fmt: skip


class AgentSettingsForm(forms.Form):
    """An agent's own settings: phone, time zone and working hours (the edges add their own
    sections to the page: ``leads.extensions.settings_sections``). Pausing is the header's
    one-tap toggle alone: a box here, saved with the page, would undo a tap made since the
    page was opened.

    Working hours, one span a day: a day with hours takes leads only then (an end before the
    start runs past midnight, 22:00 to 06:00); a day marked off takes none; a day left empty
    takes them all day. Every day empty and none off: always on.
    """

    mobile_phone = forms.CharField(
        max_length=30, required=False, label="Mobile phone",
        help_text="Where SMS alerts go, e.g. (305) 555-0123.",
    )  # fmt: skip
    time_zone = forms.ChoiceField(choices=[])

    def __init__(self, *args: Any, agent: Agent, **kwargs: Any) -> None:
        kwargs.setdefault("initial", self.initial_for(agent))
        super().__init__(*args, **kwargs)
        time_zone = self.fields["time_zone"]
        assert isinstance(time_zone, forms.ChoiceField)
        time_zone.choices = time_zone_choices(agent.time_zone, agent.team.time_zone)
        for day, label in WEEKDAY_LABELS:
            self.fields[f"{day}_off"] = forms.BooleanField(required=False, label=f"{label} off")
            self.fields[f"{day}_start"] = _time_field(f"{label} from")
            self.fields[f"{day}_end"] = _time_field(f"{label} to")

    @staticmethod
    def initial_for(agent: Agent) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "mobile_phone": display_phone(agent.mobile_phone) if agent.mobile_phone else "",
            "time_zone": agent.time_zone,
        }
        hours = agent.working_hours or {}
        for day, _ in WEEKDAY_LABELS:
            spans = hours.get(day) or []
            if any(hours.values()) and not spans:
                initial[f"{day}_off"] = True
            elif spans and [spans[0][0], spans[-1][1]] != ALL_DAY:
                initial[f"{day}_start"], initial[f"{day}_end"] = spans[0][0], spans[-1][1]
        return initial

    def clean_mobile_phone(self) -> str:
        raw = self.cleaned_data.get("mobile_phone", "")
        phone = normalize_phone(raw)
        if raw and not phone:
            raise forms.ValidationError("Enter a valid phone number, e.g. (305) 555-0123.")
        return phone

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        hours: dict[str, list[list[str]]] = {}
        off = []
        for day, label in WEEKDAY_LABELS:
            start, end = data.get(f"{day}_start"), data.get(f"{day}_end")
            if data.get(f"{day}_off"):
                off.append(day)
            elif start is None and end is None:
                hours[day] = [ALL_DAY]
            elif start is None or end is None:
                self.add_error(f"{day}_end", f"{label}: give both times, or neither.")
            elif start == end:
                self.add_error(f"{day}_end", f"{label}: the start and the end are the same.")
            else:
                hours[day] = [[start.strftime("%H:%M"), end.strftime("%H:%M")]]
        if len(off) == len(WEEKDAY_LABELS):
            self.add_error(None, "Every day is off: use Pause instead, so no lead waits on you.")
        if not off and all(spans == [ALL_DAY] for spans in hours.values()):
            hours = {}  # nothing given: always on
        data["working_hours"] = hours
        return data

    def changes(self) -> dict[str, Any]:
        """The cleaned values, named as ``agent_update_settings`` takes them."""
        data = self.cleaned_data
        names = ["mobile_phone", "time_zone", "working_hours"]
        return {name: data[name] for name in names}


def display_phone(phone: str) -> str:
    """``+13055550140`` as a person dials it at home, ``(305) 555-0140``; others in full."""
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return phone
    region = phonenumbers.region_code_for_number(number)
    style = phonenumbers.PhoneNumberFormat
    home = region == settings.PHONE_REGION
    return phonenumbers.format_number(number, style.NATIONAL if home else style.INTERNATIONAL)
