//! jfmon's settings: layering and validation.
//!
//! One [`Config`] is built from four layers, highest first:
//! 1. command-line flags and 2. environment variables (both arrive through
//!    clap in [`GlobalArgs`]),
//! 3. the TOML file (`--config` / `JFMON_CONFIG`, else
//!    `$XDG_CONFIG_HOME/jfmon/config.toml`, skipped when that default file is
//!    absent), and
//! 4. built-in defaults.
//!
//! Every value is validated once here; an invalid one yields a one-line
//! [`ConfigError`] naming the key and where the value came from, and never
//! containing a password. Also owns the human duration syntax
//! ([`parse_duration`], [`format_duration`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::duration::{format_duration, parse_duration};
use crate::redact::redact_url;
pub use crate::store::Thresholds;

// ---------------------------------------------------------------------------
// The result

/// The validated, merged configuration. Its `Debug` output hides the
/// database password and the stream token.
#[derive(Clone, PartialEq)]
pub struct Config {
    pub database_url: Option<String>,
    /// Environment label shown in the header.
    pub environment: String,
    /// Aggregation window.
    pub window: Duration,
    /// Poll interval.
    pub interval: Duration,
    /// Per-statement timeout on every query.
    pub statement_timeout: Duration,
    /// Zone the platform writes timestamps in; `None` = the server's own.
    pub db_timezone: Option<String>,
    /// A session counts as active while seen within this (sessions pane).
    pub idle_timeout: Duration,
    pub thresholds: Thresholds,
    pub read_only: bool,
    pub local_time: bool,
    pub no_color: bool,
    pub ascii: bool,
    /// Hub to follow instead of polling the database (`ws://` / `wss://`).
    pub ws_url: Option<String>,
    pub ws_token: Option<String>,
    pub log_file: Option<PathBuf>,
    /// The config file actually read, if any.
    pub config_path: Option<PathBuf>,
}

/// Default aggregation window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// Default statement timeout.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default session idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Default environment label.
pub const DEFAULT_ENVIRONMENT: &str = "production";

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: None,
            environment: DEFAULT_ENVIRONMENT.to_string(),
            window: DEFAULT_WINDOW,
            interval: DEFAULT_INTERVAL,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            db_timezone: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            thresholds: Thresholds::default(),
            read_only: false,
            local_time: false,
            no_color: false,
            ascii: false,
            ws_url: None,
            ws_token: None,
            log_file: None,
            config_path: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("environment", &self.environment)
            .field("window", &self.window)
            .field("interval", &self.interval)
            .field("statement_timeout", &self.statement_timeout)
            .field("db_timezone", &self.db_timezone)
            .field("idle_timeout", &self.idle_timeout)
            .field("thresholds", &self.thresholds)
            .field("read_only", &self.read_only)
            .field("local_time", &self.local_time)
            .field("no_color", &self.no_color)
            .field("ascii", &self.ascii)
            .field("ws_url", &self.ws_url.as_deref().map(redact_url))
            .field("ws_token", &self.ws_token.as_ref().map(|_| "***"))
            .field("log_file", &self.log_file)
            .field("config_path", &self.config_path)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Where a rejected value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The config file at this path.
    File(PathBuf),
    /// A command-line flag or its environment variable.
    Flag {
        flag: &'static str,
        env: Option<&'static str>,
    },
}

/// Why the configuration could not be built. `Display` is one line and never
/// contains a password.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The config file could not be read (missing, unreadable).
    Read { path: PathBuf, message: String },
    /// The file is not valid TOML.
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// The file has a key jfmon does not know.
    UnknownKey {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        expected: String,
    },
    /// A value is malformed or out of range.
    Invalid {
        key: String,
        source: Source,
        message: String,
    },
    /// Values that are each valid but contradict each other.
    Conflict { message: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line_suffix =
            |line: &Option<usize>| line.map(|l| format!(" line {l}")).unwrap_or_default();
        match self {
            ConfigError::Read { path, message } => {
                write!(
                    f,
                    "cannot read config file {}: {}",
                    path.display(),
                    one_line(message)
                )
            }
            ConfigError::Syntax {
                path,
                line,
                message,
            } => write!(
                f,
                "invalid TOML in {}{}: {}",
                path.display(),
                line_suffix(line),
                one_line(message)
            ),
            ConfigError::UnknownKey {
                path,
                line,
                key,
                expected,
            } => {
                write!(
                    f,
                    "unknown key \"{key}\" in {}{}",
                    path.display(),
                    line_suffix(line)
                )?;
                if !expected.is_empty() {
                    write!(f, " (known keys here: {expected})")?;
                }
                Ok(())
            }
            ConfigError::Invalid {
                key,
                source: Source::File(path),
                message,
            } => write!(
                f,
                "invalid value for \"{key}\" in {}: {}",
                path.display(),
                one_line(message)
            ),
            ConfigError::Invalid {
                source: Source::Flag { flag, env },
                message,
                ..
            } => {
                write!(f, "invalid value for {flag}")?;
                if let Some(env) = env {
                    write!(f, " (or ${env})")?;
                }
                write!(f, ": {}", one_line(message))
            }
            ConfigError::Conflict { message } => f.write_str(&one_line(message)),
        }
    }
}

impl std::error::Error for ConfigError {}

fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------
// The file format

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    environment: Option<String>,
    window: Option<String>,
    interval: Option<String>,
    statement_timeout: Option<String>,
    db_timezone: Option<String>,
    idle_timeout: Option<String>,
    read_only: Option<bool>,
    local_time: Option<bool>,
    no_color: Option<bool>,
    ascii: Option<bool>,
    log_file: Option<String>,
    thresholds: Option<FileThresholds>,
    stream: Option<FileStream>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileThresholds {
    healthy_success: Option<f64>,
    down_success: Option<f64>,
    down_consecutive_failures: Option<u32>,
    latency_degraded_p95_ms: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStream {
    url: Option<String>,
    token: Option<String>,
}

const DURATION_KEYS: &[&str] = &["window", "interval", "statement_timeout", "idle_timeout"];

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The `[table]` in effect at `offset`, if any.
fn table_at(text: &str, offset: usize) -> Option<String> {
    let off = offset.min(text.len());
    let line_start = text[..off].rfind('\n').map_or(0, |i| i + 1);
    if text[line_start..].trim_start().starts_with('[') {
        return None; // the offset is on a table header: a top-level key
    }
    text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
}

/// The key assigned on the line containing `offset`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let off = offset.min(text.len());
    let start = text[..off].rfind('\n').map_or(0, |i| i + 1);
    let end = text[off..].find('\n').map_or(text.len(), |i| off + i);
    let line = &text[start..end];
    let (k, _) = line.split_once('=')?;
    let k = k.trim().trim_matches('"').trim();
    if k.is_empty() || k.starts_with('[') {
        return None;
    }
    Some(match table_at(text, start) {
        Some(t) if !k.contains('.') => format!("{t}.{k}"),
        _ => k.to_string(),
    })
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str::<FileConfig>(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        let span = e.span();
        let line = span.as_ref().map(|s| line_of(text, s.start));
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let field = rest.split('`').next().unwrap_or_default();
            let key = match span.as_ref().and_then(|s| table_at(text, s.start)) {
                Some(t) => format!("{t}.{field}"),
                None => field.to_string(),
            };
            let expected = msg
                .split_once("expected ")
                .map(|(_, e)| {
                    e.trim_start_matches("one of ")
                        .replace('`', "")
                        .replace(" or ", ", ")
                })
                .unwrap_or_default();
            return ConfigError::UnknownKey {
                path: path.to_path_buf(),
                line,
                key,
                expected,
            };
        }
        let key = span.as_ref().and_then(|s| key_at(text, s.start));
        match key {
            Some(key) if msg.starts_with("invalid type") || msg.starts_with("invalid value") => {
                let mut message = msg;
                let short = key.rsplit('.').next().unwrap_or(&key);
                if DURATION_KEYS.contains(&short) && !key.contains('.') {
                    message.push_str(&format!(" (durations are quoted, e.g. {short} = \"15m\")"));
                }
                if key == "database_url" {
                    message = redact_url(&message);
                }
                ConfigError::Invalid {
                    key,
                    source: Source::File(path.to_path_buf()),
                    message,
                }
            }
            _ => ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                message: msg,
            },
        }
    })
}

// ---------------------------------------------------------------------------
// Loading

/// The default config file: `$XDG_CONFIG_HOME/jfmon/config.toml` (via
/// [`dirs::config_dir`]).
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("jfmon").join("config.toml"))
}

/// Build the configuration: reads the file named by `--config` /
/// `JFMON_CONFIG` (an error if it does not exist), else the default file if it
/// exists, then layers [`GlobalArgs`] over it.
pub fn load(global: &GlobalArgs) -> Result<Config, ConfigError> {
    let explicit = global.config.as_ref().filter(|p| !p.as_os_str().is_empty());
    let (path, explicit) = match explicit {
        Some(p) => (Some(expand_tilde(p)), true),
        None => (default_config_path(), false),
    };
    let file = match path {
        None => None,
        Some(p) => match std::fs::read_to_string(&p) {
            Ok(text) => Some((p, text)),
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Read {
                    path: p,
                    message: "no such file (given by --config / $JFMON_CONFIG)".to_string(),
                });
            }
            Err(e) => {
                return Err(ConfigError::Read {
                    path: p,
                    message: e.to_string(),
                });
            }
        },
    };
    load_from(
        global,
        file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())),
    )
}

/// Like [`load`], with the file's path and text supplied (or no file): no
/// file-system access, for tests.
pub fn load_from(
    global: &GlobalArgs,
    file_text: Option<(&Path, &str)>,
) -> Result<Config, ConfigError> {
    let (file, path) = match file_text {
        Some((path, text)) => (parse_file(path, text)?, Some(path)),
        None => (FileConfig::default(), None),
    };
    let layer = Layer { path };
    let th = file.thresholds.unwrap_or_default();
    let stream = file.stream.unwrap_or_default();

    let database_url = layer
        .pick(
            global.database_url.as_deref(),
            flag("--database-url", "DATABASE_URL"),
            "database_url",
            file.database_url.as_deref(),
        )
        .map(|(v, src)| validate_db_url(v, src))
        .transpose()?;

    let environment = match layer.pick(
        global.env_name.as_deref(),
        flag("--env-name", "JFMON_ENV"),
        "environment",
        file.environment.as_deref(),
    ) {
        Some((v, src)) => validate_label(v, 64, "environment", src)?,
        None => DEFAULT_ENVIRONMENT.to_string(),
    };

    let window = layer.duration(
        global.window.as_deref(),
        flag("--window", "JFMON_WINDOW"),
        "window",
        file.window.as_deref(),
        DEFAULT_WINDOW,
        Duration::from_secs(60),
        Duration::from_secs(7 * 86_400),
        false,
    )?;
    let interval = layer.duration(
        global.interval.as_deref(),
        flag("--interval", "JFMON_INTERVAL"),
        "interval",
        file.interval.as_deref(),
        DEFAULT_INTERVAL,
        Duration::from_millis(200),
        Duration::from_secs(300),
        false,
    )?;
    let statement_timeout = layer.duration(
        global.statement_timeout.as_deref(),
        flag("--statement-timeout", "JFMON_STATEMENT_TIMEOUT"),
        "statement_timeout",
        file.statement_timeout.as_deref(),
        DEFAULT_STATEMENT_TIMEOUT,
        Duration::from_millis(100),
        Duration::from_secs(600),
        false,
    )?;
    let idle_timeout = layer.duration(
        global.idle_timeout.as_deref(),
        flag("--idle-timeout", "JFMON_IDLE_TIMEOUT"),
        "idle_timeout",
        file.idle_timeout.as_deref(),
        DEFAULT_IDLE_TIMEOUT,
        Duration::from_secs(60),
        Duration::from_secs(30 * 86_400),
        false,
    )?;
    if interval >= window {
        return Err(ConfigError::Conflict {
            message: format!(
                "the poll interval ({}) must be shorter than the window ({}){}",
                format_duration(interval),
                format_duration(window),
                layer.in_file()
            ),
        });
    }

    let db_timezone = layer
        .pick(
            global.db_timezone.as_deref(),
            flag("--db-timezone", "JFMON_DB_TIMEZONE"),
            "db_timezone",
            file.db_timezone.as_deref(),
        )
        .map(|(v, src)| validate_timezone(v, src))
        .transpose()?;

    let read_only = layer.flag_bool(global.read_only, file.read_only);
    let local_time = layer.flag_bool(global.local_time, file.local_time);
    let ascii = layer.flag_bool(global.ascii, file.ascii);
    // --no-color[=BOOL] beats NO_COLOR, which can only turn colour off, which beats the file.
    let no_color = match (global.no_color, global.no_color_env) {
        (Some(v), _) => v,
        (None, Some(true)) => true,
        _ => file.no_color.unwrap_or(false),
    };

    let ws_url = layer
        .pick(
            global.ws.as_deref(),
            flag("--ws", "JFMON_WS"),
            "stream.url",
            stream.url.as_deref(),
        )
        .map(|(v, src)| validate_ws_url(v, src))
        .transpose()?;
    let ws_token = layer
        .pick(
            global.ws_token.as_deref(),
            flag("--ws-token", "JFMON_WS_TOKEN"),
            "stream.token",
            stream.token.as_deref(),
        )
        .map(|(v, src)| {
            if v.chars().any(char::is_control) || v.contains(' ') {
                Err(invalid(
                    "stream.token",
                    src,
                    "the token contains spaces or control characters".to_string(),
                ))
            } else {
                Ok(v.to_string())
            }
        })
        .transpose()?;

    let log_file = match (&global.log_file, file.log_file.as_deref()) {
        (Some(p), _) if !p.as_os_str().is_empty() => Some(expand_tilde(p)),
        (_, Some(p)) if !p.trim().is_empty() => Some(expand_tilde(Path::new(p.trim()))),
        _ => None,
    };

    let thresholds = layer.thresholds(th)?;

    Ok(Config {
        database_url,
        environment,
        window,
        interval,
        statement_timeout,
        db_timezone,
        idle_timeout,
        thresholds,
        read_only,
        local_time,
        no_color,
        ascii,
        ws_url,
        ws_token,
        log_file,
        config_path: path.map(Path::to_path_buf),
    })
}

fn flag(flag: &'static str, env: &'static str) -> Source {
    Source::Flag {
        flag,
        env: Some(env),
    }
}

fn invalid(key: &str, source: Source, message: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        source,
        message,
    }
}

/// Layering helpers; `path` is the file read, if any.
struct Layer<'p> {
    path: Option<&'p Path>,
}

impl Layer<'_> {
    fn file_source(&self) -> Source {
        Source::File(self.path.map(Path::to_path_buf).unwrap_or_default())
    }

    fn in_file(&self) -> String {
        self.path
            .map(|p| format!(" (config file {})", p.display()))
            .unwrap_or_default()
    }

    /// The highest non-empty layer of a string setting and its source.
    fn pick<'v>(
        &self,
        cli: Option<&'v str>,
        cli_source: Source,
        _key: &str,
        file: Option<&'v str>,
    ) -> Option<(&'v str, Source)> {
        match (
            cli.map(str::trim).filter(|v| !v.is_empty()),
            file.map(str::trim).filter(|v| !v.is_empty()),
        ) {
            (Some(v), _) => Some((v, cli_source)),
            (None, Some(v)) => Some((v, self.file_source())),
            (None, None) => None,
        }
    }

    fn flag_bool(&self, cli: Option<bool>, file: Option<bool>) -> bool {
        cli.or(file).unwrap_or(false)
    }

    #[allow(clippy::too_many_arguments)]
    fn duration(
        &self,
        cli: Option<&str>,
        cli_source: Source,
        key: &str,
        file: Option<&str>,
        default: Duration,
        min: Duration,
        max: Duration,
        zero_ok: bool,
    ) -> Result<Duration, ConfigError> {
        let Some((text, src)) = self.pick(cli, cli_source, key, file) else {
            return Ok(default);
        };
        let d = parse_duration(text).map_err(|m| invalid(key, src.clone(), m))?;
        if (zero_ok && d.is_zero()) || (min..=max).contains(&d) {
            Ok(d)
        } else {
            Err(invalid(
                key,
                src,
                format!(
                    "{} is out of range (use {} to {}{})",
                    format_duration(d),
                    format_duration(min),
                    format_duration(max),
                    if zero_ok { ", or 0 to disable" } else { "" }
                ),
            ))
        }
    }

    fn thresholds(&self, th: FileThresholds) -> Result<Thresholds, ConfigError> {
        let d = Thresholds::default();
        let ratio = |key: &str, v: Option<f64>, default: f64| -> Result<f64, ConfigError> {
            match v {
                None => Ok(default),
                Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
                Some(v) => Err(invalid(
                    key,
                    self.file_source(),
                    format!("{v} is not a ratio between 0 and 1 (e.g. 0.95 for 95%)"),
                )),
            }
        };
        let healthy_success = ratio(
            "thresholds.healthy_success",
            th.healthy_success,
            d.healthy_success,
        )?;
        let down_success = ratio("thresholds.down_success", th.down_success, d.down_success)?;
        if down_success >= healthy_success {
            return Err(ConfigError::Conflict {
                message: format!(
                    "thresholds.down_success ({down_success}) must be below thresholds.healthy_success ({healthy_success}){}",
                    self.in_file()
                ),
            });
        }
        let down_consecutive_failures = match th.down_consecutive_failures {
            None => d.down_consecutive_failures,
            Some(0) => {
                return Err(invalid(
                    "thresholds.down_consecutive_failures",
                    self.file_source(),
                    "0 is too small (use 1 or more)".to_string(),
                ));
            }
            Some(n) => n,
        };
        let latency_degraded_p95_ms = match th.latency_degraded_p95_ms {
            None => None,
            Some(v) if v.is_finite() && v > 0.0 => Some(v),
            Some(v) => {
                return Err(invalid(
                    "thresholds.latency_degraded_p95_ms",
                    self.file_source(),
                    format!(
                        "{v} is not a positive number of milliseconds (omit the key to disable)"
                    ),
                ));
            }
        };
        Ok(Thresholds {
            healthy_success,
            down_success,
            down_consecutive_failures,
            latency_degraded_p95_ms,
        })
    }
}

fn validate_db_url(v: &str, src: Source) -> Result<String, ConfigError> {
    const HINT: &str = "expected postgres://user:password@host:5432/dbname";
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => Ok(v.to_string()),
        Ok(u) => Err(invalid(
            "database_url",
            src,
            format!(
                "\"{}\" has scheme \"{}\" ({HINT})",
                redact_url(v),
                u.scheme()
            ),
        )),
        Err(e) => Err(invalid(
            "database_url",
            src,
            format!("\"{}\" is not a valid URL: {e} ({HINT})", redact_url(v)),
        )),
    }
}

fn validate_ws_url(v: &str, src: Source) -> Result<String, ConfigError> {
    match url::Url::parse(v) {
        Ok(u)
            if matches!(u.scheme(), "ws" | "wss")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(v.to_string())
        }
        Ok(u) if matches!(u.scheme(), "ws" | "wss") => Err(invalid(
            "stream.url",
            src,
            format!("\"{}\" has no host", redact_url(v)),
        )),
        Ok(u) => Err(invalid(
            "stream.url",
            src,
            format!(
                "\"{}\" has scheme \"{}\" (use ws:// or wss://)",
                redact_url(v),
                u.scheme()
            ),
        )),
        Err(e) => Err(invalid(
            "stream.url",
            src,
            format!(
                "\"{}\" is not a valid URL: {e} (e.g. wss://hub.example.com:10000)",
                redact_url(v)
            ),
        )),
    }
}

fn validate_label(v: &str, max: usize, key: &str, src: Source) -> Result<String, ConfigError> {
    if v.chars().count() > max {
        Err(invalid(
            key,
            src,
            format!("\"{v}\" is longer than {max} characters"),
        ))
    } else if v.chars().any(char::is_control) {
        Err(invalid(
            key,
            src,
            "the value contains control characters".to_string(),
        ))
    } else {
        Ok(v.to_string())
    }
}

fn validate_timezone(v: &str, src: Source) -> Result<String, ConfigError> {
    let ok = v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+' | ':' | '.'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(invalid(
            "db_timezone",
            src,
            format!("\"{v}\" is not a time zone name (use e.g. Asia/Kolkata, UTC or +05:30)"),
        ))
    }
}

/// `~/x` → `$HOME/x`.
fn expand_tilde(p: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => dirs::home_dir().map_or_else(|| p.to_path_buf(), |h| h.join(rest)),
        Err(_) => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Config {
            database_url: Some("postgres://u:hunter2@h/d".into()),
            ws_token: Some("tok123".into()),
            ..Config::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2") && !s.contains("tok123"), "{s}");
    }

    #[test]
    fn error_display_is_one_line() {
        let e = ConfigError::Syntax {
            path: "/x.toml".into(),
            line: Some(2),
            message: "a\nb".into(),
        };
        assert_eq!(e.to_string(), "invalid TOML in /x.toml line 2: a; b");
    }

    #[test]
    fn type_error_names_key() {
        let e = load_from(
            &GlobalArgs::default(),
            Some((Path::new("/c.toml"), "window = 15\n")),
        )
        .unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("invalid value for \"window\" in /c.toml:"),
            "{s}"
        );
        let e = load_from(
            &GlobalArgs::default(),
            Some((
                Path::new("/c.toml"),
                "[thresholds]\ndown_consecutive_failures = -1\n",
            )),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"thresholds.down_consecutive_failures\""),
            "{e}"
        );
    }
}
