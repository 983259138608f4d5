-- A coarser tier of the API and integration rollups: the same aggregates per
-- 5-minute slot (UTC, aligned on the Unix epoch), so that a window whose
-- slots are 5 minutes or a multiple (24 hours, 7 days, 30 days) reads a
-- fifth of the rows or fewer (src/rollup/read.rs). Idempotent and additive.
--
-- Kept by the statement that adds a delta to the minute table, in the same
-- transaction (src/rollup/spec.rs), so a slot always equals the sum of its
-- five minutes.
CREATE TABLE IF NOT EXISTS jfmon_rollup_api_5m (
    slot       timestamptz  NOT NULL,
    endpoint   text         NOT NULL,
    method     text         NOT NULL,
    status     integer      NOT NULL,
    requests   bigint       NOT NULL,
    with_error bigint       NOT NULL,
    latency    int8[]       NOT NULL,
    PRIMARY KEY (slot, endpoint, method, status)
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
