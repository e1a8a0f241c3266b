-- The commit an attempt merges, recorded in the last fenced write before
-- the integration branch moves on a shared remote: a later attempt of the
-- task, on any machine, finds it there and completes instead of merging
-- the task a second time.
ALTER TABLE attempts ADD COLUMN merge_commit TEXT;
