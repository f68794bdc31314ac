"""The doors of intake: the hosted web forms, and one webhook URL per source that has one,
made from the source registry (``/hooks/<Source.hook>``)."""

from django.urls import URLPattern, include, path, register_converter

from . import views
from .sources import SOURCES, get_source
from .sources.email.webhooks import email_hook_patterns

app_name = "intake"


class FormKeyConverter:
    """A web form's public key: URL-safe characters (RFC 3986's unreserved), as
    ``new_public_key`` makes them, at most the column's 32. A path with anything else (NUL, a
    lone surrogate, a space) matches no form: a 404 before the database is asked."""

    regex = "[A-Za-z0-9_.~-]{1,32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(FormKeyConverter, "form_key")


def hook_patterns() -> list[URLPattern]:
    """``hooks/<hook>`` for every registered source with a webhook, named ``hook_<key>``."""
    return [
        path(f"hooks/{source.hook}", views.hook, {"source_key": key}, name=f"hook_{key}")
        for key in SOURCES
        if (source := get_source(key)).hook
    ]


urlpatterns = [
    path("forms/<form_key:public_key>/", views.webform, name="webform"),
    path("forms/<form_key:public_key>/embed.js", views.webform_embed, name="webform_embed"),
    *hook_patterns(),
    # Lead emails from the mail providers, on anymail's own paths (sources/email/webhooks.py).
    path("hooks/email/", include(email_hook_patterns())),
]
