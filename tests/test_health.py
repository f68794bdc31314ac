from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_healthz_reports_the_database_and_the_queue(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "queue": "ok"}}


@pytest.mark.django_db
def test_healthz_is_503_when_the_queue_cannot_be_reached(client, monkeypatch):
    def unreachable():
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.brokers.get_broker", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["queue"] == "error: ConnectionError"
    assert response.json()["checks"]["database"] == "ok"
