-- The block of TCP ports an attempt holds (`[worktree] ports`). It is the
-- attempt's alone while the attempt is live: not ended, still its task's
-- current attempt, and the lease not run out. Once it is not, the block is
-- free again without anyone clearing these columns.
ALTER TABLE attempts ADD COLUMN port_first BIGINT;
ALTER TABLE attempts ADD COLUMN port_last BIGINT;
CREATE INDEX attempts_open_ports ON attempts (task) WHERE port_first IS NOT NULL AND ended_at IS NULL;

-- Blocks held by what is not an attempt (a run's look at an integration
-- tip), each until it is let go or `until` passes.
CREATE TABLE port_holds (
    holder      TEXT PRIMARY KEY,
    port_first  BIGINT NOT NULL,
    port_last   BIGINT NOT NULL,
    until       BIGINT NOT NULL
);

-- Allocations of ports queue on this row (PostgreSQL; SQLite's writes are
-- serialized already), so two never both find a block free.
INSERT INTO counters (name, value) VALUES ('ports', 0);
