"""From a Graph lead to ``LeadData``: standard questions, the page's mapping, consent wording."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from integrations.intake.models import FacebookPage, InboundEvent
from integrations.intake.sources.base import ParseError
from leads.data import ConsentData, LeadData
from leads.models import Consent, Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip

from .webhook import KEY, Malformed, facebook_id, read_changes

# Standard questions (field_data names) and the LeadData field each fills.
STANDARD_FIELDS = {
    "full_name": "full_name",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone_number": "phone",
    "phone": "phone",
    "zip_code": "property_zip",
    "zip": "property_zip",
    "post_code": "property_zip",
    "postal_code": "property_zip",
    "city": "property_city",
    "state": "property_state",
    "street_address": "property_address",
}
# What a form's custom question may be mapped to (FacebookPage.field_mapping).
MAPPABLE_FIELDS = (
    "first_name", "last_name", "email", "phone", "message", "lead_type", "property_address",
    "property_city", "property_state", "property_zip", "mls_number",
)  # fmt: skip
# A consent checkbox's channels, read from its key and wording; "phone" alone names no channel
# (texts and calls need separate consent), and a marketing box is not consent to be emailed
# about the inquiry.
CONSENT_WORDS = {
    Consent.Channel.SMS: ("sms", "text messag", "texts"),
    Consent.Channel.CALL: ("call",),
    Consent.Channel.EMAIL: ("email", "e-mail"),
}
MARKETING_WORDS = ("newsletter", "marketing", "promotion", "offers")


def form_snapshot(form: dict[str, Any]) -> dict[str, Any]:
    """The parts of a lead form we keep: its name, and the consent wording people saw."""
    legal = form.get("legal_content") if isinstance(form.get("legal_content"), dict) else {}
    disclaimer = legal.get("custom_disclaimer") if isinstance(legal, dict) else None
    disclaimer = disclaimer if isinstance(disclaimer, dict) else {}
    body = disclaimer.get("body")
    body_text = body.get("text", "") if isinstance(body, dict) else str(body or "")
    checkboxes = disclaimer.get("checkboxes")
    if isinstance(checkboxes, dict):  # Graph wraps edges in {"data": [...]}
        checkboxes = checkboxes.get("data")
    return {
        "name": str(form.get("name", "")),
        "disclaimer_title": str(disclaimer.get("title", "")),
        "disclaimer_text": str(body_text),
        "checkboxes": {
            str(c.get("key")): str(c.get("text", ""))
            for c in (checkboxes if isinstance(checkboxes, list) else [])
            if isinstance(c, dict) and c.get("key")
        },
    }


def _answers(lead: dict[str, Any]) -> dict[str, str]:
    answers: dict[str, str] = {}
    for item in lead.get("field_data") or []:
        if isinstance(item, dict) and item.get("name"):
            values = item.get("values") or []
            values = values if isinstance(values, list) else [values]
            answers[str(item["name"])] = ", ".join(str(v) for v in values)
    return answers


def created_time(lead: dict[str, Any], fallback: dt.datetime) -> dt.datetime:
    value = lead.get("created_time")
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return fallback


def _mapping_for(page: FacebookPage, form_id: str) -> dict[str, str]:
    mapping = page.field_mapping if isinstance(page.field_mapping, dict) else {}
    combined = {**(mapping.get("*") or {}), **(mapping.get(form_id) or {})}
    return {str(k): str(v) for k, v in combined.items() if v in MAPPABLE_FIELDS}


def lead_data(
    *,
    event: InboundEvent,
    page: FacebookPage,
    lead: dict[str, Any],
    form_id: str,
    form: dict[str, Any],
) -> LeadData:
    """Map a Graph lead to ``LeadData``: the standard questions, the page's mapping of the
    form's own questions, every answer kept on the lead, consent with the form's wording,
    and the ad, ad set and campaign for attribution."""
    answers = _answers(lead)
    values: dict[str, str] = {}
    messages: list[str] = []
    for name, target in {
        **{k: v for k, v in STANDARD_FIELDS.items() if k in answers},
        **_mapping_for(page, form_id),
    }.items():
        answer = answers.get(name, "").strip()
        if not answer:
            continue
        if target == "message":
            messages.append(f"{name.replace('_', ' ').rstrip('?')}: {answer}")
        else:
            values.setdefault(target, answer)
    full_name = values.pop("full_name", "")
    if full_name and not (values.get("first_name") or values.get("last_name")):
        first, _, last = full_name.rpartition(" ")
        values["first_name"], values["last_name"] = (first, last) if first else (last, "")
    email, phone = _email(values.get("email", "")), normalize_phone(values.get("phone", ""))
    if not email and not phone:
        raise ParseError(
            "The lead has no usable email address or phone number; its answers: "
            + (", ".join(sorted(answers)) or "none")
            + "."
        )
    received_at = created_time(lead, event.received_at)
    lead_type = values.get("lead_type", "").lower()
    state = values.get("property_state", "").strip()
    webhook = webhook_value(event)
    attribution = {
        "leadgen_id": facebook_id(lead.get("id")) or event.external_id,
        "page_id": page.page_id,
        "form_id": form_id,
        "form_name": form.get("name", ""),
        "ad_id": facebook_id(lead.get("ad_id")) or facebook_id(webhook.get("ad_id")),
        "ad_name": str(lead.get("ad_name", "")),
        "adset_id": facebook_id(lead.get("adset_id")),
        "adset_name": str(lead.get("adset_name", "")),
        "adgroup_id": facebook_id(webhook.get("adgroup_id")),
        "campaign_id": facebook_id(lead.get("campaign_id")),
        "campaign_name": str(lead.get("campaign_name", "")),
        "is_organic": bool(lead.get("is_organic", False)),
        "platform": str(lead.get("platform", "")),
        "created_time": str(lead.get("created_time", "")),
    }
    return LeadData(
        source=KEY,
        source_detail=" / ".join(p for p in (page.name, form.get("name", "")) if p),
        external_id=attribution["leadgen_id"],
        received_at=received_at,
        team_id=page.team_id,
        raw_event_id=event.pk,
        first_name=values.get("first_name", "")[:100],
        last_name=values.get("last_name", "")[:100],
        email=email,
        phone=phone,
        message="\n".join(messages)[:5000],
        lead_type=lead_type if lead_type in Lead.Type.values else Lead.Type.BUYER,
        property_address=values.get("property_address", "")[:255],
        property_city=values.get("property_city", "")[:100],
        property_state=state.upper() if len(state) == 2 else "",
        property_zip=normalize_zip(values.get("property_zip", "")),
        mls_number=values.get("mls_number", "")[:50],
        utm_source="facebook",
        utm_campaign=attribution["campaign_name"][:255],
        consents=_consents(lead, form, attribution, received_at),
        extra={"facebook": {**attribution, "answers": answers}},
    )


def _email(value: str) -> str:
    """The address, normalised, or ``""`` when it is not one (it stays among the answers)."""
    email = normalize_email(value)
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email


def webhook_value(event: InboundEvent) -> dict[str, Any]:
    """The webhook's own ids (``adgroup_id`` is only there), or nothing for a backfill."""
    try:
        leadgen, _ = read_changes(bytes(event.body))
    except Malformed:
        return {}
    return leadgen[0].value if len(leadgen) == 1 else {}


def _consents(
    lead: dict[str, Any], form: dict[str, Any], attribution: dict[str, Any], at: dt.datetime
) -> tuple[ConsentData, ...]:
    """Each consent checkbox answer, with the words of the form's disclaimer and checkbox.

    Facebook sends only the checkbox key and whether it was ticked; the channel is read from
    the checkbox's key and wording (marketing email, else SMS, call, email), and a checkbox
    naming none of them is taken to cover all three, its wording kept word for word beside it.
    """
    consents: list[ConsentData] = []
    for response in lead.get("custom_disclaimer_responses") or []:
        if not isinstance(response, dict) or not response.get("checkbox_key"):
            continue
        key = str(response["checkbox_key"])
        checkbox_text = form.get("checkboxes", {}).get(key, "")
        words = [form.get("disclaimer_title", ""), form.get("disclaimer_text", ""), checkbox_text]
        text = "\n\n".join(w for w in words if w) or f"(checkbox {key}; wording not available)"
        granted = str(response.get("is_checked", "")).lower() in ("1", "true")
        haystack = f"{key} {checkbox_text}".lower()
        if any(word in haystack for word in MARKETING_WORDS):
            channels = [Consent.Channel.MARKETING_EMAIL]
        else:
            channels = [
                c for c, hints in CONSENT_WORDS.items() if any(h in haystack for h in hints)
            ]
        evidence = {
            "checkbox_key": key,
            "is_checked": response.get("is_checked"),
            "leadgen_id": attribution["leadgen_id"],
            "form_id": attribution["form_id"],
            "page_id": attribution["page_id"],
        }
        consents.extend(
            ConsentData(channel, granted, text, at, evidence)
            for channel in channels or list(CONSENT_WORDS)
        )
    return tuple(consents)
