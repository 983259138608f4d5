-- Integration calls (:ni rows), business observations (:nb), sessions (:ns) and context (:nc)
-- evenly over [:'from_ts', :'to_ts') (timestamptz instants).
INSERT INTO monitoring_integration_metrics (integration, operation, success, duration_ms, status_code, error, session_id, created_at)
SELECT x.name, x.op, r.u >= 0.02, greatest(1, (x.med * exp(0.5 * r.z))::int),
       CASE WHEN r.u < 0.02 THEN 502 ELSE 200 END,
       CASE WHEN r.u < 0.02 THEN 'upstream 502 Bad Gateway' END,
       's' || (i / 13), 
       :'from_ts'::timestamptz + (i::float8 / :ni) * (:'to_ts'::timestamptz - :'from_ts'::timestamptz)
FROM generate_series(0, :ni - 1) AS i,
     LATERAL (SELECT i AS ii, random() AS u, sqrt(-2 * ln(greatest(random(), 1e-12))) * cos(2 * pi() * random()) AS z) AS r,
     LATERAL (SELECT * FROM (VALUES (0, 'prokerala', 'birth_chart', 300.0), (1, 'rag', 'retrieve_context', 80.0),
        (2, 'openai', 'chat_completion', 900.0), (3, 'elevenlabs', 'text_to_speech', 700.0), (4, 'did', 'create_talk', 1500.0))
        AS v(k, name, op, med) WHERE v.k = i % 5) AS x;

INSERT INTO monitoring_business_metrics (metric, value, unit, recorded_at)
SELECT x.metric, x.v, x.unit,
       :'from_ts'::timestamptz + (i::float8 / :nb) * (:'to_ts'::timestamptz - :'from_ts'::timestamptz)
FROM generate_series(0, :nb - 1) AS i,
     LATERAL (SELECT * FROM (VALUES (0, 'credits_used', 1.0, 'credits'), (1, 'credits_used', 3.0, 'credits'),
        (2, 'revenue', 9.99, 'USD'), (3, 'conversions', 1.0, 'count'), (4, 'signups', 1.0, 'count'))
        AS v(k, metric, v, unit) WHERE v.k = i % 5) AS x;

INSERT INTO monitoring_sessions (session_id, user_id, service, status, started_at, last_activity_at, ended_at, credits_used)
SELECT :'prefix' || i, i % 50000, (ARRAY['spiritual_guidance','voice','avatar','astrology'])[1 + i % 4],
       (ARRAY['completed','completed','completed','failed','abandoned'])[1 + i % 5],
       t, t + interval '4 minutes', t + interval '5 minutes', i % 7
FROM generate_series(0, :ns - 1) AS i,
     LATERAL (SELECT :'from_ts'::timestamptz + (i::float8 / :ns) * (:'to_ts'::timestamptz - :'from_ts'::timestamptz) AS t) AS tt;

INSERT INTO monitoring_context (session_id, user_id, context_type, data, created_at)
SELECT :'prefix' || (i / 3), i % 50000, 'step', jsonb_build_object('n', i % 3),
       :'from_ts'::timestamptz + (i::float8 / :nc) * (:'to_ts'::timestamptz - :'from_ts'::timestamptz)
FROM generate_series(0, :nc - 1) AS i;
