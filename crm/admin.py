"""The operations admin: Django's, with two-factor sign-in for staff (TOTP, django-otp).

With ``ADMIN_2FA_REQUIRED`` (on whenever ``DEBUG`` is off) a staff member opens the admin
only in a session verified by a code from their authenticator app. The first time, after the
password, they enrol: the admin shows a QR code (and its secret, to type in) and takes one
code from the app to confirm it. Later sign-ins ask for the password and the code at once. A
staff member who has enrolled always gives the code, even with the setting off.

Passwords are throttled as on the agent's sign-in page (leads/auth.py); wrong codes by
django-otp, which makes each try after a wrong one wait twice as long.
"""

from __future__ import annotations

from base64 import b32encode
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from leads.auth import ThrottledAuthenticationForm, remember_device

WRONG_CODE = (
    "That code is not right, or came too soon after a wrong one. Wait a few seconds and "
    "enter the code your app shows now."
)


def code_field() -> forms.CharField:
    return forms.CharField(
        label="Code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}
        ),
    )


def enrolled_device(user: AbstractBaseUser | AnonymousUser) -> TOTPDevice | None:
    """The user's confirmed authenticator, if they have enrolled one."""
    if not user.is_authenticated:
        return None
    device: TOTPDevice | None = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
    return device


def verify_code(device: TOTPDevice, code: str) -> bool:
    """Whether ``code`` is the device's current one (each code once; wrong ones throttled)."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        verified: bool = locked.verify_token(code)
    return verified


class AdminSignInForm(ThrottledAuthenticationForm, AdminAuthenticationForm):
    """Username and password of a staff account (throttled), and the code once enrolled."""

    code = code_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].required = False
        self.fields["code"].help_text = "Leave it empty the first time: you set the app up next."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is None:  # a username the field refused (a NUL in it): its error says so
            return cleaned
        device = enrolled_device(user)
        if device is not None:
            code = (cleaned.get("code") or "").strip()
            if not code:
                raise ValidationError(
                    "Enter the code from your authenticator app too.", code="code_required"
                )
            if not verify_code(device, code):
                raise ValidationError(WRONG_CODE, code="wrong_code")
            # django_otp marks the session verified when this user is signed in.
            user.otp_device = device  # type: ignore[attr-defined]
        return cleaned


class CodeForm(forms.Form):
    code = code_field()


def is_verified(request: HttpRequest) -> bool:
    """Whether this session was verified by one of the user's authenticators, still there
    (django_otp's middleware looks the device up)."""
    check = getattr(request.user, "is_verified", None)
    return bool(check and check())


class AdminSite(admin.AdminSite):
    login_form = AdminSignInForm

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        return not settings.ADMIN_2FA_REQUIRED or is_verified(request)

    def get_urls(self) -> list[URLPattern | URLResolver]:
        return [
            path("two-factor/", self.two_factor, name="two_factor"),
            *super().get_urls(),
        ]

    def needs_enrolment(self, request: HttpRequest) -> bool:
        user = request.user
        return (
            settings.ADMIN_2FA_REQUIRED
            and user.is_active
            and user.is_staff
            and enrolled_device(user) is None
        )

    @method_decorator(never_cache)
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """Django's admin sign-in, then on to enrolment for staff who have no authenticator."""
        if request.method == "GET" and self.needs_enrolment(request):
            return self._to_enrolment(request)
        response = super().login(request, extra_context)
        if request.method == "POST" and isinstance(response, HttpResponseRedirect):
            remember_device(request, response, request.POST.get("username", ""))
            if self.needs_enrolment(request):
                return self._to_enrolment(request)
        elif isinstance(response, TemplateResponse) and response.context_data:
            form = response.context_data.get("form")
            errors = form.non_field_errors().as_data() if form is not None else []
            if any(error.code == "throttled" for error in errors):
                response.status_code = 429
        return response

    def _to_enrolment(self, request: HttpRequest) -> HttpResponse:
        url = reverse("admin:two_factor", current_app=self.name)
        return HttpResponseRedirect(
            f"{url}?{urlencode({REDIRECT_FIELD_NAME: self._next(request)})}"
        )

    def _next(self, request: HttpRequest) -> str:
        wanted = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
        safe = url_has_allowed_host_and_scheme(
            wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return wanted if wanted and safe else reverse("admin:index", current_app=self.name)

    @method_decorator(never_cache)
    @method_decorator(csrf_protect)
    def two_factor(self, request: HttpRequest) -> HttpResponse:
        """Enrol an authenticator app: scan the QR code, confirm with one code.

        Only for a signed-in staff member without one: a second authenticator cannot be added
        by whoever holds a session (an operator deletes the old one in the admin first).
        """
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect_to_login(
                request.get_full_path(), reverse("admin:login", current_app=self.name)
            )
        next_url = self._next(request)
        if enrolled_device(user) is not None:
            return HttpResponseRedirect(next_url)
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, confirmed=False, defaults={"name": "Authenticator app"}
        )
        form = CodeForm(request.POST or None)
        if form.is_valid():
            if verify_code(device, form.cleaned_data["code"]):
                TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
                device.confirmed = True
                request.session.cycle_key()  # a new session id for the stronger sign-in
                otp_login(request, device)
                return HttpResponseRedirect(next_url)
            form.add_error("code", WRONG_CODE)
        qr = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathFillImage)
        secret = b32encode(device.bin_key).decode()
        context = {
            **self.each_context(request),
            "title": "Set up two-factor sign-in",
            "qr_svg": mark_safe(qr.to_string(encoding="unicode")),  # noqa: S308 - qrcode's SVG
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "form": form,
            "next": next_url,
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/two_factor.html", context)
