-- How far each way of telling a person (`[notify]`: the command, the
-- webhook, the desktop) has got through the event log: its notices up to
-- `seq` are delivered or given up on, so a restarted colony goes on from
-- there and sends none twice. `failing` says why its last delivery failed,
-- from `failing_since`, while it keeps failing.
CREATE TABLE notify_cursors (
    sink          TEXT PRIMARY KEY,
    seq           BIGINT NOT NULL,
    failing       TEXT,
    failing_since BIGINT,
    updated_at    BIGINT NOT NULL
);
