from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """The edges' first home, kept for its migrations only.

    Its migrations made the edges' tables (``integrations_*``) when the edges were one app,
    and still make them on a fresh database; its last ones hand each model over to the app
    that owns it now (intake, alerts, marketing, webhooks), which keeps the table. It has no
    models, views or code of its own.
    """

    name = "integrations"
    verbose_name = "Integrations (migration history)"
