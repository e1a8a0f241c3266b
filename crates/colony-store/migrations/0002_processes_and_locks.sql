-- The process group an attempt's agent leads, and the boot it was started
-- in: a colony that starts after a crash kills the groups its predecessor
-- left, but never a number from before a reboot, which may now be anyone's.
ALTER TABLE attempts ADD COLUMN pgid BIGINT;
ALTER TABLE attempts ADD COLUMN boot_id TEXT;

-- Named locks held by one holder until released or expired: the merge
-- queue's lock, held across processes and machines.
CREATE TABLE locks (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    until   BIGINT NOT NULL
);

-- Claims of tasks that declare files queue on this row, so two claimers
-- cannot both start tasks whose files overlap.
INSERT INTO counters (name, value) VALUES ('claim_files', 0);
