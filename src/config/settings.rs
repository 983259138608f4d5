//! The settings table: every setting jfmon takes by flag, environment
//! variable or config-file key, declared once. A row gives the help text, the
//! [`Config`] field with its type and default, the flag, variable and key with
//! the commands that take it, and the check of a given value.
//!
//! To add a setting: add a row here and document its key in
//! `assets/jfmon.example.toml`; the flag, the variable, the file key, the
//! layering and the per-command `--help` follow from the row.

use std::path::PathBuf;
use std::time::Duration;

use super::check;
use super::declare::{Kind, Mask, Setting};

/// Stands for "no subcommand" (the live dashboard) in [`Setting::only`].
pub const DASHBOARD: &str = "dashboard";

/// Commands that read or write the database.
const DATABASE: &[&str] = &[
    DASHBOARD, "migrate", "simulate", "check", "snapshot", "serve", "rollup", "prune", "rules",
];
/// Commands that may write, or show that they would not.
const WRITERS: &[&str] = &[
    DASHBOARD, "demo", "migrate", "simulate", "serve", "rollup", "prune",
];
/// Commands that aggregate over a window of recent traffic.
const WINDOWED: &[&str] = &[DASHBOARD, "demo", "check", "snapshot", "serve"];
/// Commands that keep polling.
const POLLERS: &[&str] = &[DASHBOARD, "snapshot", "serve", "rollup"];
/// Commands that draw the dashboard.
const DRAWERS: &[&str] = &[DASHBOARD, "demo"];
/// Commands that colour their output.
const COLOURED: &[&str] = &[DASHBOARD, "demo", "serve"];
/// Commands that can follow a hub or the platform stream.
const FOLLOWERS: &[&str] = &[DASHBOARD, "snapshot"];
/// Commands that show today's business totals from the database.
const BUSINESS_DAY: &[&str] = &[DASHBOARD, "check", "snapshot", "serve"];
/// Commands that backfill the rollups.
const BACKFILLERS: &[&str] = &["rollup", "prune"];
/// The hub.
const SERVE: &[&str] = &["serve"];
/// Commands that evaluate alert rules.
const RULED: &[&str] = &[DASHBOARD, "demo", "serve", "rules"];
/// Commands that write a log.
const LOGGERS: &[&str] = &[DASHBOARD, "demo", "serve"];

/// Default aggregation window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// Default statement timeout.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default statement timeout inside a rollup backfill slice: a slice reads
/// and aggregates tens of thousands of raw rows on a busy table, which the
/// interactive [`DEFAULT_STATEMENT_TIMEOUT`] does not always allow.
pub const DEFAULT_BACKFILL_TIMEOUT: Duration = Duration::from_secs(120);
/// Default session idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default environment label.
pub const DEFAULT_ENVIRONMENT: &str = "production";

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

settings! {
    /// PostgreSQL URL, e.g. postgres://user:password@host:5432/dbname
    database_url: Option<String> = None;
        Setting::new("database-url", "database_url").env("DATABASE_URL").value("URL")
            .mask(Mask::Url),
        check::some(check::database_url);

    /// Environment label shown in the header, e.g. staging [default: production]
    environment: String = DEFAULT_ENVIRONMENT.to_string();
        Setting::new("env-name", "environment").env("JFMON_ENV").value("NAME").only(DRAWERS),
        check::label(64);

    /// Time window the dashboard aggregates over (1m..30d) [default: 15m]
    window: Duration = DEFAULT_WINDOW;
        Setting::new("window", "window").env("JFMON_WINDOW").value("DUR")
            .kind(Kind::Duration).only(WINDOWED),
        check::duration(secs(60), secs(30 * 86_400));

    /// How often to poll the database (200ms..5m) [default: 2s]
    interval: Duration = DEFAULT_INTERVAL;
        Setting::new("interval", "interval").env("JFMON_INTERVAL").value("DUR")
            .kind(Kind::Duration).only(POLLERS),
        check::duration(Duration::from_millis(200), secs(300));

    /// Cancel any single query running longer than this (100ms..10m) [default: 5s]
    statement_timeout: Duration = DEFAULT_STATEMENT_TIMEOUT;
        Setting::new("statement-timeout", "statement_timeout").env("JFMON_STATEMENT_TIMEOUT")
            .value("DUR").kind(Kind::Duration).only(DATABASE),
        check::duration(Duration::from_millis(100), secs(600));

    /// Cancel a statement of a rollup backfill slice running longer than this
    /// (`jfmon rollup --backfill`, `jfmon prune`; 1s..1h) [default: 2m]
    backfill_timeout: Duration = DEFAULT_BACKFILL_TIMEOUT;
        Setting::new("backfill-timeout", "backfill_timeout").env("JFMON_BACKFILL_TIMEOUT")
            .value("DUR").kind(Kind::Duration).only(BACKFILLERS),
        check::duration(secs(1), secs(3600));

    /// Time zone the platform writes its timestamps in, e.g. Asia/Kolkata
    /// [default: the server's own]
    db_timezone: Option<String> = None;
        Setting::new("db-timezone", "db_timezone").env("JFMON_DB_TIMEZONE").value("TZ")
            .only(DATABASE),
        check::some(check::timezone);

    /// Time zone whose midnight starts "today" in the business strip, e.g.
    /// Asia/Kolkata [default: UTC]
    business_timezone: String = "UTC".to_string();
        Setting::new("business-timezone", "business_timezone").env("JFMON_BUSINESS_TIMEZONE")
            .value("TZ").only(BUSINESS_DAY),
        check::timezone;

    /// A session counts as active while it was seen within this (1m..30d) [default: 30m]
    idle_timeout: Duration = DEFAULT_IDLE_TIMEOUT;
        Setting::new("idle-timeout", "idle_timeout").env("JFMON_IDLE_TIMEOUT").value("DUR")
            .kind(Kind::Duration).only(WINDOWED),
        check::duration(secs(60), secs(30 * 86_400));

    /// Never write to the database (no migrations, no simulated traffic)
    read_only: bool = false;
        Setting::new("read-only", "read_only").env("JFMON_READ_ONLY").kind(Kind::Bool)
            .only(WRITERS),
        check::boolean;

    /// Show times in the local time zone instead of UTC
    local_time: bool = false;
        Setting::new("local-time", "local_time").kind(Kind::Bool).only(DRAWERS),
        check::boolean;

    /// Disable colours (also when the NO_COLOR environment variable is set)
    no_color: bool = false;
        Setting::new("no-color", "no_color").kind(Kind::Bool).only(COLOURED),
        check::boolean;

    /// Draw with plain ASCII instead of Unicode box and block characters
    ascii: bool = false;
        Setting::new("ascii", "ascii").kind(Kind::Bool).only(DRAWERS),
        check::boolean;

    /// Ignore the mouse (leave it to the terminal for selecting text)
    no_mouse: bool = false;
        Setting::new("no-mouse", "no_mouse").kind(Kind::Bool).only(DRAWERS),
        check::boolean;

    /// Ring the terminal bell once for each alert that starts firing (never repeated)
    bell: bool = false;
        Setting::new("bell", "bell").env("JFMON_BELL").kind(Kind::Bool).only(DRAWERS),
        check::boolean;

    /// Subscribe to a jfmon hub or the platform stream (ws:// or wss://): with a
    /// database URL in addition to polling it, without one on the stream alone
    ws_url: Option<String> = None;
        Setting::new("ws", "stream.url").env("JFMON_WS").value("URL").mask(Mask::Url)
            .only(FOLLOWERS),
        check::some(check::ws_url);

    /// Token for the hub given by --ws
    ws_token: Option<String> = None;
        Setting::new("ws-token", "stream.token").env("JFMON_WS_TOKEN").value("TOKEN")
            .mask(Mask::Secret).only(FOLLOWERS),
        check::some(check::token);

    /// Read the token for --ws from this file's first line when no --ws-token is given
    /// (a --ws-token value shows in `ps`)
    ws_token_file: Option<PathBuf> = None;
        Setting::new("ws-token-file", "stream.token_file").env("JFMON_WS_TOKEN_FILE")
            .value("PATH").kind(Kind::Path).only(FOLLOWERS),
        check::some(check::path);

    /// Also trust the certificates in this PEM file for wss:// (a hub's self-signed certificate)
    ws_ca_file: Option<PathBuf> = None;
        Setting::new("ws-ca-file", "stream.ca_file").env("JFMON_WS_CA_FILE").value("PATH")
            .kind(Kind::Path).only(FOLLOWERS),
        check::some(check::path);

    /// Close a hub connection whose request headers take longer than this (1s..5m) [default: 10s]
    header_timeout: Duration = secs(10);
        Setting::new("header-timeout", "serve.header_timeout").env("JFMON_HEADER_TIMEOUT")
            .value("DUR").kind(Kind::Duration).only(SERVE),
        check::duration(secs(1), secs(300));

    /// Most connections open at once from one client address; more get 503 (1..100000) [default: 64]
    max_conns_per_addr: usize = 64;
        Setting::new("max-conns-per-addr", "serve.max_conns_per_addr")
            .env("JFMON_MAX_CONNS_PER_ADDR").value("N").kind(Kind::Count).only(SERVE),
        check::count(1, 100_000);

    /// Alert rules: [[rules]] tables over the shipped defaults (see assets/RULES.md)
    rules_file: Option<PathBuf> = None;
        Setting::new("rules", "rules_file").env("JFMON_RULES").value("FILE")
            .kind(Kind::Path).only(RULED),
        check::some(check::path);

    /// Write diagnostics to this file (the terminal belongs to the dashboard)
    log_file: Option<PathBuf> = None;
        Setting::new("log-file", "log_file").env("JFMON_LOG_FILE").value("PATH")
            .kind(Kind::Path).only(LOGGERS),
        check::some(check::path);
}
