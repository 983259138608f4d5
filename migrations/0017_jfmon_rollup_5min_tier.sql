-- A coarser tier of the API and integration rollups: their aggregates per
-- 5-minute slot (UTC, aligned on the Unix epoch), so that a window whose
-- slots are 5 minutes or a multiple (24 hours, 7 days, 30 days) reads far
-- fewer rows (src/rollup/read.rs). Idempotent and additive.
--
-- Kept by the statement that adds a delta to the minute table, in the same
-- transaction (src/rollup/spec.rs), so that while jfmon_rollup_state says
-- the tier was kept (tier_at = updated_at, below) a slot equals the sum of
-- its five minutes.

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

-- The same merge as 0009's, reading each array once (unnest) instead of by
-- subscript: a subscript of a TOASTed array unpacks the whole array each
-- time, so merging the (bucket, count) pairs of a 5-minute integration row
-- (about 900 elements) took 6.6 ms, and takes 1.5 ms now.
CREATE OR REPLACE FUNCTION jfmon_hist_merge(a int8[], b int8[]) RETURNS int8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(e.v ORDER BY m.k, e.o), '{}'::int8[])
  FROM (SELECT p.k, sum(p.n)::int8 AS n
        FROM (SELECT u.v AS k, lead(u.v) OVER (PARTITION BY u.s ORDER BY u.o) AS n, u.o
              FROM (SELECT 0 AS s, x.v, x.o FROM unnest(a) WITH ORDINALITY AS x(v, o)
                    UNION ALL SELECT 1, x.v, x.o FROM unnest(b) WITH ORDINALITY AS x(v, o)) AS u) AS p
        WHERE p.o % 2 = 1 GROUP BY p.k) AS m,
       LATERAL (VALUES (0, m.k), (1, m.n)) AS e(o, v)
$$;
