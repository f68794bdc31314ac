from __future__ import annotations

from django.urls import path

from bench.bare.views import submit

urlpatterns = [path("submit/", submit)]
