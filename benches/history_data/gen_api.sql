-- Fill monitoring_api_calls from :'from_ts' to :'to_ts' (timestamp, db local zone) with :n rows,
-- evenly spread, the simulator's 10 endpoints, lognormal-ish latencies, ~1.5% 5xx, ~2% 4xx.
INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, user_id, error, timestamp)
SELECT e.path, e.method,
       CASE WHEN r.u < 0.015 THEN 500 + (r.g % 4) WHEN r.u < 0.035 THEN 400 + (r.g % 30) ELSE e.ok END,
       greatest(1, (e.med * exp(e.sigma * r.z))::int),
       CASE WHEN r.g % 2 = 0 THEN (r.g % 50000)::int END,
       CASE WHEN r.u < 0.015 THEN 'Internal error: upstream timeout' END,
       :'from_ts'::timestamp + (i::float8 / :n) * (:'to_ts'::timestamp - :'from_ts'::timestamp)
FROM generate_series(0, :n - 1) AS i,
     LATERAL (SELECT random() AS u, (random() * 1e9)::int8 AS g,
                     sqrt(-2 * ln(greatest(random(), 1e-12))) * cos(2 * pi() * random()) AS z,
                     (hashint8(i) & 1023)::int AS k) AS r,
     LATERAL (SELECT * FROM (VALUES
        (0,  220, 'POST', '/api/spiritual/guidance', 45.0, 0.5, 200),
        (220,280, 'POST', '/api/sessions/start', 110.0, 0.5, 201),
        (280,310, 'POST', '/api/credits/purchase', 380.0, 0.45, 200),
        (310,410, 'POST', '/api/auth/login', 80.0, 0.4, 200),
        (410,425, 'POST', '/api/auth/register', 160.0, 0.4, 201),
        (425,575, 'GET',  '/api/user/profile', 35.0, 0.45, 200),
        (575,755, 'GET',  '/api/credits/balance', 22.0, 0.45, 200),
        (755,815, 'GET',  '/api/sessions/history', 65.0, 0.5, 200),
        (815,835, 'POST', '/api/avatar/generate', 150.0, 0.5, 202),
        (835,1024,'GET',  '/api/health', 5.0, 0.35, 200)) AS v(lo, hi, method, path, med, sigma, ok)
        WHERE r.k * 1000 / 1024 >= v.lo AND r.k * 1000 / 1024 < v.hi LIMIT 1) AS e;
