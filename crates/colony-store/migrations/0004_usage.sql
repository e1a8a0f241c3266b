-- What each attempt's agent spent, summed over its rounds. A cost stays
-- NULL until some round reports one (or has a price), so "unknown" never
-- reads as "free".
ALTER TABLE attempts ADD COLUMN input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cached_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN cost_usd DOUBLE PRECISION;
