-- One schema for SQLite and PostgreSQL: only types and syntax both accept.
-- Times are milliseconds since the Unix epoch; JSON is kept as TEXT.

CREATE TABLE plans (
    name        TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    body        TEXT NOT NULL,
    added_at    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The projection of the event log: one row per task, written in the same
-- transaction as the events that change it.
CREATE TABLE tasks (
    id            TEXT PRIMARY KEY,
    plan          TEXT NOT NULL REFERENCES plans (name),
    ord           BIGINT NOT NULL,
    title         TEXT NOT NULL,
    spec          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempt       BIGINT NOT NULL,
    tries         BIGINT NOT NULL,
    max_attempts  BIGINT NOT NULL,
    priority      BIGINT NOT NULL,
    path_weight   DOUBLE PRECISION NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT,
    not_before    BIGINT,
    reason        TEXT,
    blocked_by    TEXT,
    updated_at    BIGINT NOT NULL
);

-- Every index here is paid for on each state change (a changed status or
-- lease rules out PostgreSQL's in-place updates), so there are only the two
-- that claims and the rescuer need; lists and counts read the whole table.
CREATE INDEX tasks_ready ON tasks (path_weight DESC, priority DESC, ord) WHERE status = 'ready';
CREATE INDEX tasks_leased ON tasks (lease_until) WHERE lease_until IS NOT NULL;

CREATE TABLE task_deps (
    task  TEXT NOT NULL REFERENCES tasks (id),
    dep   TEXT NOT NULL REFERENCES tasks (id),
    PRIMARY KEY (task, dep)
);
CREATE INDEX task_deps_dep ON task_deps (dep);

CREATE TABLE attempts (
    task        TEXT NOT NULL REFERENCES tasks (id),
    attempt     BIGINT NOT NULL,
    worker      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    outcome     TEXT,
    reason      TEXT,
    PRIMARY KEY (task, attempt)
);

-- Append-only. `seq` comes from the counter below, taken last in every
-- write transaction, so sequence order is commit order: a reader that has
-- seen seq N will never later find an event below N.
CREATE TABLE events (
    seq   BIGINT PRIMARY KEY,
    at    BIGINT NOT NULL,
    task  TEXT,
    kind  TEXT NOT NULL,
    data  TEXT NOT NULL
);
CREATE INDEX events_task ON events (task, seq);

CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('event_seq', 0);
INSERT INTO counters (name, value) VALUES ('task_ord', 0);
