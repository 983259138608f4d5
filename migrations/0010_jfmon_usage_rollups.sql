-- Usage rollups that jfmon keeps (never written by the platform): sessions
-- per minute × service × outcome, and the credits of the sessions that ended.
-- Idempotent and additive; nothing here touches the platform's tables.
--
-- A session is counted twice: under 'started' at the minute it started, and
-- under its outcome ('completed', 'failed', 'abandoned' = any other status
-- that is not 'active') at the minute it ended, coalesce(ended_at,
-- last_activity_at). Sessions change status after they are inserted, so this
-- rollup is not kept by id like the others: it adds whole minutes once they
-- are settled (see src/rollup/usage.rs), its position being the span of
-- minutes already added.
CREATE TABLE IF NOT EXISTS jfmon_rollup_usage (
    minute   timestamptz NOT NULL,
    service  text        NOT NULL,
    outcome  text        NOT NULL, -- started | completed | failed | abandoned
    sessions bigint      NOT NULL,
    credits  bigint      NOT NULL, -- credits of the sessions that ended (0 for 'started')
    PRIMARY KEY (minute, service, outcome)
);

-- The minutes [covered_from, settled_to) are in jfmon_rollup_usage, each
-- exactly once: a step adds minutes and moves a bound in one transaction.
CREATE TABLE IF NOT EXISTS jfmon_rollup_usage_state (
    only_row     boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    covered_from timestamptz NOT NULL,
    settled_to   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
