"""Our own web forms: the hosted page at ``/forms/<key>/``, embeds, and JSON posts.

:class:`SubmissionForm`'s rules check a submission at the door, so the sender hears about a
bad field at once: :func:`validate_submission` applies its fields without making a form (the
form is made to show the page, and again with its errors for a browser); the worker trusts
the cleaned fields the door kept with the event.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from django import forms
from django.core import signing
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.intake.models import InboundEvent, WebForm
from integrations.intake.sources.base import ParseError, Source
from leads.data import ConsentData, LeadData
from leads.inputs import InputError, clean_value, read_json
from leads.models import Consent, Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip

HONEYPOT_FIELD = "website"
TOKEN_FIELD = "_ts"  # noqa: S105 - a field name, not a secret
TOKEN_SALT = "leadline.webform.render"  # noqa: S105 - a signing namespace
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# The cleaned fields the door keeps for the worker (submission_meta).
CLEANED_FIELDS = (
    "first_name", "last_name", "email", "phone", "message", "lead_type", "property_address",
    "zip_code", "mls_number", "consent", "marketing_consent", *UTM_FIELDS, "gclid", "fbclid",
    "page_url", "referrer",
)  # fmt: skip
# Fields the form accepts besides the ones SubmissionForm declares.
CONTROL_FIELDS = (HONEYPOT_FIELD, TOKEN_FIELD)


class SubmissionError(Exception):
    """The body is not a readable submission at all (bad JSON, wrong type, unknown fields)."""

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class SubmissionForm(forms.Form):
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    email = forms.EmailField(max_length=254, required=False)
    phone = forms.CharField(max_length=32, required=False)
    message = forms.CharField(max_length=5000, required=False, widget=forms.Textarea)
    lead_type = forms.ChoiceField(choices=Lead.Type.choices, required=False)
    property_address = forms.CharField(max_length=255, required=False)
    zip_code = forms.CharField(max_length=10, required=False, label="ZIP code")
    mls_number = forms.CharField(max_length=50, required=False, label="MLS number")
    consent = forms.BooleanField(required=False)
    marketing_consent = forms.BooleanField(required=False)
    utm_source = forms.CharField(max_length=255, required=False)
    utm_medium = forms.CharField(max_length=255, required=False)
    utm_campaign = forms.CharField(max_length=255, required=False)
    utm_term = forms.CharField(max_length=255, required=False)
    utm_content = forms.CharField(max_length=255, required=False)
    gclid = forms.CharField(max_length=255, required=False)
    fbclid = forms.CharField(max_length=255, required=False)
    page_url = forms.URLField(max_length=2000, required=False, assume_scheme="https")
    referrer = forms.URLField(max_length=2000, required=False, assume_scheme="https")
    submission_id = forms.RegexField(
        regex=r"^[A-Za-z0-9_.:-]{8,100}$",
        required=False,
        error_messages={"invalid": "Use 8 to 100 letters, digits, '-', '_', '.' or ':'."},
    )

    HIDDEN = (*UTM_FIELDS, "gclid", "fbclid", "page_url", "referrer", "submission_id")

    def __init__(self, *args: Any, web_form: WebForm, **kwargs: Any) -> None:
        # Django deep-copies a form's fields for every instance (a sixth of a submission's CPU
        # at the door); these come configured for the web form from a per-process cache
        # instead, each instance with its own dict of the shared, never-changed fields.
        self.base_fields = {}  # type: ignore[misc]  # read by BaseForm.__init__ alone
        super().__init__(*args, **kwargs)
        self.web_form = web_form
        self.fields = dict(configured_fields(web_form))

    @classmethod
    def configure(cls, fields: dict[str, forms.Field], web_form: WebForm) -> None:
        """Fit a copy of the declared fields to ``web_form``: its consent words, hidden fields,
        the browser's hints."""
        fields["consent"].required = web_form.consent_required
        fields["consent"].label = web_form.consent_text
        fields["consent"].error_messages["required"] = "Please tick the consent box."
        if web_form.marketing_consent_text:
            fields["marketing_consent"].label = web_form.marketing_consent_text
        else:
            del fields["marketing_consent"]
        for name in cls.HIDDEN:
            fields[name].widget = forms.HiddenInput()
        fields["message"].widget.attrs["rows"] = 4
        fields["email"].widget.attrs["autocomplete"] = "email"
        fields["phone"].widget.input_type = "tel"
        fields["phone"].widget.attrs["autocomplete"] = "tel"
        fields["zip_code"].widget.attrs.update({"inputmode": "numeric"})

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data.get("phone", ""))

    def clean_zip_code(self) -> str:
        return clean_zip_code(self.cleaned_data.get("zip_code", ""))

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data.get("email"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.has_error("email") and not self.has_error("phone"):
            for name, message in contact_errors(data).items():
                self.add_error(name, message)
        return data


# The rules beyond each field's own, shared by the form and validate_submission.
def clean_phone(raw: str) -> str:
    if not raw.strip():
        return ""
    phone = normalize_phone(raw)
    if not phone:
        raise forms.ValidationError("Enter a valid phone number, e.g. (305) 555-0123.")
    return phone


def clean_zip_code(raw: str) -> str:
    if not raw.strip():
        return ""
    zip_code = normalize_zip(raw)
    if not zip_code:
        raise forms.ValidationError("Enter a five-digit ZIP code.")
    return zip_code


def contact_errors(cleaned: dict[str, Any]) -> dict[str, str]:
    """A person must be reachable: an email address or a phone number."""
    if not cleaned.get("email") and not cleaned.get("phone"):
        return {"email": "Give an email address or a phone number."}
    return {}


FIELD_CLEANERS: dict[str, Callable[[Any], Any]] = {
    "phone": clean_phone,
    "zip_code": clean_zip_code,
    "email": normalize_email,
}


def validate_submission(
    fields: dict[str, Any], web_form: WebForm
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check ``fields`` (from :func:`read_submission`) against ``web_form``'s submission form
    without making one: ``(cleaned, errors)``, the cleaned value of every valid field and the
    messages of every invalid one, exactly the ``cleaned_data`` and ``errors`` of
    ``SubmissionForm(fields, web_form=web_form)``, in its order. The door's check of every
    post; the form itself is made only to show a page again with its errors."""
    configured = configured_fields(web_form)
    absent = _absent_values(web_form, configured)
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, field in configured.items():
        if name not in fields and name in absent:
            cleaned[name] = absent[name]
            continue
        try:
            cleaned[name] = _clean_field(name, field, fields)
        except forms.ValidationError as exc:
            errors[name] = exc.messages
    if "email" not in errors and "phone" not in errors:
        for name, message in contact_errors(cleaned).items():
            cleaned.pop(name, None)
            errors[name] = [message]
    return cleaned, errors


def _clean_field(name: str, field: forms.Field, data: dict[str, Any]) -> Any:
    value = field.clean(field.widget.value_from_datadict(data, {}, name))
    cleaner = FIELD_CLEANERS.get(name)
    return value if cleaner is None else cleaner(value)


# A field a submission leaves out cleans to the same value every time: made once per fields.
_absent: dict[tuple[Any, ...], dict[str, Any]] = {}


def _absent_values(web_form: WebForm, configured: dict[str, forms.Field]) -> dict[str, Any]:
    """The cleaned value of each of ``configured`` when it is not sent (not of a required
    one: its error is made each time)."""
    key = _settings_key(web_form)
    values = _absent.get(key)
    if values is None:
        values = {}
        for name, field in configured.items():
            try:
                values[name] = _clean_field(name, field, {})
            except forms.ValidationError:
                continue
        if len(_absent) >= 100:
            _absent.clear()
        _absent[key] = values
    return values


# The fields configured per form's settings, by what configures them (so an edited form gets
# new ones); bounded, as the forms a process serves are few.
_configured: dict[tuple[Any, ...], dict[str, forms.Field]] = {}


def _settings_key(web_form: WebForm) -> tuple[Any, ...]:
    return (web_form.consent_required, web_form.consent_text, web_form.marketing_consent_text)


def configured_fields(web_form: WebForm) -> dict[str, forms.Field]:
    """The fields of ``web_form``'s submission form, made once per process and settings."""
    key = _settings_key(web_form)
    fields = _configured.get(key)
    if fields is None:
        fields = copy.deepcopy(SubmissionForm.base_fields)
        SubmissionForm.configure(fields, web_form)
        if len(_configured) >= 100:
            _configured.clear()
        _configured[key] = fields
    return fields


def read_submission(body: bytes, content_type: str) -> dict[str, Any]:
    """Return the fields of a form-encoded or JSON body as a flat dict of values.

    Raises ``SubmissionError`` for a body that is not JSON or form data, a JSON value that is
    not an object of strings, numbers or booleans, a repeated field, or an undeclared field.
    """
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            payload = read_json(body)
        except InputError as exc:
            raise SubmissionError(exc.message) from exc
        if not isinstance(payload, dict):
            raise SubmissionError("The JSON body must be an object of field names and values.")
        bad_types = {
            key: ["Must be a string, a number or true/false."]
            for key, value in payload.items()
            if value is not None and not isinstance(value, str | int | float | bool)
        }
        if bad_types:
            raise SubmissionError("Some fields have values of the wrong type.", bad_types)
        fields = {k: _json_value(v) for k, v in payload.items() if v is not None}
    elif media_type in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        parsed = _read_form_data(body, content_type, multipart=media_type == "multipart/form-data")
        repeated = {k: ["Send this field once."] for k, v in parsed.items() if len(v) > 1}
        if repeated:
            raise SubmissionError("Some fields were sent more than once.", repeated)
        fields = clean_value({k: v[0] for k, v in parsed.items()})
    else:
        raise SubmissionError(
            f"Unsupported content type {media_type!r}: send form data or application/json."
        )
    unknown = sorted(set(fields) - set(SubmissionForm.base_fields) - set(CONTROL_FIELDS))
    if unknown:
        raise SubmissionError(
            "The form does not have these fields: " + ", ".join(unknown) + ".",
            {name: ["Unknown field."] for name in unknown},
        )
    return fields


def _read_form_data(body: bytes, content_type: str, *, multipart: bool) -> dict[str, list[str]]:
    try:
        if not multipart:
            return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
        parser = MultiPartParser(meta, io.BytesIO(body), [MemoryFileUploadHandler()], "utf-8")
        post, files = parser.parse()
    except (UnicodeDecodeError, ValueError, MultiPartParserError) as exc:
        raise SubmissionError(f"The body is not valid form data: {exc}.") from exc
    if files:
        raise SubmissionError("The form does not accept files.", {k: ["No files."] for k in files})
    return {key: post.getlist(key) for key in post}


def _json_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else ""
    return str(value)


def render_token(web_form: WebForm) -> str:
    """A signed token that records when the form was shown (checked for the least fill time)."""
    return signing.dumps(
        {"k": web_form.public_key, "t": timezone.now().timestamp()}, salt=TOKEN_SALT
    )


def token_age(token: str, web_form: WebForm, max_age: int) -> float | None:
    """Seconds since ``token`` was issued for ``web_form``; ``None`` if forged or expired."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") != web_form.public_key:
        return None
    return float(timezone.now().timestamp() - float(data.get("t", 0)))


def external_id_for(web_form: WebForm, submission_id: str) -> str:
    """The idempotency key of a submission: the sender's ``submission_id`` within its form."""
    return f"{web_form.public_key}:{submission_id}" if submission_id else ""


class WebFormSource(Source):
    key = "webform"
    label = "Web form"
    leads_carry_team = True

    def parse(self, event: InboundEvent) -> list[LeadData]:
        """The door validated the submission and kept its cleaned fields and the form's facts
        in the event's ``meta`` (:func:`submission_meta`): the worker trusts them, with no
        look-up of the form and no second validation. An event stored without them (before
        the door kept them) is read from its raw body and validated against the form again."""
        facts, data = event.meta.get("form"), event.meta.get("cleaned")
        if not isinstance(facts, dict) or not isinstance(data, dict):
            facts, data = self._validated_again(event)
        received_at = parse_datetime(event.meta.get("received_at", "")) or event.received_at
        return [
            LeadData(
                source=self.key,
                source_detail=facts["name"],
                external_id=event.external_id or f"event:{event.public_id}",
                received_at=received_at,
                team_id=facts["team_id"],
                raw_event_id=event.pk,
                first_name=data["first_name"].strip(),
                last_name=data["last_name"].strip(),
                email=data["email"],
                phone=data["phone"],
                message=data["message"].strip(),
                lead_type=data["lead_type"] or facts["default_lead_type"],
                property_address=data["property_address"].strip(),
                property_zip=data["zip_code"],
                mls_number=data["mls_number"].strip(),
                utm_source=data["utm_source"],
                utm_medium=data["utm_medium"],
                utm_campaign=data["utm_campaign"],
                utm_term=data["utm_term"],
                utm_content=data["utm_content"],
                gclid=data["gclid"],
                fbclid=data["fbclid"],
                page_url=data["page_url"],
                referrer=data["referrer"],
                consents=self._consents(facts, data, event, received_at),
            )
        ]

    @staticmethod
    def _validated_again(event: InboundEvent) -> tuple[dict[str, Any], dict[str, Any]]:
        web_form = WebForm.objects.filter(pk=event.meta.get("form_id")).first()
        if web_form is None:
            raise ParseError(f"Web form {event.meta.get('form_id')!r} no longer exists.")
        try:
            fields = read_submission(bytes(event.body), event.content_type)
        except SubmissionError as exc:
            raise ParseError(exc.message) from exc
        form = SubmissionForm(fields, web_form=web_form)
        if not form.is_valid():
            raise ParseError(json.dumps(form.errors.get_json_data()))
        return form_facts(web_form), form.cleaned_data

    @staticmethod
    def _consents(
        facts: dict[str, Any], data: dict[str, Any], event: InboundEvent, at: dt.datetime
    ) -> tuple[ConsentData, ...]:
        evidence = {
            "ip": event.remote_addr,
            "user_agent": event.headers.get("user-agent", ""),
            "page_url": data["page_url"],
            "form": facts["public_key"],
        }
        consents = [
            ConsentData(channel, bool(data["consent"]), facts["consent_text"], at, evidence)
            for channel in (Consent.Channel.CALL, Consent.Channel.SMS, Consent.Channel.EMAIL)
        ]
        if facts["marketing_consent_text"]:
            consents.append(
                ConsentData(
                    Consent.Channel.MARKETING_EMAIL,
                    bool(data.get("marketing_consent")),
                    facts["marketing_consent_text"],
                    at,
                    evidence,
                )
            )
        return tuple(consents)


def form_facts(web_form: WebForm) -> dict[str, Any]:
    """What a lead takes from its web form: kept with the event at the door, so the lead
    records the consent words the person was shown, whatever the form says later."""
    return {
        "public_key": web_form.public_key,
        "name": web_form.name,
        "team_id": web_form.team_id,
        "default_lead_type": web_form.default_lead_type,
        "consent_text": web_form.consent_text,
        "marketing_consent_text": web_form.marketing_consent_text,
    }


def submission_meta(web_form: WebForm, cleaned: dict[str, Any]) -> dict[str, Any]:
    """The event's ``meta`` for a submission the door validated: the form's id and facts,
    and the cleaned fields the worker makes the lead from (the body stays raw beside them)."""
    return {
        "form_id": web_form.pk,
        "received_at": timezone.now().isoformat(),
        "form": form_facts(web_form),
        "cleaned": {name: cleaned.get(name, "") for name in CLEANED_FIELDS},
    }
