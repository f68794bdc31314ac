"""WSGI entry point for gunicorn: ``gunicorn crm.wsgi``."""

import os

from django.apps import apps
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
application = get_wsgi_application()

# What the first request would otherwise build (each app's ``warm()``: the ZIP index, the
# validators' regexes, templates), built as the process starts, before it takes a request.
for app_config in apps.get_app_configs():
    warm = getattr(app_config, "warm", None)
    if warm is not None:
        warm()
