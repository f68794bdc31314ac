"""The shape every marketing platform takes, and how the one in use is chosen.

``MARKETING_BACKEND`` names a subclass of :class:`MarketingBackend` by dotted path, as
Django's ``EMAIL_BACKEND`` names a mail backend. The rest of the CRM speaks only to this
interface (:mod:`integrations.marketing.services`), so a second platform is one new module.
A backend raises :class:`MarketingError` with its :class:`ErrorKind` for every failure.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import ClassVar

from django.conf import settings
from django.utils.module_loading import import_string


class ErrorKind(StrEnum):
    RETRY = "retry"  # try again later: throttled, the platform down, a timeout
    PERMANENT = "permanent"  # this contact will never be accepted as it is
    CONFIGURATION = "configuration"  # every call will fail until an operator fixes a setting


class MarketingError(Exception):
    """A call to the platform failed; ``kind`` says what to do about it."""

    def __init__(self, message: str, *, kind: ErrorKind, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status

    @property
    def permanent(self) -> bool:
        return self.kind is not ErrorKind.RETRY


class Status(StrEnum):
    """A member's subscription state, in the words of the CRM's ``Contact.MarketingStatus``."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    CLEANED = "cleaned"
    PENDING = "pending"
    TRANSACTIONAL = "transactional"


@dataclass(frozen=True)
class MemberUpdate:
    """What the CRM tells the platform about one contact.

    ``status_if_new`` applies only when the platform does not know the address yet;
    ``status`` (None unless a person in the CRM changed the contact's consent) changes an
    existing member too. ``fields`` are keyed by our own names (``first_name``, ``zip``...);
    ``tags`` maps a tag to True (on) or False (take it off).
    """

    key: str  # our own id for the operation, e.g. "contact-42"
    email: str
    known_as: str = ""  # the address the platform knows them by, when it has changed since
    status_if_new: Status = Status.TRANSACTIONAL
    status: Status | None = None
    fields: dict[str, str] = field(default_factory=dict)
    tags: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Member:
    """What the platform holds about one address."""

    email: str
    status: str
    fields: dict[str, str]
    changed_at: dt.datetime | None


@dataclass(frozen=True)
class MarketingEvent:
    """One thing that happened on the platform, as its webhook told it.

    ``kind`` is one of subscribe, unsubscribe, profile, upemail, cleaned (anything else is
    kept as it came and ignored). ``email`` is the address before the change; ``new_email``
    is set for upemail; ``fields`` uses our own names; ``reason`` says why (manual, abuse,
    hard...); ``deleted`` is an unsubscribe that also removed the member from the audience.
    """

    kind: str
    email: str
    occurred_at: dt.datetime
    fields: dict[str, str] = field(default_factory=dict)
    new_email: str = ""
    reason: str = ""
    deleted: bool = False


@dataclass(frozen=True)
class BatchOutcome:
    """The result of one operation of a bulk upsert: ``error`` empty when it was accepted."""

    key: str
    error: str = ""
    kind: ErrorKind | None = None


@dataclass
class BatchProgress:
    """How far a bulk upsert on the platform has got; kept on the ``SyncRun`` row."""

    batch_id: str
    status: str
    total: int
    finished: int = 0
    errored: int = 0
    outcomes: list[BatchOutcome] = field(default_factory=list)

    @property
    def is_done(self) -> bool:
        return self.status == "finished"


class WebhookError(Exception):
    """An authentic webhook body that cannot be read; the message names the problem."""


class MarketingBackend(ABC):
    label: ClassVar[str]
    # Setting names that must all be set for the sync to run; shown in the admin when not.
    required_settings: ClassVar[tuple[str, ...]] = ()

    def missing_settings(self) -> list[str]:
        return [name for name in self.required_settings if not getattr(settings, name, "")]

    def is_configured(self) -> bool:
        return not self.missing_settings()

    @abstractmethod
    def upsert(self, update: MemberUpdate) -> str:
        """Create or update the member with its fields and tags; return its subscription
        status as the platform now holds it. Raises ``MarketingError``."""

    @abstractmethod
    def set_subscription(self, email: str, status: Status) -> None:
        """Change an existing member's subscription: only on a person's explicit request."""

    @abstractmethod
    def changes_since(self, since: dt.datetime) -> Iterator[Member]:
        """Yield every member changed on the platform since ``since``."""

    @abstractmethod
    def parse_webhook(self, body: bytes, content_type: str) -> list[MarketingEvent]:
        """Turn a webhook body into events; raises ``WebhookError`` when it cannot."""

    @abstractmethod
    def classify(self, exc: Exception) -> ErrorKind:
        """Say whether a failure is worth retrying, is this contact's for good, or is ours."""

    @abstractmethod
    def bulk_upsert(self, updates: Sequence[MemberUpdate]) -> str:
        """Hand many upserts to the platform at once; returns the id to follow them by."""

    @abstractmethod
    def bulk_progress(self, batch_id: str) -> BatchProgress:
        """How far the bulk upsert ``batch_id`` has got; once it is done, with the outcome
        of every operation that failed (``outcomes``; the others succeeded)."""


def backend_path() -> str:
    return str(getattr(settings, "MARKETING_BACKEND", "") or "")


@cache
def _load(path: str) -> MarketingBackend:
    backend_class: type[MarketingBackend] = import_string(path)
    return backend_class()


def get_backend() -> MarketingBackend | None:
    """The backend ``MARKETING_BACKEND`` names, or None when marketing sync is switched off."""
    path = backend_path()
    return _load(path) if path else None


def active_backend() -> MarketingBackend | None:
    """The backend when it is chosen and fully configured; None: the sync is off."""
    backend = get_backend()
    return backend if backend is not None and backend.is_configured() else None


def sync_off_reason() -> str:
    """Why the sync is off, in an operator's words; empty when it is on."""
    backend = get_backend()
    if backend is None:
        return "Marketing sync is off: MARKETING_BACKEND is empty."
    missing = backend.missing_settings()
    if missing:
        return f"{backend.label} sync is off: set {', '.join(missing)}."
    return ""
