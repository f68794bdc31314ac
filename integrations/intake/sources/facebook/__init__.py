"""Facebook Lead Ads: one module per job.

- :mod:`.source`: the source (the ``leadgen`` webhook's door, and each lead read on the queue);
- :mod:`.webhook`: reading and checking the webhook's body;
- :mod:`.graph`: the Graph API client and its errors;
- :mod:`.pages`: pages' tokens and re-authorisation;
- :mod:`.mapping`: a Graph lead as ``LeadData``;
- :mod:`.backfill`: leads the webhook missed;
- :mod:`.checks`: the settings' system checks.
"""
