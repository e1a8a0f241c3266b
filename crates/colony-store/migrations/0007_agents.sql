-- Agents that cannot take work for now, seen by every process sharing the
-- store: rate limited until `ends_at`, or, with no end, waiting for a
-- person (a refused login, a spend cap). Their tasks stay ready and are
-- passed over by claims; tasks for other agents go on.
CREATE TABLE agent_waits (
    agent    TEXT PRIMARY KEY,
    reason   TEXT NOT NULL,
    since    BIGINT NOT NULL,
    ends_at  BIGINT
);
-- The version the attempt's agent CLI reported.
ALTER TABLE attempts ADD COLUMN agent_version TEXT;
