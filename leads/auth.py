"""Who may sign in: Google only for existing agents, and password attempts rate limited.

Password sign-ins are throttled per client address and per username, in the ``throttle``
cache (Redis, or a database table shared by every web worker). Those limits alone would let
anyone lock real users out by failing on purpose: for one user by naming them, for everyone
behind a shared address (an office NAT, or every client when ``NUM_PROXIES`` is wrong) by
failing from it. So a browser the user has signed in from before carries a signed "known
device" cookie, and for that username it counts only its own failures (OWASP's device-cookie
scheme): neither the address's failures nor the username's elsewhere block it. A real user
on a new device during an attack can still sign in with Google or reset the password.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core import signing
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from social_core.exceptions import AuthPolicyError

from .models import Agent

DEVICE_COOKIE = "leadline_device"
DEVICE_SALT = "leads.auth.device"
DEVICE_MAX_AGE = 60 * 60 * 24 * 180
THROTTLED_MESSAGE = "Too many failed sign-ins. Wait a few minutes, or sign in with Google."


# --- Sign in with Google ----------------------------------------------------------------------


def require_existing_agent(
    backend: Any, details: dict[str, Any], user: AbstractBaseUser | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Pipeline step: let in only an active agent, found by the Google account's email.

    A Google account already linked to a user keeps that user, if still an active agent.
    Otherwise the verified email (social-core checks ``email_verified``) must be the email
    of exactly one active agent's active login. Nothing is ever created: anyone else gets
    ``AuthPolicyError``, which the social-auth middleware turns into a message on the
    sign-in page.
    """
    if user is None:
        email = (details.get("email") or "").strip()
        matches = (
            list(
                get_user_model()
                .objects.filter(is_active=True, agent__is_active=True)
                .filter(Q(email__iexact=email) | Q(agent__email__iexact=email))
                .distinct()[:2]
            )
            if email
            else []
        )
        # Two logins with one email is a question for an operator, not a guess.
        user = matches[0] if len(matches) == 1 else None
    if user is None or not _is_active_agent(user):
        raise AuthPolicyError(
            backend, "No active agent has this Google account's email.", stage="pipeline"
        )
    return {"user": user, "is_new": False}


def _is_active_agent(user: AbstractBaseUser) -> bool:
    return user.is_active and Agent.objects.filter(user_id=user.pk, is_active=True).exists()


# --- Password sign-in throttling --------------------------------------------------------------


def client_address(request: HttpRequest) -> str:
    """``REMOTE_ADDR``, or the address ``NUM_PROXIES`` trusted proxies put in X-Forwarded-For."""
    hops = settings.NUM_PROXIES
    if hops:
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))


def _digest(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def known_device(request: HttpRequest, username: str) -> bool:
    """Whether this browser signed in as ``username`` before (a valid signed cookie says so)."""
    raw = request.COOKIES.get(DEVICE_COOKIE, "")
    try:
        names = signing.loads(raw, salt=DEVICE_SALT, max_age=DEVICE_MAX_AGE) if raw else []
    except signing.BadSignature:
        return False
    return isinstance(names, list) and _digest(username) in names


def _keys(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    """The counters a failure adds to and a sign-in is checked against, with their limits.

    A known browser has one: its own for this username. Any other has the address's and the
    username's.
    """
    user_key = f"login-fail:user:{_digest(username)}"
    if known_device(request, username):
        device = _digest(request.COOKIES.get(DEVICE_COOKIE, ""))
        return [(f"{user_key}:known:{device}", settings.LOGIN_FAILURES_PER_USERNAME)]
    return [
        (f"login-fail:ip:{_digest(client_address(request))}", settings.LOGIN_FAILURES_PER_IP),
        (user_key, settings.LOGIN_FAILURES_PER_USERNAME),
    ]


def login_throttled(request: HttpRequest, username: str) -> bool:
    """Whether this sign-in has used up its failures (see ``_keys`` for which count)."""
    cache = caches["throttle"]
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(request, username))


def login_failed(request: HttpRequest, username: str) -> None:
    """Count a failed attempt on every counter it belongs to, for ``LOGIN_FAILURE_WINDOW``."""
    cache = caches["throttle"]
    for key, _ in _keys(request, username):
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW)


def remember_device(request: HttpRequest, response: HttpResponse, username: str) -> None:
    """Mark this browser as one ``username`` signed in from (added to the names it holds)."""
    raw = request.COOKIES.get(DEVICE_COOKIE, "")
    try:
        names = signing.loads(raw, salt=DEVICE_SALT, max_age=DEVICE_MAX_AGE) if raw else []
    except signing.BadSignature:
        names = []
    names = [n for n in names if isinstance(n, str) and n != _digest(username)][-4:]
    response.set_cookie(
        DEVICE_COOKIE,
        signing.dumps([*names, _digest(username)], salt=DEVICE_SALT),
        max_age=DEVICE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing to even check a password once the limit is reached."""

    def clean(self) -> dict[str, Any]:
        username = self.data.get("username", "") or ""
        if self.request is not None and login_throttled(self.request, username):
            raise ValidationError(THROTTLED_MESSAGE, code="throttled")
        try:
            return super().clean()
        except ValidationError:
            if self.request is not None:
                login_failed(self.request, username)
            raise


class ThrottledLoginView(LoginView):
    """The sign-in page: password (throttled) and, when configured, Sign in with Google."""

    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        remember_device(self.request, response, form.cleaned_data.get("username", ""))
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if any(e.code == "throttled" for e in form.non_field_errors().as_data()):
            response.status_code = 429
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["google_enabled"] = bool(
            settings.SOCIAL_AUTH_GOOGLE_OAUTH2_KEY and settings.SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET
        )
        return context
