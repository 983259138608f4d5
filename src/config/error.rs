//! [`ConfigError`]: why the configuration could not be built, as one line
//! naming the key and where the value came from ([`Origin`]), never holding a
//! password.

use std::fmt;
use std::path::PathBuf;

/// Where a rejected value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The config file at this path.
    File(PathBuf),
    /// A command-line flag (without `--`) or its environment variable.
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
        origin: Origin,
        message: String,
    },
    /// Values that are each valid but contradict each other.
    Conflict { message: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: &str, origin: Origin, message: String) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            origin,
            message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line_suffix =
            |line: &Option<usize>| line.map(|l| format!(" line {l}")).unwrap_or_default();
        match self {
            ConfigError::Read { path, message } => write!(
                f,
                "cannot read config file {}: {}",
                path.display(),
                join_lines(message)
            ),
            ConfigError::Syntax {
                path,
                line,
                message,
            } => write!(
                f,
                "invalid TOML in {}{}: {}",
                path.display(),
                line_suffix(line),
                join_lines(message)
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
                origin: Origin::File(path),
                message,
            } => write!(
                f,
                "invalid value for \"{key}\" in {}: {}",
                path.display(),
                join_lines(message)
            ),
            ConfigError::Invalid {
                origin: Origin::Flag { flag, env },
                message,
                ..
            } => {
                write!(f, "invalid value for --{flag}")?;
                if let Some(env) = env {
                    write!(f, " (or ${env})")?;
                }
                write!(f, ": {}", join_lines(message))
            }
            ConfigError::Conflict { message } => f.write_str(&join_lines(message)),
        }
    }
}

impl std::error::Error for ConfigError {}

/// `s` on one line: line breaks become `; `.
fn join_lines(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line() {
        let e = ConfigError::Syntax {
            path: "/x.toml".into(),
            line: Some(2),
            message: "a\nb".into(),
        };
        assert_eq!(e.to_string(), "invalid TOML in /x.toml line 2: a; b");
    }
}
