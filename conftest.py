"""Test-wide environment, set before Django reads its settings.

Tests run with DEBUG off, like production, but without the HTTPS redirect that the test
client cannot follow. ``DATABASE_URL`` and ``REDIS_URL`` pass through from the environment,
so the same suite runs on SQLite and on PostgreSQL with Redis (see .ci/run).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ["DEBUG"] = "false"
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ["SECURE_SSL_REDIRECT"] = "false"
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("WEBFORM_MIN_FILL_SECONDS", "0")
