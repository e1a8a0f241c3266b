-- The colony processes working on this store (`colony run`, `colony
-- worker`): where, since when and when last seen, for `colony status`,
-- `colony stop` and `colony attach`. A process that ends takes its row out;
-- one that dies leaves it, and stops being seen.
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    boot_id     TEXT,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    detached    BIGINT NOT NULL,
    dashboard   TEXT
);
