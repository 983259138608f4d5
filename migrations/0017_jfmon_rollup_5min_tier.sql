-- A coarser tier of the API and integration rollups: their aggregates per
-- 5-minute slot (UTC, aligned on the Unix epoch), so that a window whose
-- slots are 5 minutes or a multiple (24 hours, 7 days, 30 days) reads far
-- fewer rows (src/rollup/read.rs). Idempotent and additive.
--
-- Kept by the statement that adds a delta to the minute table, in the same
-- transaction (src/rollup/spec.rs), so a slot always equals the sum of its
-- five minutes.

-- API calls per slot × endpoint × method: the requests per status and those
-- with a non-empty error text per status as (status, count) pairs sorted by
-- status (errors: only the non-zero), and one latency histogram for all
-- statuses (the views merge them), as in jfmon_rollup_api.
CREATE TABLE IF NOT EXISTS jfmon_rollup_api_5m (
    slot       timestamptz  NOT NULL,
    endpoint   text         NOT NULL,
    method     text         NOT NULL,
    statuses   int8[]       NOT NULL,
    errors     int8[]       NOT NULL,
    latency    int8[]       NOT NULL,
    PRIMARY KEY (slot, endpoint, method)
);

CREATE TABLE IF NOT EXISTS jfmon_rollup_integrations_5m (
    slot        timestamptz NOT NULL,
    integration text        NOT NULL,
    calls       bigint      NOT NULL,
    failures    bigint      NOT NULL,
    latency     int8[]      NOT NULL,
    PRIMARY KEY (slot, integration)
);

-- The tier is valid only while tier_at = updated_at: a jfmon older than
-- this migration moves the position (updated_at) without it, and the next
-- step of this jfmon then rebuilds the tier from the minute table. Existing
-- rollups start with NULL here, so the first step rebuilds them.
ALTER TABLE jfmon_rollup_state ADD COLUMN IF NOT EXISTS tier_at timestamptz;
