-- The tenant a safety action happened in, so that a tenant's administrators
-- see their own tenant's actions only (issue 21, finding 7). Older rows have
-- none: they are the platform's.
ALTER TABLE safety_events ADD COLUMN tenant TEXT;
CREATE INDEX safety_events_tenant ON safety_events (tenant, seq);
