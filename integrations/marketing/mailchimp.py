"""Mailchimp Marketing API v3: one audience, kept in step with the CRM's contacts.

Every call goes through :func:`integrations.lib.http.request` with HTTP Basic auth (any user
name, the API key as password), at most ``MAILCHIMP_MAX_CONNECTIONS`` at a time in this
process (Mailchimp allows 10 concurrent connections per key). Members are addressed by the
MD5 of the lower-cased email. We send ``status_if_new`` only, never ``status``, unless a person
in the CRM changed the contact's consent: ``status`` on an existing member could re-subscribe
someone who opted out. Errors come as ``application/problem+json`` (``title``, ``detail``).
Reference: https://mailchimp.com/developer/marketing/api/list-members/ and
https://mailchimp.com/developer/marketing/docs/errors/.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl

import requests
from django.conf import settings

from integrations.lib import http
from leads.inputs import clean_text

from .base import (
    BatchOutcome,
    BatchProgress,
    ErrorKind,
    MarketingBackend,
    MarketingError,
    MarketingEvent,
    Member,
    MemberUpdate,
    Status,
    WebhookError,
)

TIMEOUT = (3.05, 30.0)
PAGE_SIZE = 1000
# Titles of 400 answers that no retry will change for this contact.
PERMANENT_TITLES = frozenset(
    {"Member In Compliance State", "Forgotten Email Not Subscribed", "Invalid Resource"}
)
# "Invalid Resource" also says "signed up to a lot of lists very recently": that one passes.
THROTTLED_SIGNUPS = "signed up to a lot of lists"
WEBHOOK_KINDS = frozenset({"subscribe", "unsubscribe", "profile", "upemail", "cleaned"})

_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address, in hex."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def base_url() -> str:
    """``MAILCHIMP_API_BASE_URL`` when set, else the data centre the key's suffix names."""
    if settings.MAILCHIMP_API_BASE_URL:
        return str(settings.MAILCHIMP_API_BASE_URL).rstrip("/")
    _, _, dc = str(settings.MAILCHIMP_API_KEY).rpartition("-")
    return f"https://{dc or 'us1'}.api.mailchimp.com/3.0"


def _connection_slots() -> threading.BoundedSemaphore:
    size = max(1, int(settings.MAILCHIMP_MAX_CONNECTIONS))
    with _slots_lock:
        return _slots.setdefault(size, threading.BoundedSemaphore(size))


def _problem(response: requests.Response | None) -> tuple[str, str]:
    """The ``title`` and ``detail`` of a problem+json answer (empty when it is not one)."""
    if response is None:
        return "", ""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if not isinstance(body, dict):
        return "", ""
    detail = str(body.get("detail", ""))
    errors = body.get("errors") or []
    if isinstance(errors, list) and errors:
        detail += " " + "; ".join(
            f"{e.get('field', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)
        )
    return str(body.get("title", "")), detail.strip()


def error_kind(status: int | None, title: str, detail: str) -> ErrorKind:
    """Mailchimp's answer, sorted: retry it, give this contact up, or fix our settings."""
    if status is None or status == 429 or status >= 500:
        return ErrorKind.RETRY
    if status in (401, 403):
        return ErrorKind.CONFIGURATION  # the key is wrong, revoked or lacks the audience
    if status == 404 and title == "Resource Not Found":
        return ErrorKind.CONFIGURATION  # the audience id names no audience
    if title == "Invalid Resource" and THROTTLED_SIGNUPS in detail:
        return ErrorKind.RETRY
    return ErrorKind.PERMANENT


class MailchimpBackend(MarketingBackend):
    label = "Mailchimp"
    required_settings = ("MAILCHIMP_API_KEY", "MAILCHIMP_AUDIENCE_ID")

    def __init__(self) -> None:
        self._merge_fields_ready: set[str] = set()

    # --- The calls ---------------------------------------------------------------------

    @property
    def audience(self) -> str:
        return str(settings.MAILCHIMP_AUDIENCE_ID)

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        retries: int = 2,
    ) -> requests.Response:
        """One call to the API; raises ``MarketingError`` with its kind when it fails."""
        with _connection_slots():
            try:
                return http.request(
                    method,
                    base_url() + path,
                    json=json_body,
                    params=params,
                    auth=("leadline", str(settings.MAILCHIMP_API_KEY)),
                    timeout=TIMEOUT,
                    retries=retries,
                )
            except http.HttpError as exc:
                raise self._error(exc) from exc

    def _error(self, exc: http.HttpError) -> MarketingError:
        title, detail = _problem(exc.response)
        kind = error_kind(exc.status, title, detail)
        text = f"{exc.status} {title}: {detail}" if exc.status else str(exc)
        return MarketingError(text.strip(": ")[:500], kind=kind, status=exc.status)

    def classify(self, exc: Exception) -> ErrorKind:
        if isinstance(exc, MarketingError):
            return exc.kind
        if isinstance(exc, http.HttpError):
            return self._error(exc).kind
        return ErrorKind.RETRY

    # --- CRM to Mailchimp --------------------------------------------------------------

    def merge_tags(self) -> dict[str, str]:
        """Our field name to the audience's merge tag (``MAILCHIMP_MERGE_FIELDS``)."""
        return dict(settings.MAILCHIMP_MERGE_FIELDS)

    def ensure_merge_fields(self) -> None:
        """Create the audience's merge fields we use and it lacks (once per process)."""
        if self.audience in self._merge_fields_ready:
            return
        have = self._merge_field_tags()
        for name, tag in self.merge_tags().items():
            if tag not in have:
                label = name.replace("_", " ").capitalize()
                body = {"tag": tag, "name": label, "type": "text", "required": False}
                try:
                    self.call("POST", f"/lists/{self.audience}/merge-fields", json_body=body)
                except MarketingError as exc:
                    # Another worker made it between our look and our create (Mailchimp:
                    # 400, the tag "already exists"): what we wanted is there.
                    if exc.status != 400 or tag not in self._merge_field_tags():
                        raise
        self._merge_fields_ready.add(self.audience)

    def _merge_field_tags(self) -> set[str]:
        answer = self.call(
            "GET",
            f"/lists/{self.audience}/merge-fields",
            params={"count": PAGE_SIZE, "fields": "merge_fields.tag"},
        ).json()
        return {f.get("tag") for f in answer.get("merge_fields", [])}

    def member_body(self, update: MemberUpdate) -> dict[str, Any]:
        tags = self.merge_tags()
        body: dict[str, Any] = {
            "email_address": update.email,
            "status_if_new": update.status_if_new.value,
            "merge_fields": {tags[k]: v for k, v in update.fields.items() if k in tags and v},
        }
        if update.status is not None:
            body["status"] = update.status.value
        return body

    def tags_body(self, update: MemberUpdate) -> dict[str, Any]:
        return {
            "tags": [
                {"name": name, "status": "active" if on else "inactive"}
                for name, on in sorted(update.tags.items())
            ],
            "is_syncing": bool(settings.MAILCHIMP_TAGS_SYNCING),
        }

    def member_path(self, email: str) -> str:
        return f"/lists/{self.audience}/members/{subscriber_hash(email)}"

    def upsert(self, update: MemberUpdate) -> str:
        self.ensure_merge_fields()
        path = self.member_path(update.known_as or update.email)
        answer = self.call("PUT", path, json_body=self.member_body(update)).json()
        if update.tags:
            # After an email change the member answers to the new address's hash.
            path = self.member_path(update.email)
            self.call("POST", f"{path}/tags", json_body=self.tags_body(update))
        return str(answer.get("status", ""))

    def set_subscription(self, email: str, status: Status) -> None:
        self.call("PATCH", self.member_path(email), json_body={"status": status.value})

    def bulk_upsert(self, updates: Sequence[MemberUpdate]) -> str:
        """One ``POST /batches`` with a PUT (and a tags POST) per contact."""
        self.ensure_merge_fields()
        operations: list[dict[str, Any]] = []
        for update in updates:
            path = self.member_path(update.email)
            operations.append(
                {
                    "method": "PUT",
                    "path": self.member_path(update.known_as or update.email),
                    "operation_id": f"{update.key}:member",
                    "body": json.dumps(self.member_body(update)),
                }
            )
            if update.tags:
                operations.append(
                    {
                        "method": "POST",
                        "path": f"{path}/tags",
                        "operation_id": f"{update.key}:tags",
                        "body": json.dumps(self.tags_body(update)),
                    }
                )
        answer = self.call("POST", "/batches", json_body={"operations": operations}).json()
        return str(answer["id"])

    def bulk_progress(self, batch_id: str) -> BatchProgress:
        answer = self.call("GET", f"/batches/{batch_id}").json()
        progress = BatchProgress(
            batch_id=batch_id,
            status=str(answer.get("status", "")),
            total=int(answer.get("total_operations") or 0),
            finished=int(answer.get("finished_operations") or 0),
            errored=int(answer.get("errored_operations") or 0),
        )
        if progress.is_done and progress.errored and answer.get("response_body_url"):
            progress.outcomes = self._batch_failures(str(answer["response_body_url"]))
        return progress

    def _batch_failures(self, url: str) -> list[BatchOutcome]:
        """Read the batch's results archive (a .tar.gz of JSON arrays) for failed operations.

        The archive is on Mailchimp's storage, not the API: no key is sent there.
        """
        try:
            # Storage may redirect a download; nothing secret is sent there.
            response = http.request("GET", url, timeout=(3.05, 120.0), follow_redirects=True)
        except http.HttpError as exc:
            raise MarketingError(str(exc), kind=ErrorKind.RETRY, status=exc.status) from exc
        failures: list[BatchOutcome] = []
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            for member in archive.getmembers():
                handle = archive.extractfile(member) if member.isfile() else None
                if handle is None:
                    continue
                for result in json.loads(handle.read() or b"[]"):
                    status = int(result.get("status_code") or 0)
                    if status < 400:
                        continue
                    try:
                        problem = json.loads(result.get("response") or "{}")
                    except ValueError:
                        problem = {}
                    title, detail = str(problem.get("title", "")), str(problem.get("detail", ""))
                    failures.append(
                        BatchOutcome(
                            key=str(result.get("operation_id", "")),
                            error=f"{status} {title}: {detail}"[:500],
                            kind=error_kind(status, title, detail),
                        )
                    )
        return failures

    # --- Mailchimp to CRM --------------------------------------------------------------

    def _fields_from_merges(self, merges: dict[str, str]) -> dict[str, str]:
        ours = {tag: name for name, tag in self.merge_tags().items()}
        return {ours[tag]: str(value) for tag, value in merges.items() if tag in ours}

    def changes_since(self, since: dt.datetime) -> Iterator[Member]:
        """Page through ``GET /lists/{id}/members?since_last_changed=...``."""
        offset = 0
        while True:
            answer = self.call(
                "GET",
                f"/lists/{self.audience}/members",
                params={
                    "since_last_changed": since.astimezone(dt.UTC).isoformat(timespec="seconds"),
                    "count": PAGE_SIZE,
                    "offset": offset,
                    "fields": "members.email_address,members.status,members.merge_fields,"
                    "members.last_changed,total_items",
                },
            ).json()
            members = answer.get("members") or []
            for item in members:
                yield Member(
                    email=str(item.get("email_address", "")),
                    status=str(item.get("status", "")),
                    fields=self._fields_from_merges(item.get("merge_fields") or {}),
                    changed_at=_parse_time(item.get("last_changed")),
                )
            offset += len(members)
            if not members or offset >= int(answer.get("total_items") or 0):
                return

    def parse_webhook(self, body: bytes, content_type: str) -> list[MarketingEvent]:
        """Read Mailchimp's form-encoded webhook (``type``, ``fired_at``, ``data[...]``).

        Reference: https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/
        """
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WebhookError("The body is not form-encoded (type=...&data[...]=...).") from exc
        form = {clean_text(key): clean_text(value) for key, value in pairs}
        kind = form.get("type", "")
        if not kind:
            raise WebhookError("The field 'type' is missing.")
        fired_at = _parse_time(form.get("fired_at", ""), webhook=True)
        if fired_at is None:
            raise WebhookError("The field 'fired_at' is missing or not 'YYYY-MM-DD HH:MM:SS'.")
        if kind not in WEBHOOK_KINDS:
            return [MarketingEvent(kind=kind, email="", occurred_at=fired_at)]
        merges = {
            key[len("data[merges][") : -1]: value
            for key, value in form.items()
            if key.startswith("data[merges][") and key.endswith("]") and key.count("[") == 2
        }
        email = form.get("data[email]") or form.get("data[old_email]") or ""
        if not email:
            raise WebhookError("The field 'data[email]' (or 'data[old_email]') is missing.")
        new_email = form.get("data[new_email]", "")
        if kind == "upemail" and not new_email:
            raise WebhookError("An upemail event without 'data[new_email]'.")
        return [
            MarketingEvent(
                kind=kind,
                email=email,
                occurred_at=fired_at,
                fields=self._fields_from_merges(merges),
                new_email=new_email,
                reason=form.get("data[reason]", ""),
                deleted=form.get("data[action]", "") == "delete",
            )
        ]


def _parse_time(value: Any, *, webhook: bool = False) -> dt.datetime | None:
    """An ISO 8601 time from the API, or a webhook's ``fired_at`` (``YYYY-MM-DD HH:MM:SS``,
    Mailchimp's server time in UTC)."""
    if not value:
        return None
    try:
        if webhook:
            return dt.datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
