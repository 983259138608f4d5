-- Per-minute rollups that jfmon keeps (never written by the platform). Every
-- statement is idempotent and additive; nothing here touches the platform's
-- tables. Minutes are UTC instants (`timestamptz`); the platform's
-- `timestamp without time zone` is interpreted through the session time zone
-- jfmon sets (db_timezone), exactly as the poller does.
--
-- Latency histograms are flat int8 arrays of (bucket, count) pairs sorted by
-- bucket: [b0, n0, b1, n1, ...], with the buckets of src/hist.rs.

-- Merge two (bucket, count) pair arrays.
CREATE OR REPLACE FUNCTION jfmon_hist_merge(a int8[], b int8[]) RETURNS int8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(e.v ORDER BY m.k, e.o), '{}'::int8[])
  FROM (SELECT p.k, sum(p.n)::int8 AS n
        FROM (SELECT s.x[i] AS k, s.x[i + 1] AS n
              FROM (SELECT a AS x UNION ALL SELECT b) AS s,
                   generate_series(1, coalesce(array_length(s.x, 1), 0), 2) AS i) AS p
        GROUP BY p.k) AS m,
       LATERAL (VALUES (0, m.k), (1, m.n)) AS e(o, v)
$$;

-- Concatenate pair arrays (`jfmon_pairs(ARRAY[bucket, n] ORDER BY bucket)`).
DO $$ BEGIN
  IF to_regprocedure('jfmon_pairs(int8[])') IS NULL THEN
    CREATE AGGREGATE jfmon_pairs(int8[]) (SFUNC = array_cat, STYPE = int8[], INITCOND = '{}');
  END IF;
END $$;

-- API calls per minute × endpoint × method × status (0 = NULL status).
CREATE TABLE IF NOT EXISTS jfmon_rollup_api (
    minute     timestamptz  NOT NULL,
    endpoint   text         NOT NULL,
    method     text         NOT NULL,
    status     integer      NOT NULL,
    requests   bigint       NOT NULL,
    with_error bigint       NOT NULL, -- rows with a non-empty error text
    latency    int8[]       NOT NULL, -- (bucket, count) pairs of response_time
    PRIMARY KEY (minute, endpoint, method, status)
);

-- Integration calls per minute × integration.
CREATE TABLE IF NOT EXISTS jfmon_rollup_integrations (
    minute      timestamptz NOT NULL,
    integration text        NOT NULL,
    calls       bigint      NOT NULL,
    failures    bigint      NOT NULL,
    latency     int8[]      NOT NULL, -- (bucket, count) pairs of duration_ms
    PRIMARY KEY (minute, integration)
);

-- Business observations per minute × metric.
CREATE TABLE IF NOT EXISTS jfmon_rollup_business (
    minute       timestamptz      NOT NULL,
    metric       text             NOT NULL,
    observations bigint           NOT NULL,
    total        double precision NOT NULL,
    PRIMARY KEY (minute, metric)
);

-- Sessions started per minute.
CREATE TABLE IF NOT EXISTS jfmon_rollup_sessions (
    minute  timestamptz NOT NULL PRIMARY KEY,
    started bigint      NOT NULL
);

-- Where each rollup stands, updated in the same transaction as its deltas:
-- the rows with id > base (and the ids still open below it, held as gaps in
-- `tail`) that are not in `tail`'s gaps or above its high-water mark are
-- counted exactly once. Minutes from `covered_from` on are complete.
CREATE TABLE IF NOT EXISTS jfmon_rollup_state (
    source       text        PRIMARY KEY, -- the raw table rolled up
    base         bigint      NOT NULL,
    tail         jsonb       NOT NULL,    -- high-water mark and gaps
    horizons     jsonb       NOT NULL DEFAULT '[]', -- (time, xmax) seen, for closing gaps
    covered_from timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
