"""Agent alerts: every lead announced to its agent on each channel (SMS, email), retried, fallen
back and reported; the channels live in :mod:`integrations.alerts.channels`."""
