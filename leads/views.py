"""The agent UI. Until the inbox lands, ``/`` sends signed-in staff to the admin."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("admin:leads_lead_changelist")
