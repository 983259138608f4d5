//! The TOML file: where it is ([`default_config_path`], `--config`), reading
//! it, rejecting unknown keys with their line, and handing each setting its
//! value as text after checking the TOML type.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::declare::{Kind, Mask, Setting};
use super::error::{ConfigError, Origin};
use super::{SETTINGS, check, rules, thresholds};
use crate::redact::redact_url;

/// The default config file: `$XDG_CONFIG_HOME/jfmon/config.toml` (via
/// [`dirs::config_dir`]).
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("jfmon").join("config.toml"))
}

/// The file to read and its text: the one given by `--config` /
/// `JFMON_CONFIG` (an error if missing), else the default one if it exists.
pub fn read(explicit: Option<&Path>) -> Result<Option<(PathBuf, String)>, ConfigError> {
    let explicit = explicit.filter(|p| !p.as_os_str().is_empty());
    let (path, explicit) = match explicit {
        Some(p) => (check::expand_tilde(p), true),
        None => match default_config_path() {
            Some(p) => (p, false),
            None => return Ok(None),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((path, text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::Read {
            path,
            message: "no such file (given by --config / $JFMON_CONFIG)".to_string(),
        }),
        Err(e) => Err(ConfigError::Read {
            path,
            message: e.to_string(),
        }),
    }
}

/// Arrays of tables checked by their own modules (`[[notify]]`: [`super::notify`]).
pub const ARRAYS: &[&str] = &["notify"];

/// Every key the file may hold, dotted.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .chain(thresholds::KEYS.iter().copied())
        .chain(std::iter::once(rules::KEY))
}

/// A parsed config file whose keys are all known.
#[derive(Debug)]
pub struct FileLayer {
    pub path: PathBuf,
    table: Table,
}

impl FileLayer {
    /// Parse `text` (read from `path`) and reject unknown keys.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let table: Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        check_keys(path, text, &table, "")?;
        Ok(FileLayer {
            path: path.to_path_buf(),
            table,
        })
    }

    /// The value at a dotted key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let mut parts = key.split('.');
        let mut v = self.table.get(parts.next()?)?;
        for p in parts {
            v = v.as_table()?.get(p)?;
        }
        Some(v)
    }

    /// The origin to name in errors about a value from this file.
    pub fn origin(&self) -> Origin {
        Origin::File(self.path.clone())
    }

    /// The setting's value as text (booleans as `true`/`false`), `None` when
    /// absent or blank; a value of the wrong TOML type is an error naming the
    /// key.
    pub fn text(&self, s: &Setting) -> Result<Option<String>, ConfigError> {
        let Some(v) = self.get(s.key) else {
            return Ok(None);
        };
        let text = match (s.kind, v) {
            (Kind::Bool, Value::Boolean(b)) => b.to_string(),
            (Kind::Count, Value::Integer(i)) => i.to_string(),
            (Kind::Text | Kind::Duration | Kind::Path, Value::String(t)) => t.trim().to_string(),
            _ => {
                let expected = match s.kind {
                    Kind::Bool => "a boolean (true or false)",
                    Kind::Count => "an integer",
                    _ => "a string",
                };
                let shown = match s.mask {
                    Mask::Plain => format!(" `{v}`"),
                    Mask::Url | Mask::Secret => String::new(),
                };
                let mut message =
                    format!("invalid type: {}{shown}, expected {expected}", v.type_str());
                if s.kind == Kind::Duration {
                    let key = s.key;
                    message.push_str(&format!(" (durations are quoted, e.g. {key} = \"15m\")"));
                }
                if s.mask == Mask::Url {
                    message = redact_url(&message);
                }
                return Err(ConfigError::invalid(s.key, self.origin(), message));
            }
        };
        Ok(Some(text).filter(|t| !t.is_empty()))
    }
}

/// Reject keys under `prefix` that no setting has; tables that hold known
/// keys are walked.
fn check_keys(path: &Path, text: &str, table: &Table, prefix: &str) -> Result<(), ConfigError> {
    for (k, v) in table {
        let full = format!("{prefix}{k}");
        if known_keys().any(|key| key == full)
            || (prefix.is_empty() && ARRAYS.contains(&k.as_str()))
        {
            continue;
        }
        let inner = format!("{full}.");
        if known_keys().any(|key| key.starts_with(&inner)) {
            match v.as_table() {
                Some(t) => {
                    check_keys(path, text, t, &inner)?;
                    continue;
                }
                None => {
                    return Err(ConfigError::invalid(
                        &full,
                        Origin::File(path.to_path_buf()),
                        format!("invalid type: {}, expected a table [{full}]", v.type_str()),
                    ));
                }
            }
        }
        let mut expected: Vec<&str> = known_keys()
            .filter_map(|key| key.strip_prefix(prefix))
            .map(|rest| rest.split('.').next().unwrap_or(rest))
            .collect();
        expected.dedup();
        return Err(ConfigError::UnknownKey {
            path: path.to_path_buf(),
            line: line_of_key(text, prefix.trim_end_matches('.'), k),
            key: full,
            expected: expected.join(", "),
        });
    }
    Ok(())
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `key` is set (or opened as a table) inside `[table]` (`""`
/// for the top level).
fn line_of_key(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(header) = l.strip_prefix('[') {
            let name = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("");
            let name = name.trim();
            let joined = if table.is_empty() {
                key.to_string()
            } else {
                format!("{table}.{key}")
            };
            if name == joined || name.starts_with(&format!("{joined}.")) {
                return Some(i + 1);
            }
            current = name.to_string();
            continue;
        }
        if current != table {
            continue;
        }
        let rest = l
            .strip_prefix(key)
            .or_else(|| l.strip_prefix(&format!("\"{key}\"")));
        if rest.is_some_and(|r| {
            let r = r.trim_start();
            r.starts_with('=') || r.starts_with('.')
        }) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_have_their_line() {
        let text = "window = \"1h\"\n\n[stream]\nurl = \"ws://h\"\ntokn = \"x\"\n";
        let e = FileLayer::parse(Path::new("/c.toml"), text).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "unknown key \"stream.tokn\" in /c.toml line 5 (known keys here: url, token"
            ),
            "{e}"
        );
        let e = FileLayer::parse(Path::new("/c.toml"), "thresholds = 3\n").unwrap_err();
        assert!(e.to_string().contains("expected a table"), "{e}");
    }
}
