"""Zillow Premier Agent (Tech Connect) leads, delivered by Amazon SNS to ``/hooks/zillow/``.

Zillow publishes each lead to an SNS topic; SNS POSTs it to us in its JSON envelope, with
the lead as a JSON string in ``Message``. A delivery must prove itself twice: HTTP Basic
credentials (``ZILLOW_BASIC_AUTH``, put in the subscription URL) and the SNS signature over
the envelope, checked with the certificate at ``SigningCertURL``, which must be Amazon's
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html). Only
topics in ``ZILLOW_TOPIC_ARNS`` are accepted. Anything that fails is refused and stored
nowhere. SNS retries a 5xx or a timeout with the same ``MessageId``, our event's key;
``CommunicationGUID`` is the inquiry's, the lead's key. Zillow sends ``Update`` and
``Reassignment`` messages about an inquiry it sent before: they update that lead.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.mail import mail_admins
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from integrations.intake.models import InboundEvent, SourceAgentId
from integrations.intake.sources.base import ParseError, Refused, Source
from integrations.intake.sources.values import (
    decimal,
    flag,
    lookup,
    mapping,
    moment,
    split_name,
    state_code,
    text,
)
from integrations.lib import cache, http
from leads.data import LeadData
from leads.inputs import InputError, read_json
from leads.models import Agent, Lead
from leads.normalize import normalize_email, normalize_phone, normalize_zip

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # SNS messages are at most 256 KB
CERT_CACHE_SECONDS = 24 * 3600
# Amazon's SNS endpoints, one per region: sns.us-east-1.amazonaws.com, sns.us-gov-west-1...
SNS_HOST = re.compile(r"^sns\.[a-z]{2}(?:-[a-z]+)+-\d{1,2}\.amazonaws\.com$")
# The fields each message type signs, in the order they are signed (AWS's documentation).
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
OPTIONAL_SIGNED_FIELDS = frozenset({"Subject"})
SIGNATURE_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,  # SNS SignatureVersion 1 is SHA1withRSA; AWS still sends it by default
    "2": hashes.SHA256,
}
CONTACT_TYPES = {
    "buyer": Lead.Type.BUYER,
    "seller": Lead.Type.SELLER,
    "renter": Lead.Type.RENTER,
    "rental": Lead.Type.RENTER,
    "rent": Lead.Type.RENTER,
}
# The assignee's partner identifier, as documented and as Zillow's own sample misspells it.
ASSIGNEE_PARTNER_KEYS = (
    "ZillowAssigneePartnerAgentIdentifier",
    "ZillowAssigneePartnerAgentIdentifierl",
)
ZPID = re.compile(r"/(\d+)_zpid")


class CertificateUnavailable(Exception):
    """Amazon's signing certificate could not be fetched now; SNS should try again later."""


# --- The SNS envelope and its signature ---------------------------------------------------------


def read_envelope(body: bytes) -> dict[str, Any]:
    """The SNS envelope of a request; ``Refused`` (400) when the body is not one.

    A body that is not an SNS message carries no signature, so it is refused unstored.
    """
    if not body.strip():
        raise Refused("The body is empty: expected an Amazon SNS message.", status=400)
    try:
        envelope = read_json(body)
    except InputError as exc:
        raise Refused(f"The body is not an Amazon SNS message: {exc.message}", status=400) from exc
    kind = envelope.get("Type") if isinstance(envelope, dict) else None
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:  # a list is no type either
        raise Refused("Type: not an Amazon SNS message type.", status=400)
    return envelope


def sns_url_allowed(url: str, *, path_suffix: str = "") -> bool:
    """True for an https URL on an Amazon SNS regional host and nothing else.

    No user info, no port, no fragment; with ``path_suffix`` the path must end with it.
    """
    if not isinstance(url, str) or any(c.isspace() or c in "\\@" for c in url):
        return False
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and parts.netloc == (parts.hostname or "")
        and bool(SNS_HOST.match(parts.netloc))
        and not parts.fragment
        and parts.path.endswith(path_suffix)
    )


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """The bytes SNS signed: ``name\\nvalue\\n`` for each signed field of the message type.

    Raises ``Refused`` when a field the type must sign is missing.
    """
    lines = []
    for name in SIGNED_FIELDS[envelope["Type"]]:
        value = envelope.get(name)
        if value is None:
            if name in OPTIONAL_SIGNED_FIELDS:
                continue
            raise Refused(f"{name}: missing from the signed SNS message.", status=403)
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def signing_certificate(url: str) -> x509.Certificate:
    """Amazon's certificate at ``url``, fetched through ``integrations.http`` and cached.

    Raises ``Refused`` for a URL that is not Amazon's SNS (nothing is fetched) or a file that
    is not a certificate, ``CertificateUnavailable`` when the fetch failed.
    """
    if not sns_url_allowed(url, path_suffix=".pem"):
        raise Refused("SigningCertURL: not an Amazon SNS certificate URL.", status=403)
    key = "sns-cert:" + hashlib.sha256(url.encode()).hexdigest()
    pem = cache.get(key)  # fails open: fetched again when the cache cannot be reached
    if pem is None:
        try:
            pem = http.request("GET", url, retries=1).content
        except http.HttpError as exc:
            raise CertificateUnavailable(str(exc)) from exc
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise Refused("SigningCertURL: not a PEM certificate.", status=403) from exc
    cache.set(key, pem, timeout=CERT_CACHE_SECONDS)
    return certificate


def verify_signature(envelope: dict[str, Any], now: dt.datetime | None = None) -> None:
    """Check the SNS signature of ``envelope``; ``Refused`` (403) if it does not hold."""
    version = text(envelope.get("SignatureVersion"))
    if version not in SIGNATURE_HASHES:
        raise Refused(f"SignatureVersion: {version or 'missing'} is not 1 or 2.", status=403)
    try:
        signature = base64.b64decode(text(envelope.get("Signature")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused("Signature: not base64.", status=403) from exc
    if not signature:
        raise Refused("Signature: missing.", status=403)
    data = string_to_sign(envelope)
    certificate = signing_certificate(text(envelope.get("SigningCertURL")))
    now = now or timezone.now()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Refused("SigningCertURL: the certificate is not valid now.", status=403)
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise Refused("SigningCertURL: not an RSA certificate.", status=403)
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), SIGNATURE_HASHES[version]())
    except InvalidSignature as exc:
        raise Refused("Signature: does not match the message.", status=403) from exc


def basic_auth_ok(request: HttpRequest, expected: str) -> bool:
    """The request's HTTP Basic ``user:password`` equals ``expected`` (constant time)."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, expected.encode("utf-8"))


# --- The lead inside ``Message`` -----------------------------------------------------------------


def read_lead_message(envelope: dict[str, Any]) -> dict[str, Any]:
    """The ``ContactMessage`` of a Notification, checked enough to be captured.

    Raises ``ParseError`` naming the problem: ``Message`` not a JSON object, no
    ``ContactInfo``, or neither a usable email nor phone.
    """
    try:
        message = read_json(text(envelope.get("Message")) or "null")
    except InputError as exc:
        raise ParseError(f"Message: not valid JSON ({exc.message})") from exc
    if not isinstance(message, dict):
        raise ParseError("Message: expected a JSON object with ContactMessage.")
    contact_message = mapping(lookup(message, "ContactMessage")) or message
    info = mapping(lookup(contact_message, "ContactInfo"))
    if not info:
        raise ParseError("Message.ContactMessage.ContactInfo: missing.")
    email = normalize_email(text(lookup(info, "ContactEmail")))
    if not email and not normalize_phone(text(lookup(info, "ContactPhone"))):
        raise ParseError("ContactInfo: neither ContactEmail nor a valid ContactPhone.")
    return contact_message


def _compact(block: dict[str, Any]) -> dict[str, Any]:
    """The block without its empty and "null" values."""
    return {k: v for k, v in block.items() if (text(v) if isinstance(v, str) else v is not None)}


def pinned_agent(info: dict[str, Any], assignee: dict[str, Any]) -> Agent | None:
    """Our agent Zillow names: the assignee first (it changes on reassignment), then the
    agent the lead was sent for; matched on the agents' ids at Zillow (``SourceAgentId``)."""
    candidates = [
        text(lookup(assignee, *ASSIGNEE_PARTNER_KEYS)),
        text(lookup(assignee, "ZillowAssigneeAgentID")),
        text(lookup(info, "PartnerAgentIdentifier")),
        text(lookup(info, "ZillowAgentID")),
    ]
    wanted = [c for c in candidates if c]
    if not wanted:
        return None
    found = {
        known.external_id: known.agent
        for known in SourceAgentId.objects.filter(
            source="zillow", external_id__in=wanted
        ).select_related("agent")
    }
    return next((found[c] for c in wanted if c in found), None)


class ZillowSource(Source):
    key = "zillow"
    label = "Zillow Premier Agent"
    hook = "zillow/"
    kept_headers = (
        *Source.kept_headers,
        "x-amz-sns-message-type", "x-amz-sns-message-id", "x-amz-sns-topic-arn",
        "x-amz-sns-subscription-arn",
    )  # fmt: skip

    def receive(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        """Prove the delivery (Basic auth, topic, SNS signature), store it raw, answer 200."""
        credentials, topics = settings.ZILLOW_BASIC_AUTH, settings.ZILLOW_TOPIC_ARNS
        if not credentials or not topics:
            raise Refused(
                "Zillow delivery is off: ZILLOW_BASIC_AUTH and ZILLOW_TOPIC_ARNS are not set.",
                status=404,
            )
        if not basic_auth_ok(request, credentials):
            response = JsonResponse(
                {"status": 401, "code": "refused", "message": "Give the right Basic credentials."},
                status=401,
            )
            # SNS sends the URL's credentials once challenged (RFC 7617).
            response["WWW-Authenticate"] = 'Basic realm="Leadline", charset="UTF-8"'
            return response
        if request.method != "POST":
            raise Refused("Use POST.", status=405)
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            raise Refused(f"An SNS message is at most {MAX_BODY_BYTES} bytes.", status=413)
        envelope = read_envelope(request.body)
        header_type = request.headers.get("x-amz-sns-message-type", envelope["Type"])
        if header_type != envelope["Type"]:
            raise Refused("x-amz-sns-message-type does not match the message's Type.", status=400)
        if text(envelope.get("TopicArn")) not in topics:
            raise Refused("TopicArn: not one of ZILLOW_TOPIC_ARNS.", status=403)
        try:
            verify_signature(envelope)
        except CertificateUnavailable as exc:
            logger.warning("Zillow SNS certificate unavailable: %s", exc)
            response = JsonResponse(
                {"status": 503, "code": "unavailable", "message": "Cannot verify now; retry."},
                status=503,
            )
            response["Retry-After"] = "20"
            return response
        return self._store(request, envelope)

    def _store(self, request: HttpRequest, envelope: dict[str, Any]) -> HttpResponse:
        message_id = text(envelope.get("MessageId"), 200)
        meta = {"type": envelope["Type"], "topic": envelope["TopicArn"]}
        if envelope["Type"] == "Notification":
            try:
                info = mapping(lookup(read_lead_message(envelope), "ContactInfo"))
            except ParseError as exc:
                self.store(
                    request, external_id=message_id, meta=meta,
                    status=InboundEvent.Status.FAILED, error=str(exc),
                )  # fmt: skip
                body = {"status": 400, "code": "invalid", "message": str(exc)}
                return JsonResponse(body, status=400)
            meta["communication_guid"] = text(lookup(info, "CommunicationGUID"))
        stored = self.store(request, external_id=message_id, meta=meta)
        return JsonResponse({"status": "received", "id": str(stored.event.public_id)})

    # --- On the queue ---------------------------------------------------------------------

    def parse(self, event: InboundEvent) -> list[LeadData]:
        envelope = read_json(bytes(event.body))
        handlers: dict[str, Callable[[InboundEvent, dict[str, Any]], list[LeadData]]] = {
            "Notification": self._lead,
            "SubscriptionConfirmation": self._confirm_subscription,
            "UnsubscribeConfirmation": self._unsubscribed,
        }
        return handlers[envelope["Type"]](event, envelope)

    def _confirm_subscription(self, event: InboundEvent, envelope: dict[str, Any]) -> list:
        """Confirm by fetching ``SubscribeURL``, for a topic we listen to only."""
        if envelope.get("TopicArn") not in settings.ZILLOW_TOPIC_ARNS:
            raise ParseError(f"TopicArn {envelope.get('TopicArn')!r}: not in ZILLOW_TOPIC_ARNS.")
        url = text(envelope.get("SubscribeURL"))
        query = parse_qs(urlsplit(url).query)
        if not sns_url_allowed(url) or query.get("Action") != ["ConfirmSubscription"]:
            raise ParseError("SubscribeURL: not an Amazon SNS ConfirmSubscription URL.")
        try:
            http.request("GET", url)
        except http.HttpError as exc:
            if exc.permanent:
                raise ParseError(f"Confirming the subscription failed: {exc}.") from exc
            raise  # transient: the sweeper tries again
        logger.info("confirmed the SNS subscription to %s", envelope["TopicArn"])
        return []

    def _unsubscribed(self, event: InboundEvent, envelope: dict[str, Any]) -> list:
        """SNS says the subscription was removed: no more Zillow leads until it is renewed."""
        link = settings.SITE_URL + event.get_absolute_url()
        mail_admins(
            "Zillow lead delivery was unsubscribed",
            f"Amazon SNS confirmed that our subscription to {envelope.get('TopicArn')} was "
            f"removed at {envelope.get('Timestamp')}: Zillow leads will not arrive until it is "
            "renewed. If nobody here asked for it, ask Zillow to subscribe "
            f"{settings.SITE_URL}/hooks/zillow/ again, or subscribe again with the SubscribeURL "
            f"of the recorded event: {link}",
        )
        return []

    def _lead(self, event: InboundEvent, envelope: dict[str, Any]) -> list[LeadData]:
        contact_message = read_lead_message(envelope)
        info = mapping(lookup(contact_message, "ContactInfo"))
        prop = mapping(lookup(contact_message, "PropertyInfo"))
        search = mapping(lookup(contact_message, "SearchCriteria"))
        assignee = mapping(lookup(info, "Assignee")) or mapping(lookup(contact_message, "Assignee"))
        agent = pinned_agent(info, assignee)
        is_update = flag(lookup(info, "Update")) or flag(lookup(info, "Reassignment"))
        first, last = split_name(text(lookup(info, "ContactName")))
        # Where the person wants to live when no listing is named: the search criteria.
        area = prop if text(lookup(prop, "Zip", "ZIP", "City")) else search
        return [
            LeadData(
                source=self.key,
                source_detail=self._detail(info),
                external_id=self._inquiry_id(info, envelope, is_update),
                received_at=event.received_at,
                team_id=agent.team_id if agent else None,
                raw_event_id=event.pk,
                pinned_agent_id=agent.pk if agent else None,
                is_update=is_update,
                first_name=first,
                last_name=last,
                email=normalize_email(text(lookup(info, "ContactEmail"))),
                phone=normalize_phone(text(lookup(info, "ContactPhone"))),
                message=text(lookup(info, "ContactMessage"), 5000),
                lead_type=CONTACT_TYPES.get(
                    text(lookup(info, "ContactType")).lower(), Lead.Type.BUYER
                ),
                property_address=text(lookup(prop, "StreetAddress"), 255),
                property_city=text(lookup(area, "City"), 100),
                property_state=state_code(lookup(area, "State")),
                property_zip=normalize_zip(text(lookup(area, "Zip", "ZIP", "PostalCode"))),
                mls_number=text(lookup(prop, "MLSNumber", "MlsNumber"), 50),
                price=decimal(lookup(prop, "ListingPrice")),
                page_url=text(lookup(prop, "ZillowPropertyURL"), 2000),
                extra={"zillow": self._extra(envelope, info, prop, search, assignee)},
            )
        ]

    @staticmethod
    def _detail(info: dict[str, Any]) -> str:
        kind = text(lookup(info, "ContactType"))
        return f"Premier Agent · {kind}"[:200] if kind else "Premier Agent"

    @staticmethod
    def _inquiry_id(info: dict[str, Any], envelope: dict[str, Any], is_update: bool) -> str:
        """The inquiry's id: ``CommunicationGUID``; for an update of an inquiry we know under
        another id, the lead's own id, found by the person's ``ClientGUID``."""
        guid = text(lookup(info, "CommunicationGUID"), 200)
        client = text(lookup(info, "ClientGUID"))
        known = Lead.objects.filter(source="zillow", external_id=guid).exists()
        if is_update and client and not known:
            earlier = (
                Lead.objects.filter(source="zillow", extra__zillow__client_guid=client)
                .order_by("-received_at")
                .values_list("external_id", flat=True)
                .first()
            )
            if earlier:
                return earlier
        return guid or f"sns:{text(envelope.get('MessageId'), 190)}"

    @staticmethod
    def _extra(
        envelope: dict[str, Any],
        info: dict[str, Any],
        prop: dict[str, Any],
        search: dict[str, Any],
        assignee: dict[str, Any],
    ) -> dict[str, Any]:
        """Zillow's facts without a column of their own: ids, links, flags, the search."""
        facts: dict[str, Any] = {
            "message_id": text(envelope.get("MessageId")),
            "communication_guid": text(lookup(info, "CommunicationGUID")),
            "client_guid": text(lookup(info, "ClientGUID")),
            "partner_agent_identifier": text(lookup(info, "PartnerAgentIdentifier")),
            "zillow_agent_id": text(lookup(info, "ZillowAgentID")),
            "contact_url": text(lookup(info, "ContactUrl", "ContactURL")),
            "contact_type": text(lookup(info, "ContactType")),
            "brokerage": text(lookup(info, "Brokerage")),
            "update": flag(lookup(info, "Update")),
            "reassignment": flag(lookup(info, "Reassignment")),
            "is_connected": flag(lookup(info, "IsConnected")),
            "is_tour": flag(lookup(info, "IsTour")),
            "is_flex": flag(lookup(info, "IsFlex")),
        }
        for name, key in (("ContactDateTime", "contact_at"), ("LeadDateTime", "lead_at")):
            if when := moment(lookup(info, name)):
                facts[key] = when.isoformat()
        url = text(lookup(prop, "ZillowPropertyURL"))
        if match := ZPID.search(url):
            facts["zpid"] = match.group(1)
        for name, key in (
            ("Beds", "beds"), ("Baths", "baths"), ("ListingStatus", "listing_status"),
            ("PhotoURL", "photo_url"),
        ):  # fmt: skip
            if value := text(lookup(prop, name)):
                facts[key] = value
        if search := _compact(search):
            facts["search_criteria"] = search
        if assignee := _compact(assignee):
            facts["assignee"] = assignee
        return {k: v for k, v in facts.items() if v not in ("", False)}
