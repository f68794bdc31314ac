from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.core import checks


class AdminConfig(DjangoAdminConfig):
    """Django's admin, on our site: two-factor sign-in for staff (crm/admin.py)."""

    default_site = "crm.admin.AdminSite"

    def ready(self) -> None:
        super().ready()
        checks.register(check_admin_two_factor, checks.Tags.security, deploy=True)


def check_admin_two_factor(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy`` warns while staff can open the admin with a password alone."""
    if settings.ADMIN_2FA_REQUIRED:
        return []
    return [
        checks.Warning(
            "ADMIN_2FA_REQUIRED is off: staff open the admin with a password alone.",
            hint="Unset it (it is on whenever DEBUG is off) or set ADMIN_2FA_REQUIRED=true.",
            id="crm.W001",
        )
    ]
