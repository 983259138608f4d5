//! Opening a connection pool the way every jfmon query expects it:
//! `application_name = jfmon`, a `statement_timeout` on every statement, JIT
//! off, custom plans for prepared statements, and the
//! session time zone set to the database's own zone, so the platform's legacy
//! `timestamp without time zone` columns (written with `NOW()` in that zone)
//! compare and convert correctly. sqlx forces `TimeZone=UTC` at start-up; we
//! undo that with the zone the platform's sessions get (a database or role
//! setting, else the server's), unless the configuration names one
//! (`db_timezone`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection};

/// The zone the platform's own sessions get: a `timezone` set for this
/// database and role (`ALTER DATABASE/ROLE … SET timezone`, most specific
/// first, as PostgreSQL applies them), else the server's (`log_timezone`,
/// which initdb sets with `timezone`).
const DETECT_TIMEZONE: &str = "SELECT set_config('TimeZone', coalesce(( \
       SELECT substr(cfg, length('timezone=') + 1) \
       FROM pg_db_role_setting AS s, unnest(s.setconfig) AS cfg \
       WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) \
         AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
         AND lower(cfg) LIKE 'timezone=%' \
       ORDER BY s.setrole <> 0 DESC, s.setdatabase <> 0 DESC LIMIT 1), \
     current_setting('log_timezone')), false)";

/// Connections a pool holds at most: a poll reads up to eight at once (three
/// tails, five small tables), and a long window's history job two more
/// beside it ([`super::history`]), so that neither waits for the other.
pub const POOL_CONNECTIONS: u32 = 10;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub url: String,
    pub statement_timeout: Duration,
    pub connect_timeout: Duration,
    /// Time zone the platform writes legacy timestamps in; `None` = detect.
    pub db_timezone: Option<String>,
    pub max_connections: u32,
}

impl ConnectSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            db_timezone: None,
            max_connections: POOL_CONNECTIONS,
        }
    }
}

/// Parse the URL.
pub fn connect_options(s: &ConnectSettings) -> Result<PgConnectOptions, sqlx::Error> {
    PgConnectOptions::from_str(&s.url)
}

/// Build a pool. Connects lazily unless `eager`; an eager pool fails fast with
/// the real reason (unreachable, bad password, missing database).
pub async fn pool(s: &ConnectSettings, eager: bool) -> Result<PgPool, sqlx::Error> {
    pool_with(connect_options(s)?, s, eager).await
}

/// Like [`pool`], from already parsed options (jfmon's session settings are
/// added here).
pub async fn pool_with(
    opts: PgConnectOptions,
    s: &ConnectSettings,
    eager: bool,
) -> Result<PgPool, sqlx::Error> {
    let timeout_ms = s.statement_timeout.as_millis().max(1).to_string();
    let opts = opts
        .application_name("jfmon")
        // JIT compilation costs milliseconds and is triggered by the
        // planner's (often wrong) row estimates: never worth it for jfmon's
        // short queries. Custom plans: the same statement runs with a window
        // start one time and "two minutes ago" the next; a generic plan made
        // for one is a sequential scan for the other.
        .options([
            ("statement_timeout", timeout_ms.as_str()),
            ("jit", "off"),
            ("plan_cache_mode", "force_custom_plan"),
        ]);
    let tz = s.db_timezone.clone();
    let builder = PgPoolOptions::new()
        .max_connections(s.max_connections)
        .min_connections(0)
        // No ping before every acquire: a poll takes several connections, and a
        // broken one fails the poll, which is retried (sqlx drops it).
        .test_before_acquire(false)
        .acquire_timeout(s.connect_timeout)
        .after_connect(move |conn, _meta| {
            let tz = tz.clone();
            Box::pin(async move {
                match tz {
                    Some(tz) => {
                        sqlx::query("SELECT set_config('TimeZone', $1, false)")
                            .bind(tz)
                            .execute(&mut *conn)
                            .await?;
                    }
                    None => {
                        conn.execute(DETECT_TIMEZONE).await?;
                    }
                }
                Ok(())
            })
        });
    if eager {
        // One direct connection first: a pool would report a refused or
        // rejected connection only as a time-out, hiding the real reason.
        let mut direct = tokio::time::timeout(s.connect_timeout, PgConnection::connect_with(&opts))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        // A zone PostgreSQL does not know would fail every pooled connection
        // and surface only as a time-out: try it here, where it is one error.
        if let Some(tz) = &s.db_timezone {
            sqlx::query("SELECT set_config('TimeZone', $1, false)")
                .bind(tz)
                .execute(&mut direct)
                .await?;
        }
        direct.close().await?;
    }
    Ok(builder.connect_lazy_with(opts))
}
