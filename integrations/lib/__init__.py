"""What every edge shares, and nothing else: a plain package, not a Django app.

- :mod:`~integrations.lib.http`: the single seam for outbound HTTP (timeouts, retries, logs);
- :mod:`~integrations.lib.queue`: ringing the django-q2 queue once the rows are committed;
- :mod:`~integrations.lib.encryption`: secrets kept encrypted at rest;
- :mod:`~integrations.lib.backoff`: the one wait-before-retrying that every retry uses.

It imports no edge app and no model: the apps import it.
"""
