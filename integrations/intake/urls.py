"""The doors of intake: the hosted web forms, and one webhook URL per source that has one,
made from the source registry (``/hooks/<Source.hook>``)."""

from django.urls import URLPattern, include, path

from . import views
from .sources import SOURCES, get_source
from .sources.email.webhooks import email_hook_patterns

app_name = "intake"


def hook_patterns() -> list[URLPattern]:
    """``hooks/<hook>`` for every registered source with a webhook, named ``hook_<key>``."""
    return [
        path(f"hooks/{source.hook}", views.hook, {"source_key": key}, name=f"hook_{key}")
        for key in SOURCES
        if (source := get_source(key)).hook
    ]


urlpatterns = [
    path("forms/<str:public_key>/", views.webform, name="webform"),
    path("forms/<str:public_key>/embed.js", views.webform_embed, name="webform_embed"),
    *hook_patterns(),
    # Lead emails from the mail providers, on anymail's own paths (sources/email/webhooks.py).
    path("hooks/email/", include(email_hook_patterns())),
]
