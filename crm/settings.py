"""Leadline settings: everything comes from the environment (DESIGN.md, "Settings").

Every value has a working default so a fresh checkout runs on SQLite with the ORM broker and
console email. ``DEBUG`` is off unless asked for; with it off, a missing ``SECRET_KEY`` or
``ALLOWED_HOSTS`` stops start-up with a clear error instead of running insecurely.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import csp.constants
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG: bool = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-secret-key-never-use-in-production-0123456789abcdefghij"  # noqa: S105
SECRET_KEY: str = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment or in .env "
            "(or set DEBUG=true for local development)."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. List the host names this site answers to, comma-separated."
    )

SITE_URL: str = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "crm.apps.AdminConfig",  # Django's admin, on a site that asks staff for a second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "social_django",
    "django_htmx",
    "leads",
    "integrations",
    "integrations.webhooks",
    "integrations.marketing",
    "integrations.alerts",
    "integrations.intake",
    "integrations.conversations",
    "integrations.imports",
]

MIDDLEWARE = [
    # The hosted web forms and the hooks take the short stack below (crm/doors.py).
    "crm.doors.DoorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "social_django.middleware.SocialAuthExceptionMiddleware",
]
# The machine doors (web forms, vendors' webhooks): no session, CSRF token, user, messages or
# page policy of the site's, so only these of the stack above, in its order. A middleware
# added above that the doors need goes here too.
DOOR_PATH_PREFIXES = ("/forms/", "/hooks/")
DOOR_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "social_django.context_processors.backends",
                "social_django.context_processors.login_redirect",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES: dict[str, dict[str, Any]] = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so
    # concurrent writers queue on the busy timeout instead of failing mid-transaction;
    # synchronous=FULL because a lead acknowledged to a sender must survive a power cut.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
        }
    )
    # A file, not memory, so live-server and thread tests share it; one per test process.
    _db.setdefault("TEST", {})["NAME"] = str(BASE_DIR / f"test-db-{os.getpid()}.sqlite3")
else:
    _db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    _db.setdefault("CONN_HEALTH_CHECKS", True)
    _db.setdefault("TEST", {})["NAME"] = f"test_{_db['NAME']}_{os.getpid()}"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and queue ----------------------------------------------------------------------
# "throttle" keeps the sign-in counters (leads/auth.py), which must hold across web workers:
# in Redis, or else in a database table (leads.models.CacheEntry, made by migrate).
# Nothing a sender waits for depends on Redis (the cache fails open, the queue is only a
# doorbell), so a Redis that hangs must not hold a request either: each connection and each
# command gives up after REDIS_TIMEOUT_SECONDS (the broker's reads a little later, since a
# worker waits a second for a task on the same connection).
REDIS_URL: str = env.str("REDIS_URL", default="")
REDIS_TIMEOUT_SECONDS: float = env.float("REDIS_TIMEOUT_SECONDS", default=1.0)
if REDIS_URL:
    _redis_cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
        },
    }
    CACHES: dict[str, dict[str, Any]] = {"default": _redis_cache, "throttle": {**_redis_cache}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "throttle": {
            "BACKEND": "leads.cache.CounterDatabaseCache",
            "LOCATION": "leadline_cache",
            # Past this many rows the cache drops rows at random: never for a few attackers.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        },
    }

# The queue is only a doorbell (DESIGN.md): the rows are the truth and a sweeper re-rings
# anything left unfinished, so the broker may lose a task without losing a lead.
# ``timeout`` < ``retry`` or the ORM broker hands a running task out a second time.
Q_CLUSTER: dict[str, Any] = {
    # The queue's name in the broker: one per deployment sharing a Redis database.
    "name": env.str("Q_CLUSTER_NAME", default="leadline"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 60,
    "retry": 90,
    "max_attempts": 3,
    "queue_limit": 50,
    "bulk": 1,
    "poll": env.float("Q_POLL", default=0.1),
    "catch_up": False,
    # Successful results are not kept (-1): the rows are the record; failures always are.
    "save_limit": -1,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = (
        f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}"
        f"socket_connect_timeout={REDIS_TIMEOUT_SECONDS}&socket_timeout={REDIS_TIMEOUT_SECONDS + 2}"
    )
else:
    Q_CLUSTER["orm"] = "default"

# --- Email --------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="Leadline <leads@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Operations: who is emailed when something needs a person (a webhook subscription disabled).
ADMINS: list[tuple[str, str]] = [(email, email) for email in env.list("ADMINS", default=[])]

# --- Auth ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "social_core.backends.google.GoogleOAuth2",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "leads:today"
LOGOUT_REDIRECT_URL = "login"
SOCIAL_AUTH_GOOGLE_OAUTH2_KEY: str = env.str("GOOGLE_OAUTH2_KEY", default="")
SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET: str = env.str("GOOGLE_OAUTH2_SECRET", default="")
SOCIAL_AUTH_GOOGLE_OAUTH2_WHITELISTED_DOMAINS: list[str] = env.list(
    "GOOGLE_OAUTH2_DOMAINS", default=[]
)
SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_LOGIN_ERROR_URL = "login"
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "leads:today"
# Signing in with Google never creates an account: the email must already be an active
# agent's (leads.auth.require_existing_agent).
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "leads.auth.require_existing_agent",
    "social_core.pipeline.social_auth.associate_user",
    "social_core.pipeline.social_auth.load_extra_data",
)
# Failed password sign-ins allowed per window, per client address and per username; a
# browser the user signed in from before keeps a count of its own, so an attacker cannot
# lock the real user out (leads/auth.py).
LOGIN_FAILURES_PER_IP: int = env.int("LOGIN_FAILURES_PER_IP", default=20)
LOGIN_FAILURES_PER_USERNAME: int = env.int("LOGIN_FAILURES_PER_USERNAME", default=5)
LOGIN_FAILURE_WINDOW: int = env.int("LOGIN_FAILURE_WINDOW", default=15 * 60)
# Staff open the admin only after a code from an authenticator app (TOTP), enrolled at their
# first sign-in (crm/admin.py). Off by default only with DEBUG, for the local demo.
ADMIN_2FA_REQUIRED: bool = env.bool("ADMIN_2FA_REQUIRED", default=not DEBUG)
OTP_TOTP_ISSUER = "Leadline"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # no staff member reads another's authenticator key

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="America/New_York")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}

# --- Request limits -----------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- Security (production when DEBUG is off; `manage.py check --deploy` stays quiet) --------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The agent app, the sign-in pages, the admin and the API docs run only our own static files:
# no inline script or style but those that carry the response's nonce (request.csp_nonce).
# The hosted web forms and the hooks answer with policies of their own (a form names the
# sites that may frame it), so the global one leaves them alone.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "EXCLUDE_URL_PREFIXES": list(DOOR_PATH_PREFIXES),
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp.constants.NONCE],
        "style-src": ["'self'", csp.constants.NONCE],
        # Style attributes: only this one value, by its hash: white-space:pre-wrap on the
        # raw bodies' <pre> in the intake and webhook admins (leads/admin.css does the same).
        "style-src-attr": [
            "'unsafe-hashes'",
            "'sha256-CSr5A7IS9dRw3Uo7TFEY+Os1KKjUjndCqZWzkW4uTaY='",
        ],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        # Sign in with Google posts here and is redirected to Google's consent page.
        "form-action": ["'self'", "https://accounts.google.com"],
        "frame-ancestors": ["'none'"],
    },
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
# An open inbox, pool or lead page asks this often whether anything changed (leads/live.py);
# an unchanged answer is a 304 costing two cache reads.
LIVE_POLL_SECONDS: int = env.int("LIVE_POLL_SECONDS", default=5)
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Operations (docs/operations.md) -------------------------------------------------------
# /healthz fails (503) when an inbound event has waited this long to be processed, or an
# alert or a webhook delivery this long past its time: the workers are not keeping up.
HEALTHZ_MAX_WAIT_SECONDS: int = env.int("HEALTHZ_MAX_WAIT_SECONDS", default=300)
# The bearer token that opens /metrics to Prometheus (staff signed in need none); unset:
# only staff. Make it long and random.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")

# Trusted reverse proxies in front of the app: the client address is read from
# X-Forwarded-For this many hops from the right (0: use REMOTE_ADDR).
NUM_PROXIES: int = env.int("NUM_PROXIES", default=0)
PHONE_REGION: str = env.str("PHONE_REGION", default="US")

# --- Lead sources -------------------------------------------------------------------------
# Each queue worker process claims received events straight from their rows (a thread of its
# own, docs/architecture.md), EVENT_CLAIM_BATCH at a time, each claim a lease of
# EVENT_CLAIM_LEASE_SECONDS (a killed worker's events are taken again when it runs out). On
# PostgreSQL a NOTIFY from the stored row wakes it and it also looks every
# EVENT_CLAIM_POLL_SECONDS; elsewhere it looks that often (default 0.25 s). EVENT_CLAIMER=false:
# no claimer thread, events wait for the sweeper (tests start their claimers themselves).
EVENT_CLAIMER: bool = env.bool("EVENT_CLAIMER", default=True)
EVENT_CLAIM_BATCH: int = env.int("EVENT_CLAIM_BATCH", default=20)
EVENT_CLAIM_LEASE_SECONDS: int = env.int("EVENT_CLAIM_LEASE_SECONDS", default=60)
EVENT_CLAIM_POLL_SECONDS: float = env.float(
    "EVENT_CLAIM_POLL_SECONDS", default=5.0 if _db["ENGINE"].endswith("postgresql") else 0.25
)
# An event still `received` this many seconds after it arrived or was last tried (and not held
# by a worker's lease) is processed by the sweeper, so events are processed even with no
# claimer running; a failed attempt is tried again after this long, and after
# EVENT_MAX_ATTEMPTS the event is marked failed and waits for an operator's replay.
EVENT_SWEEP_AFTER_SECONDS: int = env.int("EVENT_SWEEP_AFTER_SECONDS", default=60)
EVENT_MAX_ATTEMPTS: int = env.int("EVENT_MAX_ATTEMPTS", default=5)
# Portal lead sources (docs/sources.md). Each is off while its secret is unset: its hook
# answers 404 and stores nothing.
# Realtor.com sends this key in the x-api-key header of every lead (agreed at onboarding).
REALTOR_API_KEY: str = env.str("REALTOR_API_KEY", default="")
# Zillow Rentals signs nothing: the secret is the last part of the callback URL given to Zillow
# (/hooks/zillow-rentals/<token>/). Make it long and random; a wrong one is answered 404.
ZILLOW_RENTALS_TOKEN: str = env.str("ZILLOW_RENTALS_TOKEN", default="")
# Zillow Premier Agent delivers through Amazon SNS: "user:password" that SNS sends as HTTP Basic
# (put them in the subscription URL, https://user:password@host/hooks/zillow/), and the SNS
# topics (ARNs, comma-separated) whose signed messages we accept and whose subscription we
# confirm. The source is off while either is unset.
ZILLOW_BASIC_AUTH: str = env.str("ZILLOW_BASIC_AUTH", default="")
ZILLOW_TOPIC_ARNS: list[str] = env.list("ZILLOW_TOPIC_ARNS", default=[])
# Web forms: per-IP submissions per window (seconds), and the least time a person takes to
# fill a form in; both can be relaxed for benchmarks through the environment.
WEBFORM_RATE_LIMIT: int = env.int("WEBFORM_RATE_LIMIT", default=20)
WEBFORM_RATE_WINDOW: int = env.int("WEBFORM_RATE_WINDOW", default=600)
WEBFORM_MIN_FILL_SECONDS: float = env.float("WEBFORM_MIN_FILL_SECONDS", default=3.0)
WEBFORM_TOKEN_MAX_AGE: int = env.int("WEBFORM_TOKEN_MAX_AGE", default=60 * 60 * 24)
WEBFORM_MAX_BODY_BYTES: int = 64 * 1024
# How long each process answers for a web form from memory: an edit or a deactivation made in
# another process reaches the door within this many seconds (at once in the process that saved
# it). 0: look the form up on every request.
WEBFORM_CACHE_SECONDS: float = env.float("WEBFORM_CACHE_SECONDS", default=5.0)
# How long each process routes by a team's rules, territories and agents from memory: a change
# saved in another process (an agent's pause, a rule edited in the admin) reaches routing within
# this many seconds (at once in the process that saved it). 0: read them for every lead.
ROUTING_CACHE_SECONDS: float = env.float("ROUTING_CACHE_SECONDS", default=5.0)
# Facebook Lead Ads (docs/sources.md): the app secret signs every webhook POST
# (X-Hub-Signature-256), the verify token answers Facebook's subscription check; the source is
# off, and refuses every request, while either is unset. Leads are read from the Graph API at
# FACEBOOK_GRAPH_API_URL (another host for a staging or test server) in the pinned version.
FACEBOOK_APP_SECRET: str = env.str("FACEBOOK_APP_SECRET", default="")
FACEBOOK_VERIFY_TOKEN: str = env.str("FACEBOOK_VERIFY_TOKEN", default="")
# v25.0 is served until July 2028 (developers.facebook.com/docs/graph-api/changelog).
FACEBOOK_GRAPH_API_VERSION: str = env.str("FACEBOOK_GRAPH_API_VERSION", default="v25.0")
FACEBOOK_GRAPH_API_URL: str = env.str(
    "FACEBOOK_GRAPH_API_URL", default="https://graph.facebook.com"
).rstrip("/")
# Stored secrets (Facebook Page tokens) are encrypted with these Fernet keys, comma-separated,
# the first one encrypting (integrations/lib/encryption.py); unset: one key derived from
# SECRET_KEY, so changing SECRET_KEY then means re-entering the tokens.
FIELD_ENCRYPTION_KEY: list[str] = env.list("FIELD_ENCRYPTION_KEY", default=[])
# Lead emails (docs/sources.md, "Email"): leads mailed to <team>@EMAIL_INTAKE_DOMAIN or
# <team>+<agent>@EMAIL_INTAKE_DOMAIN come to that team (and are pinned to that agent); unset:
# no address is known, every email is stored and ignored. Authentication-Results headers are
# believed only from these authserv-ids (your own receiving servers, e.g. mx.google.com for a
# Gmail mailbox); otherwise the DKIM signature is checked (dkimpy, DNS). The largest message
# each door accepts, in bytes (attachments are kept in the raw message, never opened).
# Under DEBUG (make run) the demo's addresses are at leads.localhost.
EMAIL_INTAKE_DOMAIN: str = (
    env.str("EMAIL_INTAKE_DOMAIN", default="leads.localhost" if DEBUG else "").strip().lower()
)
EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS: list[str] = [
    i.lower() for i in env.list("EMAIL_INTAKE_TRUSTED_AUTHSERV_IDS", default=[])
]
EMAIL_INTAKE_MAX_BYTES: int = env.int("EMAIL_INTAKE_MAX_BYTES", default=25 * 1024 * 1024)
EMAIL_INTAKE_WEBHOOK_MAX_BYTES: int = env.int(
    "EMAIL_INTAKE_WEBHOOK_MAX_BYTES", default=30 * 1024 * 1024
)
EMAIL_INTAKE_IMAP_URL: str = env.str("EMAIL_INTAKE_IMAP_URL", default="")
# A vendor's lead emails failing this often in an hour (and three times its usual) is shown on
# the lead-sources health page and mailed to ADMINS once a day.
EMAIL_VENDOR_ALERT_MIN_FAILURES: int = env.int("EMAIL_VENDOR_ALERT_MIN_FAILURES", default=3)
# The providers' inbound webhooks (django-anymail, under /hooks/email/), by anymail's own
# setting names: ANYMAIL_WEBHOOK_SECRET is "user:password" (HTTP Basic, in the URL you give
# Amazon SES, Postmark or SendGrid); Mailgun signs with MAILGUN_WEBHOOK_SIGNING_KEY. A provider
# whose secret is unset is off (404).
# (Named here too so that the log filter, crm/logging.py, knows them as secrets.)
ANYMAIL_WEBHOOK_SECRET: str = env.str("ANYMAIL_WEBHOOK_SECRET", default="")
MAILGUN_WEBHOOK_SIGNING_KEY: str = env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default="")
ANYMAIL: dict[str, Any] = {
    key: value
    for key, value in {
        "WEBHOOK_SECRET": ANYMAIL_WEBHOOK_SECRET,
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_WEBHOOK_SIGNING_KEY,
    }.items()
    if value
}
# DKIM keys are read from DNS: these servers (host or host:port, comma-separated) instead of
# the system's resolver when set, with this timeout in seconds per look-up.
EMAIL_INTAKE_DNS_SERVERS: list[str] = env.list("EMAIL_INTAKE_DNS_SERVERS", default=[])
EMAIL_INTAKE_DNS_TIMEOUT: float = env.float("EMAIL_INTAKE_DNS_TIMEOUT", default=5.0)

# --- REST API and outbound webhooks (docs/api.md) -----------------------------------------
# The API's own views name their authentication (tokens, then the session), permissions and
# throttle (leads.api.ApiViewSet: DRF reads these defaults while it is being imported, too
# early for our classes); the defaults here only keep any other DRF view closed.
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "leads.api.ApiSchema",
    "EXCEPTION_HANDLER": "leads.api.exception_handler",
}
# Requests allowed per API token (per user on the session), e.g. 600/min, 20/s, 10000/hour.
API_RATE_LIMIT: str = env.str("API_RATE_LIMIT", default="600/min")
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Leadline API",
    "DESCRIPTION": (
        "Leads, contacts, timelines, agents, territories and routing rules of your team, "
        "within the same permissions as the agent app. See docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "LeadTypeEnum": "leads.models.Lead.Type",
        "LeadStatusEnum": "leads.models.Lead.Status",
        "LeadRequestStatusEnum": "integrations.intake.models.InboundEvent.Status",
        "MessageChannelEnum": "integrations.conversations.models.Message.Channel",
    },
}
# Outbound webhooks: the per-attempt timeout, the exponential backoff (first retry, longest
# wait) and how long a delivery is retried before it gives up; a subscription failing that
# long is disabled. Private and loopback addresses are refused unless allowed (tests, or a
# receiver on your own network).
WEBHOOK_TIMEOUT_SECONDS: float = env.float("WEBHOOK_TIMEOUT_SECONDS", default=15.0)
WEBHOOK_RETRY_BASE_SECONDS: float = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS: float = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=4 * 3600.0)
WEBHOOK_RETRY_WINDOW_SECONDS: float = env.float("WEBHOOK_RETRY_WINDOW_SECONDS", default=24 * 3600.0)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES: bool = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)
# Each process remembers for this long that there are no active subscriptions (a change then
# costs no query for them); a subscription made or enabled receives events from this long on.
WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS: float = env.float(
    "WEBHOOK_SUBSCRIPTIONS_CACHE_SECONDS", default=5.0
)

# --- Imports (docs/import-export.md) ----------------------------------------------------------
# The largest file a person may upload (kept in the database until the import is deleted).
IMPORT_MAX_BYTES: int = env.int("IMPORT_MAX_BYTES", default=200 * 2**20)
# A worker works on an import this long (under django-q2's 60 s timeout), then rings again.
IMPORT_TASK_SECONDS: float = env.float("IMPORT_TASK_SECONDS", default=40.0)
# An import no worker has written to for this long is rung for again by the sweeper.
IMPORT_STALE_SECONDS: float = env.float("IMPORT_STALE_SECONDS", default=120.0)

# --- Marketing sync (docs/marketing.md) ---------------------------------------------------
# The platform, by dotted path like EMAIL_BACKEND; empty switches the sync off. Mailchimp's
# sync is off, and the admin says so, until the API key and the audience id are both set.
MARKETING_BACKEND: str = env.str(
    "MARKETING_BACKEND", default="integrations.marketing.mailchimp.MailchimpBackend"
)
# The key's -usNN suffix names the data centre; MAILCHIMP_API_BASE_URL (the whole base,
# with /3.0) sends the calls elsewhere instead: a proxy, a staging or a test server.
MAILCHIMP_API_KEY: str = env.str("MAILCHIMP_API_KEY", default="")
MAILCHIMP_AUDIENCE_ID: str = env.str("MAILCHIMP_AUDIENCE_ID", default="")
MAILCHIMP_API_BASE_URL: str = env.str("MAILCHIMP_API_BASE_URL", default="")
# The secret in the webhook's URL (/hooks/mailchimp/<token>/): Mailchimp does not sign its
# webhooks. Empty: the webhook answers 404 to everyone.
MAILCHIMP_WEBHOOK_TOKEN: str = env.str("MAILCHIMP_WEBHOOK_TOKEN", default="")
# Mailchimp allows 10 concurrent connections per API key; keep each process within this.
MAILCHIMP_MAX_CONNECTIONS: int = env.int("MAILCHIMP_MAX_CONNECTIONS", default=10)
# is_syncing on tag changes: true stops tags we set from starting tag-triggered automations.
MAILCHIMP_TAGS_SYNCING: bool = env.bool("MAILCHIMP_TAGS_SYNCING", default=False)
# Our contact and lead facts to the audience's merge tags; missing ones are created as text.
MAILCHIMP_MERGE_FIELDS: dict[str, str] = {
    "first_name": "FNAME",
    "last_name": "LNAME",
    "phone": "PHONE",
    "source": env.str("MAILCHIMP_SOURCE_TAG", default="SOURCE"),
    "lead_type": env.str("MAILCHIMP_TYPE_TAG", default="LEADTYPE"),
    "stage": env.str("MAILCHIMP_STAGE_TAG", default="STAGE"),
    "agent": env.str("MAILCHIMP_AGENT_TAG", default="AGENT"),
    "zip": env.str("MAILCHIMP_ZIP_TAG", default="ZIP"),
}
# A contact who never consented to marketing email: "transactional" adds them as such (never
# subscribed), "skip" keeps them out of the audience altogether.
MARKETING_WITHOUT_CONSENT: str = env.str("MARKETING_WITHOUT_CONSENT", default="transactional")
# New members with consent: "subscribed", or "pending" for Mailchimp's double opt-in email.
MARKETING_NEW_STATUS: str = env.str("MARKETING_NEW_STATUS", default="subscribed")
# Changes to a contact that arrive while its push waits in the queue make one push; a delay
# (seconds) makes each push wait that long first, in the worker, to gather slower bursts.
MARKETING_PUSH_DELAY_SECONDS: float = env.float("MARKETING_PUSH_DELAY_SECONDS", default=0.0)
# A push that failed for a reason that passes (throttling, an outage) is tried again after
# this many seconds, doubling up to MARKETING_RETRY_MAX_SECONDS.
MARKETING_RETRY_BASE_SECONDS: float = env.float("MARKETING_RETRY_BASE_SECONDS", default=30.0)
MARKETING_RETRY_MAX_SECONDS: float = env.float("MARKETING_RETRY_MAX_SECONDS", default=6 * 3600.0)
# Contacts per batch of the full sync (each is one or two operations).
MARKETING_BATCH_SIZE: int = env.int("MARKETING_BATCH_SIZE", default=1000)
# How often the reconciliation reads the members changed on the platform (minutes).
MARKETING_RECONCILE_MINUTES: int = env.int("MARKETING_RECONCILE_MINUTES", default=15)

# --- Logging ------------------------------------------------------------------------------
# Every handler carries the "redact" filter (crm/logging.py): secrets that travel in URLs
# (hook tokens, access_token=...) and the secret settings' values never reach a log. Django's
# own handlers are replaced here, so none is left without it: runserver's request lines, and
# the email to ADMINS about a 500 (its report redacted too).
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "crm.logging.RedactSecrets"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact"],
        },
        "mail_admins": {
            "level": "ERROR",
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false", "redact"],
            "reporter_class": "crm.logging.RedactingExceptionReporter",
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # The twilio library logs every request's headers at INFO; its errors are enough.
        "twilio.http_client": {"level": "WARNING"},
    },
}

# --- Alerts: SMS and email to agents (integrations/alerts/, docs/alerts.md) ----------------
# SMS is off while the account SID, auth token and a sender (a Messaging Service or a number)
# are not all set; the auth token also checks the signature of Twilio's callbacks.
TWILIO_ACCOUNT_SID: str = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN: str = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_MESSAGING_SERVICE_SID: str = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_FROM_NUMBER: str = env.str("TWILIO_FROM_NUMBER", default="")
# Another server for Twilio's REST API (a staging proxy or a mock); empty: Twilio's own.
TWILIO_API_BASE_URL: str = env.str("TWILIO_API_BASE_URL", default="").rstrip("/")
TWILIO_TIMEOUT_SECONDS: float = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
# A failed send that may succeed later is tried again after ALERT_RETRY_BASE_SECONDS,
# doubling, with jitter, at most ALERT_MAX_ATTEMPTS times within ALERT_RETRY_WINDOW_SECONDS.
ALERT_MAX_ATTEMPTS: int = env.int("ALERT_MAX_ATTEMPTS", default=5)
ALERT_RETRY_BASE_SECONDS: float = env.float("ALERT_RETRY_BASE_SECONDS", default=20.0)
ALERT_RETRY_WINDOW_SECONDS: float = env.float("ALERT_RETRY_WINDOW_SECONDS", default=15 * 60.0)
# An agent who has not accepted a lead is reminded this long before its deadline (0: never).
ALERT_REMINDER_SECONDS: int = env.int("ALERT_REMINDER_SECONDS", default=120)
# Web Push (integrations/alerts/channels/push.py): off while either VAPID key is unset.
# `manage.py webpush_keys` makes a pair. The contact (mailto: or https:) goes in every push's
# VAPID claims, for the push service to reach the operator.
WEBPUSH_VAPID_PUBLIC_KEY: str = env.str("WEBPUSH_VAPID_PUBLIC_KEY", default="")
WEBPUSH_VAPID_PRIVATE_KEY: str = env.str("WEBPUSH_VAPID_PRIVATE_KEY", default="")
WEBPUSH_CONTACT: str = env.str("WEBPUSH_CONTACT", default="mailto:leads@localhost")
# The push services a device's subscription may point at (the server posts there): the
# browsers' own. A leading "*." allows the subdomains.
WEBPUSH_ALLOWED_HOSTS: list[str] = env.list(
    "WEBPUSH_ALLOWED_HOSTS",
    default=[
        "fcm.googleapis.com",
        "updates.push.services.mozilla.com",
        "web.push.apple.com",
        "*.push.apple.com",
        "*.notify.windows.com",
    ],
)
WEBPUSH_TIMEOUT_SECONDS: float = env.float("WEBPUSH_TIMEOUT_SECONDS", default=10.0)
# Leads from these sources are hot: their SMS goes out even in an agent's quiet hours.
# How a person reaches the team, in the answer to a text saying HELP (a team's own, set in
# the admin under Team messaging, wins).
SMS_HELP_CONTACT: str = env.str("SMS_HELP_CONTACT", default="")
# The instant reply to a new lead (docs/conversations.md): on or off; not twice to the same
# person within this many hours; SMS only within LEAD_SMS_HOURS in the person's local time
# ("HH:MM-HH:MM"; empty: any hour, for teams outside the US).
LEAD_GREETING_ENABLED: bool = env.bool("LEAD_GREETING_ENABLED", default=True)
LEAD_GREETING_WINDOW_HOURS: float = env.float("LEAD_GREETING_WINDOW_HOURS", default=24.0)
LEAD_SMS_HOURS: str = env.str("LEAD_SMS_HOURS", default="08:00-21:00")
ALERT_HOT_SOURCES: list[str] = env.list("ALERT_HOT_SOURCES", default=["zillow", "realtor"])
