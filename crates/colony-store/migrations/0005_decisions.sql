-- A person's decision on an attempt that awaited approval, kept until a
-- worker claims the task to carry it out: merge the approved work, or send
-- the feedback to the agent. `feedback` NULL means approved.
CREATE TABLE decisions (
    task      TEXT PRIMARY KEY REFERENCES tasks (id),
    attempt   BIGINT NOT NULL,
    feedback  TEXT
);
