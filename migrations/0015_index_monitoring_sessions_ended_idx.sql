-- no-transaction
-- One statement per file: CREATE INDEX CONCURRENTLY cannot run in a transaction
-- (nor in a multi-statement query), and must not block the platform's writers
-- on a large existing table. Sessions that stopped, by the instant they
-- ended: what the usage poll re-reads each time and the usage rollup adds
-- minute by minute (src/db/usage.rs, src/rollup/usage.rs).
CREATE INDEX CONCURRENTLY IF NOT EXISTS monitoring_sessions_ended_idx ON monitoring_sessions ((coalesce(ended_at, last_activity_at))) WHERE status <> 'active';
