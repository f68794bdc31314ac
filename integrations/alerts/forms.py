"""The agent's alert preferences, as a section of their settings page (``leads.extensions``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from leads.extensions import SettingsPanel, SettingsSection
from leads.models import Agent

from . import push
from .models import PREFERENCES, AlertSettings, PushSubscription, alert_settings_for
from .services import alert_settings_update

TIME_FORMATS = ["%H:%M"]


class AlertPreferencesForm(forms.ModelForm):
    class Meta:
        model = AlertSettings
        fields = list(PREFERENCES)
        widgets = {
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("quiet_hours_start", "quiet_hours_end"):  # the phone's time picker
            field = self.fields[name]
            assert isinstance(field, forms.TimeField)
            field.input_formats = TIME_FORMATS


def preferences_form(agent: Agent, data: Any) -> forms.Form:
    # A copy: validating the form must not change the agent's cached settings.
    known = alert_settings_for(agent)
    instance = AlertSettings(**{f.attname: getattr(known, f.attname) for f in known._meta.fields})
    return AlertPreferencesForm(data, instance=instance)  # type: ignore[return-value]


def preferences_save(form: forms.Form, agent: Agent, actor: Agent) -> list[str]:
    return alert_settings_update(
        agent=agent, actor=actor, **{name: form.cleaned_data[name] for name in PREFERENCES}
    )


SECTION = SettingsSection(title="Alerts", form=preferences_form, save=preferences_save)


def push_devices(agent: Agent) -> dict[str, Any]:
    """The agent's devices that get push notifications, and the key a new one needs."""
    return {
        "configured": push.configured(),
        "public_key": settings.WEBPUSH_VAPID_PUBLIC_KEY,
        "devices": list(PushSubscription.objects.filter(agent=agent)),
    }


PUSH_PANEL = SettingsPanel(template="alerts/_push_devices.html", context=push_devices)
