-- The follow-up tasks an attempt's agent proposed (.colony/followups.yaml)
-- with the settings they are judged by, as JSON: they join the plan when
-- the attempt's work merges, which may be after a person approves it.
ALTER TABLE attempts ADD COLUMN followups TEXT;
