-- The seven monitoring tables. Every statement is idempotent and additive:
-- tables the platform already writes (monitoring_api_calls, monitoring_alerts)
-- are created in their existing shape only when absent and never altered.
-- Indexes are created separately, CONCURRENTLY, in 0002 (no long write lock).

-- Written by the platform's middleware, one row per request (legacy shape).
CREATE TABLE IF NOT EXISTS monitoring_api_calls (
    id            SERIAL PRIMARY KEY,
    endpoint      VARCHAR(500) NOT NULL,
    method        VARCHAR(10)  NOT NULL,
    status_code   INTEGER,
    response_time INTEGER,               -- milliseconds
    user_id       INTEGER,
    request_body  TEXT,                  -- may hold personal data: never shown
    error         TEXT,
    timestamp     TIMESTAMP DEFAULT NOW() -- database time zone
);

-- Written by the platform's alerting (legacy shape).
CREATE TABLE IF NOT EXISTS monitoring_alerts (
    id              SERIAL PRIMARY KEY,
    alert_type      VARCHAR(100),
    severity        VARCHAR(20),
    title           VARCHAR(255),
    description     TEXT,
    context         JSONB,
    acknowledged    BOOLEAN DEFAULT FALSE,
    acknowledged_by INTEGER,
    acknowledged_at TIMESTAMP,
    created_at      TIMESTAMP DEFAULT NOW()
);

-- One row per user session (spiritual guidance, voice, avatar ...).
CREATE TABLE IF NOT EXISTS monitoring_sessions (
    id               BIGSERIAL PRIMARY KEY,
    session_id       TEXT        NOT NULL UNIQUE,
    user_id          BIGINT,
    service          TEXT        NOT NULL,
    status           TEXT        NOT NULL DEFAULT 'active', -- active | completed | failed | abandoned
    started_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at         TIMESTAMPTZ,
    credits_used     INTEGER     NOT NULL DEFAULT 0
);

-- Latest status each integration reports about itself (one row per integration).
CREATE TABLE IF NOT EXISTS monitoring_integration_health (
    id          BIGSERIAL PRIMARY KEY,
    integration TEXT        NOT NULL UNIQUE,
    status      TEXT        NOT NULL,     -- healthy | degraded | down | unknown (free text tolerated)
    message     TEXT,
    checked_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per call to an external integration (prokerala, openai, elevenlabs, did, rag ...).
CREATE TABLE IF NOT EXISTS monitoring_integration_metrics (
    id          BIGSERIAL PRIMARY KEY,
    integration TEXT        NOT NULL,
    operation   TEXT,
    success     BOOLEAN     NOT NULL,
    duration_ms INTEGER,
    status_code INTEGER,
    error       TEXT,
    session_id  TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Context recorded during a session (its timeline). data may hold secrets: masked on display.
CREATE TABLE IF NOT EXISTS monitoring_context (
    id           BIGSERIAL PRIMARY KEY,
    session_id   TEXT        NOT NULL,
    user_id      BIGINT,
    context_type TEXT        NOT NULL,
    data         JSONB,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Business KPIs as a stream of additive observations (revenue, credits_used, conversions ...).
CREATE TABLE IF NOT EXISTS monitoring_business_metrics (
    id          BIGSERIAL PRIMARY KEY,
    metric      TEXT             NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    unit        TEXT,
    dimensions  JSONB,
    recorded_at TIMESTAMPTZ      NOT NULL DEFAULT now()
);
