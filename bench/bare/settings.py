"""A bare Django 5.2 project for the side-by-side benchmark (``bench/compare.py``): one view
that parses a JSON body and inserts it as one JSONB row. It is what Leadline's web tier is
measured against, so it keeps only what such an endpoint needs in production (the security
and common middleware) and connects to PostgreSQL the way Leadline does (persistent,
health-checked connections)."""

from __future__ import annotations

import environ

env = environ.Env()

SECRET_KEY = env.str("SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
INSTALLED_APPS = ["bench.bare"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "bench.bare.urls"
WSGI_APPLICATION = "bench.bare.wsgi.application"
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"].update({"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
