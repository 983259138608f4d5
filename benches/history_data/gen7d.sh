#!/bin/bash
# hist_7d: 10.5 M API calls spread evenly over the last 7 days (other tables empty), direct SQL.
set -e
P="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1"
$P -d postgres -c "DROP DATABASE IF EXISTS hist_7d" -c "CREATE DATABASE hist_7d"
$P -d hist_7d -f $(dirname "$0")/../../migrations/0001_monitoring_tables.sql
NOW=$($P -d hist_7d -Atc "select date_trunc('second', now()::timestamp)")
for d in 7 6 5 4 3 2 1; do
  F=$($P -d hist_7d -Atc "select '$NOW'::timestamp - interval '$d days'")
  T=$($P -d hist_7d -Atc "select '$NOW'::timestamp - interval '$((d-1)) days'")
  echo "$(date -u +%T) day -$d: $F .. $T"
  $P -d hist_7d -v n=1500000 -v from_ts="$F" -v to_ts="$T" -f $(dirname "$0")/gen_api.sql
done
for f in $(dirname "$0")/../../migrations/00{02,03,04,05,06,07,08}_*.sql $(dirname "$0")/../../migrations/0015_*.sql; do $P -d hist_7d -f $f; done
$P -d hist_7d -c "VACUUM ANALYZE"
echo "$(date -u +%T) done"; $P -d hist_7d -Atc "select count(*), min(timestamp), max(timestamp) from monitoring_api_calls"
