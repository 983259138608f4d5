//! Checks of one setting's value, given as text (a flag, a variable or a file
//! string): each returns the typed value or a one-line reason that never
//! repeats a password. Used by the settings table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::duration::{format_duration, parse_duration};
use crate::redact::redact_url;

/// A check whose value is optional: `Some` of what `f` accepts.
pub fn some<T>(
    f: impl Fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<Option<T>, String> {
    move |v| f(v).map(Some)
}

/// A duration within `min..=max`.
pub fn duration(min: Duration, max: Duration) -> impl Fn(&str) -> Result<Duration, String> {
    move |v| {
        let d = parse_duration(v)?;
        if (min..=max).contains(&d) {
            Ok(d)
        } else {
            Err(format!(
                "{} is out of range (use {} to {})",
                format_duration(d),
                format_duration(min),
                format_duration(max)
            ))
        }
    }
}

/// A whole number within `min..=max`.
pub fn count(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> {
    move |v| match v.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("\"{v}\" is not a whole number from {min} to {max}")),
    }
}

/// Boolean values: true/false, yes/no, on/off, 1/0 (case-insensitive).
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" | "t" => Ok(true),
        "false" | "no" | "off" | "0" | "n" | "f" => Ok(false),
        other => Err(format!("\"{other}\" is not a boolean (use true or false)")),
    }
}

/// A path; `~/` is the home directory.
pub fn path(v: &str) -> Result<PathBuf, String> {
    Ok(expand_tilde(Path::new(v)))
}

/// `~/x` → `$HOME/x`.
pub fn expand_tilde(p: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => dirs::home_dir().map_or_else(|| p.to_path_buf(), |h| h.join(rest)),
        Err(_) => p.to_path_buf(),
    }
}

/// A short label without control characters.
pub fn label(max: usize) -> impl Fn(&str) -> Result<String, String> {
    move |v| {
        if v.chars().count() > max {
            Err(format!("\"{v}\" is longer than {max} characters"))
        } else if v.chars().any(char::is_control) {
            Err("the value contains control characters".to_string())
        } else {
            Ok(v.to_string())
        }
    }
}

/// A `postgres://` or `postgresql://` URL.
pub fn database_url(v: &str) -> Result<String, String> {
    const HINT: &str = "expected postgres://user:password@host:5432/dbname";
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "postgres" | "postgresql") => Ok(v.to_string()),
        Ok(u) => Err(format!(
            "\"{}\" has scheme \"{}\" ({HINT})",
            redact_url(v),
            u.scheme()
        )),
        // Not URL-shaped: the value may be anything (a password pasted in the
        // wrong place), so it is never repeated.
        Err(e) => Err(format!("the value is not a URL ({e}; {HINT})")),
    }
}

/// A `ws://` or `wss://` URL with a host.
pub fn ws_url(v: &str) -> Result<String, String> {
    match url::Url::parse(v) {
        Ok(u)
            if matches!(u.scheme(), "ws" | "wss")
                && u.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(v.to_string())
        }
        Ok(u) if matches!(u.scheme(), "ws" | "wss") => {
            Err(format!("\"{}\" has no host", redact_url(v)))
        }
        Ok(u) => Err(format!(
            "\"{}\" has scheme \"{}\" (use ws:// or wss://)",
            redact_url(v),
            u.scheme()
        )),
        Err(e) => Err(format!(
            "the value is not a URL ({e}; e.g. wss://hub.example.com:10000)"
        )),
    }
}

/// A token: no spaces or control characters.
pub fn token(v: &str) -> Result<String, String> {
    if v.chars().any(char::is_control) || v.contains(' ') {
        Err("the token contains spaces or control characters".to_string())
    } else {
        Ok(v.to_string())
    }
}

/// A time zone name as PostgreSQL writes them (checked further on connect).
pub fn timezone(v: &str) -> Result<String, String> {
    let ok = v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+' | ':' | '.'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "\"{v}\" is not a time zone name (use e.g. Asia/Kolkata, UTC or +05:30)"
        ))
    }
}
