-- PostgreSQL only. The task table is a work queue: every claim and
-- completion leaves a dead row version behind, and the claim query walks the
-- ready index past them until a vacuum clears them. Vacuum it after a few
-- hundred changes instead of after a fifth of the table, without throttling,
-- and leave room in each page for the next version of a row.
ALTER TABLE tasks SET (
    autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 500,
    autovacuum_vacuum_cost_delay = 0,
    fillfactor = 70
);
