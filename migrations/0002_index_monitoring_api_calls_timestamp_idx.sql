-- no-transaction
-- One statement per file: CREATE INDEX CONCURRENTLY cannot run in a transaction
-- (nor in a multi-statement query), and must not block the platform's writers
-- on a large existing table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS monitoring_api_calls_timestamp_idx ON monitoring_api_calls (timestamp);
