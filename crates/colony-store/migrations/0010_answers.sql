-- What an attempt's agent said last when it was done (its final message,
-- bounded): a task that depends on this one is told it, so that its agent
-- builds on what exists instead of finding it out again.
ALTER TABLE attempts ADD COLUMN answer TEXT;
