#!/bin/bash
# Top an API-calls-only set (gen7d.sh) up to the wall clock: calls from its newest one to now,
# at PER_DAY calls a day (default 1,500,000, gen7d.sh's rate). Run right before measuring,
# so that the short windows hold data.   fillapi.sh DB [PER_DAY]
set -e
DB=$1; PER_DAY=${2:-1500000}
P="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -d $DB"
F=$($P -Atc "select max(timestamp) from monitoring_api_calls")
T=$($P -Atc "select date_trunc('second', now()::timestamp)")
SECS=$($P -Atc "select extract(epoch from '$T'::timestamp - '$F'::timestamp)::int8")
N=$((SECS * PER_DAY / 86400)); [ $N -gt 0 ] || exit 0
$P -q -v n=$N -v from_ts="$F" -v to_ts="$T" -f $(dirname "$0")/gen_api.sql
$P -q -c "VACUUM ANALYZE monitoring_api_calls"
echo "$(date -u +%T) $DB: $N API calls $F .. $T"
