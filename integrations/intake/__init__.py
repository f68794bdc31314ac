"""Lead intake: every request from a lead source stored raw as an ``InboundEvent``, then parsed
into ``LeadData`` by a queue worker that claims it and captured; web forms, sources, claimers,
sweeper, replay, health."""
