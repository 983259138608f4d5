-- What a window's Usage view needs of past minutes, in the usage rollup, so
-- that opening a window reads no session rows for the minutes it covers
-- (src/rollup/usage.rs). Idempotent and additive.
--
-- For the ended outcomes ('completed', 'failed', 'abandoned'): `quick`, the
-- sessions that ended not completed within QUICK_END_SECS of their start,
-- and `duration`, the (bucket, count) pairs of their durations in seconds
-- (the buckets of src/hist.rs, as the latency columns of 0009). 'started'
-- rows hold 0 and '{}'. Rows added before this migration hold NULL: their
-- sessions may have been pruned since, so they are left as they are.
ALTER TABLE jfmon_rollup_usage ADD COLUMN IF NOT EXISTS quick bigint;
ALTER TABLE jfmon_rollup_usage ADD COLUMN IF NOT EXISTS duration int8[];

-- The minutes [greatest(covered_from, detailed_from), settled_to) hold
-- `quick` and `duration`. An existing rollup gets them from the next minute
-- it settles on; a backfill extends them down only while they reach
-- covered_from (a new rollup starts with detailed_from = covered_from).
ALTER TABLE jfmon_rollup_usage_state ADD COLUMN IF NOT EXISTS detailed_from timestamptz;
UPDATE jfmon_rollup_usage_state SET detailed_from = settled_to WHERE detailed_from IS NULL;

-- The sessions active at the last step, whose ends the next step adds to
-- the minutes already added if they ended there (a session closed later
-- with an old end time). Valid only when followed_at = updated_at: a jfmon
-- older than this migration moves the position without following.
ALTER TABLE jfmon_rollup_usage_state ADD COLUMN IF NOT EXISTS followed bigint[] NOT NULL DEFAULT '{}';
ALTER TABLE jfmon_rollup_usage_state ADD COLUMN IF NOT EXISTS followed_at timestamptz;
