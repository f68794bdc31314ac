"""Routing's shipped ZIP file is the ``zipcodes`` data set, and processes build it as they start."""

from __future__ import annotations

from django.apps import apps
from django.core.management import call_command

from integrations.alerts.apps import AlertsConfig
from leads import routing
from leads.apps import LeadsConfig


def test_the_shipped_zip_file_is_the_data_set():
    shipped = routing._zip_index()
    assert shipped == routing.zip_places_from_dataset()
    assert shipped["32801"] == ("Orlando", "Orange County", "FL")


def test_zip_places_writes_the_file_again(tmp_path):
    target = tmp_path / "zip_places.tsv.gz"
    call_command("zip_places", output=target)
    assert target.read_bytes() == routing.ZIP_PLACES_FILE.read_bytes()


def test_warming_a_process_builds_the_zip_index():
    routing._zip_index.cache_clear()
    leads_config, alerts_config = apps.get_app_config("leads"), apps.get_app_config("alerts")
    assert isinstance(leads_config, LeadsConfig)
    assert isinstance(alerts_config, AlertsConfig)
    leads_config.warm()
    assert routing._zip_index.cache_info().currsize == 1
    alerts_config.warm()  # compiles the alert templates: they exist
