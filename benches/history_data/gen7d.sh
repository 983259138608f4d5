#!/bin/bash
# hist_7d: 10.5 M API calls spread evenly over the last 7 days (other tables empty), direct SQL.
# DB, DAYS and PER_DAY change the layout: DB=hist_30d DAYS=30 PER_DAY=350000 gen7d.sh gives
# the same 10.5 M calls over 30 days. `fillapi.sh DB PER_DAY` tops such a set up to the wall clock.
set -e
DB=${DB:-hist_7d}; DAYS=${DAYS:-7}; PER_DAY=${PER_DAY:-1500000}
P="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1"
$P -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
$P -d $DB -f $(dirname "$0")/../../migrations/0001_monitoring_tables.sql
NOW=$($P -d $DB -Atc "select date_trunc('second', now()::timestamp)")
for d in $(seq $DAYS -1 1); do
  F=$($P -d $DB -Atc "select '$NOW'::timestamp - interval '$d days'")
  T=$($P -d $DB -Atc "select '$NOW'::timestamp - interval '$((d-1)) days'")
  echo "$(date -u +%T) day -$d: $F .. $T"
  $P -d $DB -v n=$PER_DAY -v from_ts="$F" -v to_ts="$T" -f $(dirname "$0")/gen_api.sql
done
for f in $(dirname "$0")/../../migrations/00{02,03,04,05,06,07,08}_*.sql $(dirname "$0")/../../migrations/0015_*.sql; do $P -d $DB -f $f; done
$P -d $DB -c "VACUUM ANALYZE"
echo "$(date -u +%T) done"; $P -d $DB -Atc "select count(*), min(timestamp), max(timestamp) from monitoring_api_calls"
