"""Outbound webhooks: the CRM telling other systems what happened, signed, at least once."""
