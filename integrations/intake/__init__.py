"""Lead intake: every request from a lead source stored raw as an ``InboundEvent``, then parsed
into ``LeadData`` on the queue and captured; web forms, sources, sweeper, replay, health."""
