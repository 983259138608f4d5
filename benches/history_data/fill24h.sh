#!/bin/bash
# Fill hist_24h (all seven tables) from its newest API call (or now - 24 h) up to now,
# at 116 API calls/s (+ 0.8 integration calls, 0.29 business rows, 0.062 sessions, 0.19 context rows per call).
# Direct SQL generate_series; run again right before measuring to top up to the wall clock.
set -e
P="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -d hist_24h"
F=$($P -Atc "select coalesce(max(timestamp), date_trunc('second', now()::timestamp) - interval '24 hours') from monitoring_api_calls")
T=$($P -Atc "select date_trunc('second', now()::timestamp)")
SECS=$($P -Atc "select extract(epoch from '$T'::timestamp - '$F'::timestamp)::int8")
N=$((SECS * 116)); [ $N -gt 0 ] || exit 0
STEP=$((N / 8 + 1))
# API calls in 8 chunks (each its own transaction)
for k in 0 1 2 3 4 5 6 7; do
  CF=$($P -Atc "select '$F'::timestamp + ($k::float8 / 8) * ('$T'::timestamp - '$F'::timestamp)")
  CT=$($P -Atc "select '$F'::timestamp + (($k + 1)::float8 / 8) * ('$T'::timestamp - '$F'::timestamp)")
  echo "$(date -u +%T) api $CF .. $CT"
  $P -q -v n=$((N / 8)) -v from_ts="$CF" -v to_ts="$CT" -f $(dirname "$0")/gen_api.sql
done
FZ=$($P -Atc "select '$F'::timestamp::timestamptz"); TZ_=$($P -Atc "select '$T'::timestamp::timestamptz")
echo "$(date -u +%T) others"
$P -q -v ni=$((N * 8 / 10)) -v nb=$((N * 29 / 100)) -v ns=$((N * 62 / 1000)) -v nc=$((N * 19 / 100)) \
   -v from_ts="$FZ" -v to_ts="$TZ_" -v prefix="h$(date +%s)-" -f $(dirname "$0")/gen_other.sql
$P -q -c "INSERT INTO monitoring_integration_health (integration, status, message, checked_at)
          SELECT n, 'healthy', 'ok', now() FROM unnest(ARRAY['prokerala','rag','openai','elevenlabs','did']) n
          ON CONFLICT (integration) DO UPDATE SET checked_at = now()"
echo "$(date -u +%T) filled $N API calls"
