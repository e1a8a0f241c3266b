-- The agent session an attempt's rounds ran in, as its CLI named it: a
-- person can resume it by hand, and `colony show` says how.
ALTER TABLE attempts ADD COLUMN session TEXT;
