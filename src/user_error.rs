//! Turning database errors into one clear line for the user: what went
//! wrong, and what to do about it — never with the password.
//!
//! [`describe_db_error`] maps the common sqlx failures (unreachable server,
//! rejected login, missing database, malformed URL, timeouts, missing
//! privileges, statement timeouts) to a sentence; everything else becomes a
//! short generic line with secrets redacted.

use std::error::Error as _;
use std::io;

use crate::redact::{db_host_port, db_name, db_user, redact_text, redact_url, url_secrets};

/// One line describing `err`, which happened while using the database at
/// `url`. The password in `url` never appears in the result, except as a
/// word of one of jfmon's own fixed sentences (`InvalidArgument`), which
/// take nothing from the URL or the server.
pub fn describe_db_error(err: &sqlx::Error, url: &str) -> String {
    // PostgreSQL's driver never raises it: jfmon's own refusals, a fixed
    // sentence that says what to do (and holds no secret, so it is not
    // masked either: a password that is also a word would blank it).
    if let sqlx::Error::InvalidArgument(m) = err {
        return m.clone();
    }
    let at = db_host_port(url);
    let line = match err {
        sqlx::Error::Io(e) => describe_io(e, &at),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            describe_sqlstate(&code, db.message(), url, &at)
        }
        sqlx::Error::Configuration(e) => format!(
            "the database URL is malformed: {} — expected postgres://user:password@host:5432/dbname",
            source_chain(e.as_ref())
        ),
        sqlx::Error::PoolTimedOut => {
            format!(
                "timed out connecting to PostgreSQL at {at} — check the host, port and firewall"
            )
        }
        sqlx::Error::PoolClosed => {
            "the database connection pool was closed — jfmon is shutting down".to_string()
        }
        sqlx::Error::Tls(e) => format!(
            "the TLS handshake with PostgreSQL at {at} failed: {} — check sslmode in the database URL",
            source_chain(e.as_ref())
        ),
        sqlx::Error::Protocol(m) => format!(
            "PostgreSQL at {at} sent something unexpected: {m} — is this really a PostgreSQL server?"
        ),
        sqlx::Error::Migrate(e) => format!("applying migrations failed: {e}"),
        sqlx::Error::WorkerCrashed => {
            format!("the connection to PostgreSQL at {at} broke unexpectedly — try again")
        }
        other => match io_error_in(other) {
            Some(e) => describe_io(e, &at),
            None => format!("database error at {at}: {other}"),
        },
    };
    scrub(&line, url)
}

fn describe_io(e: &io::Error, at: &str) -> String {
    let hint = "is it running, and is --database-url / DATABASE_URL right?";
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!("cannot reach PostgreSQL at {at}: connection refused — {hint}")
        }
        io::ErrorKind::TimedOut => {
            format!(
                "timed out connecting to PostgreSQL at {at} — check the host, port and firewall"
            )
        }
        io::ErrorKind::NotFound => {
            format!("cannot reach PostgreSQL at {at}: no such socket or host — {hint}")
        }
        io::ErrorKind::PermissionDenied => format!(
            "cannot reach PostgreSQL at {at}: permission denied — check the socket's permissions or firewall"
        ),
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => {
            format!(
                "PostgreSQL at {at} closed the connection: {} — check the server log, max_connections and sslmode",
                plain_io(e)
            )
        }
        _ => {
            let msg = plain_io(e);
            if msg.contains("lookup address") || msg.contains("Name or service not known") {
                format!(
                    "cannot resolve the database host in {at} — check the host name in the database URL"
                )
            } else {
                format!("cannot reach PostgreSQL at {at}: {msg} — {hint}")
            }
        }
    }
}

/// `Connection refused (os error 111)` → `connection refused`.
fn plain_io(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// PostgreSQL's answer to `SET TimeZone` with a zone it does not know.
fn is_unknown_timezone(code: &str, message: &str) -> bool {
    code == "22023" && message.contains("\"TimeZone\"")
}

/// Whether `err` says the configured time zone is unknown (a usage error).
pub fn is_unknown_timezone_error(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            is_unknown_timezone(&db.code().unwrap_or_default(), db.message())
        }
        _ => false,
    }
}

fn describe_sqlstate(code: &str, message: &str, url: &str, at: &str) -> String {
    if is_unknown_timezone(code, message) {
        let zone = message.rsplit(": ").next().unwrap_or("").trim_matches('"');
        return format!(
            "unknown time zone \"{zone}\" (--db-timezone / db_timezone) — PostgreSQL on {at} does not know it; \
             use e.g. Asia/Kolkata, UTC or +05:30 (SELECT name FROM pg_timezone_names lists them)"
        );
    }
    match code {
        // invalid_password, invalid_authorization_specification
        "28P01" | "28000" => {
            let user = db_user(url).unwrap_or_else(|| "(default)".to_string());
            format!(
                "PostgreSQL rejected the login for user \"{user}\" on {at} — check the user and password in the database URL"
            )
        }
        // invalid_catalog_name
        "3D000" => format!(
            "database \"{}\" does not exist on {at} — create it or fix the database name in the URL",
            db_name(url)
        ),
        // insufficient_privilege
        "42501" => format!(
            "the database role lacks permission: {message} — use a role with the needed grants, or --read-only"
        ),
        // query_canceled
        "57014" => format!(
            "a query hit the statement timeout ({message}) — the database is slow or overloaded; raise --statement-timeout or shorten --window"
        ),
        // undefined_table
        "42P01" => format!(
            "a table jfmon needs is missing: {message} — is this the JyotiFlow database, and has `jfmon migrate` been run?"
        ),
        // too_many_connections
        "53300" => format!(
            "PostgreSQL at {at} has too many connections — close idle clients or raise max_connections"
        ),
        // cannot_connect_now
        "57P03" => {
            format!("PostgreSQL at {at} is starting up or shutting down — try again shortly")
        }
        // admin_shutdown, crash_shutdown
        "57P01" | "57P02" => {
            format!("PostgreSQL at {at} shut down the connection — is the server restarting?")
        }
        // read_only_sql_transaction
        "25006" => format!(
            "PostgreSQL at {at} is read-only (a standby?): {message} — run with --read-only or point at the primary"
        ),
        "" => format!("PostgreSQL at {at} reported an error: {message}"),
        _ => format!("PostgreSQL at {at} reported an error [{code}]: {message}"),
    }
}

fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = inner.source();
    }
    s
}

fn io_error_in(err: &sqlx::Error) -> Option<&io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cur = e.source();
    }
    None
}

/// A better line for a pool error. sqlx's pool retries refused connections
/// until its acquire timeout and then reports only `PoolTimedOut`; for that
/// case this makes one direct connection attempt (bounded by `timeout`) and
/// describes *its* failure (connection refused, bad password, ...). Other
/// errors are described as by [`describe_db_error`].
pub async fn describe_pool_error(
    err: &sqlx::Error,
    url: &str,
    timeout: std::time::Duration,
) -> String {
    use sqlx::Connection as _;
    if !matches!(err, sqlx::Error::PoolTimedOut) {
        return describe_db_error(err, url);
    }
    match tokio::time::timeout(timeout, sqlx::PgConnection::connect(url)).await {
        Ok(Err(direct)) => describe_db_error(&direct, url),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            scrub(
                &format!(
                    "timed out waiting for a database connection to {} — the server is reachable but slow or out of connections",
                    db_host_port(url)
                ),
                url,
            )
        }
        Err(_) => describe_db_error(err, url),
    }
}

/// Final safety net: one line, no password, no raw URL.
fn scrub(line: &str, url: &str) -> String {
    let mut out = line.to_string();
    if !url.is_empty() && out.contains(url) {
        out = out.replace(url, &redact_url(url));
    }
    let secrets = url_secrets(url);
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let out = redact_text(&out, &refs);
    out.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;
    use std::fmt;

    /// A stand-in for a PostgreSQL error with a given SQLSTATE.
    #[derive(Debug)]
    struct FakeDbError {
        code: &'static str,
        message: String,
    }

    impl fmt::Display for FakeDbError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for FakeDbError {}

    impl sqlx::error::DatabaseError for FakeDbError {
        fn message(&self) -> &str {
            &self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn db_err(code: &'static str, message: &str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(FakeDbError {
            code,
            message: message.to_string(),
        }))
    }

    const URL: &str = "postgres://bob:hunter2@db.example.com:6432/app";

    #[test]
    fn io_refused() {
        let e = sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            describe_db_error(&e, "postgres://bob:hunter2@127.0.0.1:5999/app"),
            "cannot reach PostgreSQL at 127.0.0.1:5999: connection refused — is it running, and is --database-url / DATABASE_URL right?"
        );
    }

    #[test]
    fn login_rejected() {
        for code in ["28P01", "28000"] {
            let e = db_err(code, "password authentication failed for user \"bob\"");
            assert_eq!(
                describe_db_error(&e, URL),
                "PostgreSQL rejected the login for user \"bob\" on db.example.com:6432 — check the user and password in the database URL"
            );
        }
    }

    #[test]
    fn missing_database() {
        let e = db_err("3D000", "database \"app\" does not exist");
        assert_eq!(
            describe_db_error(&e, URL),
            "database \"app\" does not exist on db.example.com:6432 — create it or fix the database name in the URL"
        );
    }

    #[test]
    fn privileges_and_timeouts() {
        let e = db_err("42501", "permission denied for table api_logs");
        assert_eq!(
            describe_db_error(&e, URL),
            "the database role lacks permission: permission denied for table api_logs — use a role with the needed grants, or --read-only"
        );
        let e = db_err("57014", "canceling statement due to statement timeout");
        assert!(describe_db_error(&e, URL).starts_with("a query hit the statement timeout"));
        let e = db_err("XX000", "internal error mentioning hunter2");
        let s = describe_db_error(&e, URL);
        assert!(!s.contains("hunter2") && s.contains("XX000"), "{s}");
    }

    #[test]
    fn malformed_url_reason_is_redacted() {
        let url = "postgres://bob:hunter2@host:notaport/db";
        let inner = io::Error::other(format!("invalid port in {url}"));
        let e = sqlx::Error::Configuration(Box::new(inner));
        let s = describe_db_error(&e, url);
        assert!(s.starts_with("the database URL is malformed: "), "{s}");
        assert!(
            s.ends_with("— expected postgres://user:password@host:5432/dbname"),
            "{s}"
        );
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn jfmons_own_refusal_is_shown_as_it_is() {
        let e = sqlx::Error::InvalidArgument(crate::rollup::usage::NEEDS_MIGRATE.into());
        assert_eq!(
            describe_db_error(&e, URL),
            crate::rollup::usage::NEEDS_MIGRATE
        );
        // Not masked word by word when the password is also a word in it.
        assert_eq!(
            describe_db_error(&e, "postgres://jfmon:jfmon@db:5432/app"),
            crate::rollup::usage::NEEDS_MIGRATE
        );
    }

    #[test]
    fn real_config_error_from_sqlx() {
        let url = "postgres://bob:hunter2@host:5432/db?sslmode=bogus";
        let e = url.parse::<sqlx::postgres::PgConnectOptions>().unwrap_err();
        let s = describe_db_error(&e, url);
        assert!(s.starts_with("the database URL is malformed"), "{s}");
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn pool_timeout() {
        assert_eq!(
            describe_db_error(&sqlx::Error::PoolTimedOut, URL),
            "timed out connecting to PostgreSQL at db.example.com:6432 — check the host, port and firewall"
        );
    }

    const REFUSED: &str = "cannot reach PostgreSQL at 127.0.0.1:1: connection refused — is it running, and is --database-url / DATABASE_URL right?";

    #[tokio::test]
    async fn real_connection_refused() {
        use sqlx::Connection as _;
        let url = "postgres://bob:hunter2@127.0.0.1:1/app";
        // A single connection reports the refusal itself.
        let e = sqlx::PgConnection::connect(url).await.unwrap_err();
        assert_eq!(describe_db_error(&e, url), REFUSED);

        // The pool retries refused connections and reports only a timeout...
        let opts: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        let e = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(500))
            .connect_with(opts)
            .await
            .unwrap_err();
        let s = describe_db_error(&e, url);
        assert!(!s.contains("hunter2"), "{s}");
        assert!(
            s == REFUSED || s.starts_with("timed out connecting to PostgreSQL at 127.0.0.1:1"),
            "{s}"
        );
        // ...which describe_pool_error turns back into the real reason.
        let s = describe_pool_error(&e, url, std::time::Duration::from_secs(5)).await;
        assert_eq!(s, REFUSED);
    }

    /// Whether a run with environment variable `CI` = `ci` may skip a test
    /// whose service is missing: not in CI (`CI` unset, empty, `false` or
    /// `0`), the same rule as `tests/common::in_ci`.
    fn may_skip(ci: Option<&str>) -> bool {
        ci.is_none_or(|v| matches!(v.trim(), "" | "false" | "0"))
    }

    #[test]
    fn ci_forbids_skipping() {
        for ci in ["true", "1", "yes"] {
            assert!(!may_skip(Some(ci)), "CI={ci} must not skip");
        }
        for ci in [None, Some(""), Some("false"), Some("0")] {
            assert!(may_skip(ci), "CI={ci:?} may skip");
        }
    }

    /// Needs the PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth);
    /// skipped, saying why, when it is not reachable, except in CI where it fails.
    #[tokio::test]
    async fn real_missing_database() {
        let url = "postgres://postgres:hunter2@127.0.0.1:5432/no_such_db_xyz";
        let e = match sqlx::PgPool::connect(url).await {
            Ok(_) => panic!("database no_such_db_xyz unexpectedly exists"),
            Err(e) => e,
        };
        if matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) {
            assert!(
                may_skip(std::env::var("CI").ok().as_deref()),
                "no PostgreSQL at 127.0.0.1:5432 ({e}), and CI must run every test"
            );
            eprintln!(
                "SKIPPED real_missing_database: no PostgreSQL at 127.0.0.1:5432 ({e}); start it to run this test (CI fails instead)"
            );
            return;
        }
        let s = describe_db_error(&e, url);
        assert_eq!(
            s,
            "database \"no_such_db_xyz\" does not exist on 127.0.0.1:5432 — create it or fix the database name in the URL"
        );
    }
}
