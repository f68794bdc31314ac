"""Settings for the test suite: production settings, with the environment the tests assume.

Set before ``crm.settings`` reads the environment (and an optional ``.env``, whose values
never override these). ``DATABASE_URL`` and ``REDIS_URL`` pass through, so the same suite
runs on SQLite and on PostgreSQL with Redis (see .ci/run).
"""

import os

os.environ["DEBUG"] = "false"
os.environ["SECURE_SSL_REDIRECT"] = "false"
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ["WEBFORM_MIN_FILL_SECONDS"] = "0"
# Admin tests sign staff in with force_login; tests/test_admin_2fa.py turns two-factor on.
os.environ["ADMIN_2FA_REQUIRED"] = "false"
# A subscription a test makes receives the events of the very next change (the cache of "no
# subscriptions" is tested on its own, with its window).
os.environ["WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS"] = "0"
os.environ["WEBFORM_CACHE_SECONDS"] = "0"  # a test that changes a form with update() sees it
os.environ["ROUTING_CACHE_SECONDS"] = "0"  # as forms: routing sees a change made with update()
# A queue (and, on Redis, cache keys) of this run's own, so that two test runs sharing one
# Redis database do not take each other's tasks or clear each other's counters. Workers a
# test starts inherit it from the environment.
# No instant reply to new leads unless a test turns it on (tests/integrations/conversations):
# otherwise every test that captures a lead with SMS consent would text it, or not, by the
# hour of the day the suite runs.
os.environ["LEAD_GREETING_ENABLED"] = "false"
# No claimer thread in the test process (tests announce post_spawn to play a queue worker):
# run_queue processes due events as a claimer does, the claimer's tests start their own, and
# a test that starts a worker process turns it back on in that process's environment.
os.environ.setdefault("EVENT_CLAIMER", "false")
os.environ.setdefault("Q_CLUSTER_NAME", f"leadline-test-{os.getpid()}")

from crm.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user fixtures
WHITENOISE_AUTOREFRESH = True  # serve from the app folders; no collectstatic before tests
WHITENOISE_USE_FINDERS = True
if REDIS_URL:  # noqa: F405
    for _cache in CACHES.values():  # noqa: F405
        _cache["KEY_PREFIX"] = os.environ["Q_CLUSTER_NAME"]
