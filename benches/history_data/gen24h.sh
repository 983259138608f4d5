#!/bin/bash
set -e
P="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1"
$P -d postgres -c "DROP DATABASE IF EXISTS hist_24h" -c "CREATE DATABASE hist_24h"
$P -d hist_24h -f $(dirname "$0")/../../migrations/0001_monitoring_tables.sql
$(dirname "$0")/fill24h.sh
for f in $(dirname "$0")/../../migrations/00{02,03,04,05,06,07,08}_*.sql $(dirname "$0")/../../migrations/0015_*.sql; do $P -d hist_24h -f $f; done
$P -d hist_24h -c "INSERT INTO monitoring_alerts (alert_type, severity, title, acknowledged, created_at) SELECT 'integration', 'warning', 'openai slow', true, now()::timestamp - g * interval '1 hour' FROM generate_series(1, 20) g"
$P -d hist_24h -c "VACUUM ANALYZE"
echo "$(date -u +%T) done"
$P -d hist_24h -Atc "select 'api', count(*), min(timestamp), max(timestamp) from monitoring_api_calls union all select 'int', count(*), min(created_at)::timestamp, max(created_at)::timestamp from monitoring_integration_metrics union all select 'biz', count(*), null, null from monitoring_business_metrics union all select 'sess', count(*), null, null from monitoring_sessions union all select 'ctx', count(*), null, null from monitoring_context"
