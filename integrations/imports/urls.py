"""The manager's import pages under ``/imports/``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path

from .views import MANAGER_VIEWS

app_name = "imports"


def patterns(views: dict[str, Callable[..., Any]], prefix: str = "") -> list[URLPattern]:
    return [
        path(f"{prefix}", views["start"], name="start"),
        path(f"{prefix}<int:pk>/", views["job"], name="job"),
        path(f"{prefix}<int:pk>/progress/", views["progress"], name="progress"),
        path(f"{prefix}<int:pk>/map/", views["map"], name="map"),
        path(f"{prefix}<int:pk>/start/", views["run"], name="run"),
        path(f"{prefix}<int:pk>/cancel/", views["cancel"], name="cancel"),
        path(f"{prefix}<int:pk>/results.csv", views["results"], name="results"),
    ]


urlpatterns = patterns(MANAGER_VIEWS, "imports/")
