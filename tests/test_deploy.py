"""Production start-up: ``check --deploy`` stays quiet, a missing secret is a clear error, and
``DATABASE_URL`` / ``REDIS_URL`` switch the database, the queue's broker and the cache.

Each case starts Django in a fresh process from the repository root with a clean environment,
as gunicorn or ``manage.py`` would start in production. The settings also read an optional
``.env`` whose values never override the environment, so every setting that matters here is
passed explicitly, and an empty value stands for "not set".
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/leadline"
REDIS_URL = "redis://127.0.0.1:6379/0"
# What Django itself would use, read in the started process (nothing connects to a server).
SHOW_BACKENDS = """
import json
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django_q.brokers import get_broker
print(json.dumps({
    "database": connection.vendor,
    "database_name": connection.settings_dict["NAME"],
    "broker": type(get_broker()).__name__,
    "q_cluster_keys": sorted({"orm", "redis"} & set(settings.Q_CLUSTER)),
    "q_cluster_redis": settings.Q_CLUSTER.get("redis"),
    "cache": type(caches["default"]).__name__,
    "cache_location": settings.CACHES["default"].get("LOCATION"),
    "throttle_cache": type(caches["throttle"]).__name__,
    "throttle_cache_location": settings.CACHES["throttle"].get("LOCATION"),
}))
"""


@pytest.fixture
def production(tmp_path: Path) -> dict[str, str]:
    """A complete production environment: every setting the checks depend on, explicitly."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "leads.example.com",
        "SITE_URL": "https://leads.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://leads.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SESSION_COOKIE_AGE": "43200",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "WARNING",
    }


def start(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python <args>`` from the repository root with only ``environment`` set."""
    clean = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "crm.settings"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_reports_nothing_in_production(production: dict[str, str]) -> None:
    result = start(production, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("SECURE_SSL_REDIRECT", "false", "security.W008"),
        ("SECURE_HSTS_SECONDS", "0", "security.W004"),
        ("SECRET_KEY", "short-and-guessable", "security.W009"),
        ("ADMIN_2FA_REQUIRED", "false", "crm.W001"),
    ],
)
def test_check_deploy_names_an_insecure_setting(
    production: dict[str, str], name: str, value: str, check_id: str
) -> None:
    result = start(
        {**production, name: value}, "manage.py", "check", "--deploy", "--fail-level", "WARNING"
    )

    assert result.returncode != 0
    assert f"({check_id})" in result.stderr


@pytest.mark.parametrize(
    "command",
    [("manage.py", "check"), ("-c", "import crm.wsgi")],
    ids=["manage.py", "wsgi"],
)
@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_a_missing_production_setting_stops_start_up_with_a_clear_error(
    production: dict[str, str], missing: str, command: tuple[str, ...]
) -> None:
    result = start({**production, missing: ""}, *command)

    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"django.core.exceptions.ImproperlyConfigured: {missing} is not set")
    assert production["SECRET_KEY"] not in result.stdout + result.stderr


def test_by_default_it_runs_on_sqlite_with_the_orm_broker_and_a_local_cache(
    production: dict[str, str],
) -> None:
    result = start(production, "manage.py", "shell", "--no-imports", "-c", SHOW_BACKENDS)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "database": "sqlite",
        "database_name": production["DATABASE_URL"].removeprefix("sqlite:///"),
        "broker": "ORM",
        "q_cluster_keys": ["orm"],
        "q_cluster_redis": None,
        "cache": "LocMemCache",
        "cache_location": None,
        "throttle_cache": "CounterDatabaseCache",
        "throttle_cache_location": "leadline_cache",
    }


def test_database_and_redis_urls_switch_the_database_the_broker_and_the_cache(
    production: dict[str, str],
) -> None:
    switched = {**production, "DATABASE_URL": POSTGRES_URL, "REDIS_URL": REDIS_URL}

    result = start(switched, "manage.py", "shell", "--no-imports", "-c", SHOW_BACKENDS)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "database": "postgresql",
        "database_name": "leadline",
        "broker": "Redis",
        "q_cluster_keys": ["redis"],
        # Every connection gives up in time: a Redis that hangs holds no request.
        "q_cluster_redis": f"{REDIS_URL}?socket_connect_timeout=1.0&socket_timeout=3.0",
        "cache": "RedisCache",
        "cache_location": REDIS_URL,
        "throttle_cache": "RedisCache",
        "throttle_cache_location": REDIS_URL,
    }
