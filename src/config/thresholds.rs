//! `[thresholds]`: the file-only health-classification settings, checked into
//! the store's [`Thresholds`].

use toml::Value;

use super::error::ConfigError;
use super::file::FileLayer;
use crate::store::Thresholds;

/// The keys of `[thresholds]`.
pub const KEYS: &[&str] = &[
    "thresholds.healthy_success",
    "thresholds.down_success",
    "thresholds.down_consecutive_failures",
    "thresholds.latency_degraded_p95_ms",
];

/// The thresholds from the file, defaults for what it leaves out.
pub(crate) fn from_file(file: Option<&FileLayer>) -> Result<Thresholds, ConfigError> {
    let d = Thresholds::default();
    let Some(file) = file else {
        return Ok(d);
    };
    let bad = |key: &str, message: String| ConfigError::invalid(key, file.origin(), message);
    let number = |key: &str| -> Result<Option<f64>, ConfigError> {
        match file.get(key) {
            None => Ok(None),
            Some(Value::Float(f)) => Ok(Some(*f)),
            Some(Value::Integer(i)) => Ok(Some(*i as f64)),
            Some(v) => Err(bad(
                key,
                format!("invalid type: {} `{v}`, expected a number", v.type_str()),
            )),
        }
    };
    let ratio = |key: &str, default: f64| -> Result<f64, ConfigError> {
        match number(key)? {
            None => Ok(default),
            Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
            Some(v) => Err(bad(
                key,
                format!("{v} is not a ratio between 0 and 1 (e.g. 0.95 for 95%)"),
            )),
        }
    };
    let healthy_success = ratio(KEYS[0], d.healthy_success)?;
    let down_success = ratio(KEYS[1], d.down_success)?;
    if down_success >= healthy_success {
        return Err(ConfigError::Conflict {
            message: format!(
                "thresholds.down_success ({down_success}) must be below thresholds.healthy_success ({healthy_success}) (config file {})",
                file.path.display()
            ),
        });
    }
    let down_consecutive_failures = match file.get(KEYS[2]) {
        None => d.down_consecutive_failures,
        Some(Value::Integer(n)) if *n >= 1 && *n <= i64::from(u32::MAX) => *n as u32,
        Some(Value::Integer(n)) if *n < 1 => {
            return Err(bad(KEYS[2], format!("{n} is too small (use 1 or more)")));
        }
        Some(Value::Integer(n)) => {
            return Err(bad(KEYS[2], format!("{n} is too large")));
        }
        Some(v) => {
            return Err(bad(
                KEYS[2],
                format!("invalid type: {} `{v}`, expected an integer", v.type_str()),
            ));
        }
    };
    let latency_degraded_p95_ms = match number(KEYS[3])? {
        None => None,
        Some(v) if v.is_finite() && v > 0.0 => Some(v),
        Some(v) => {
            return Err(bad(
                KEYS[3],
                format!("{v} is not a positive number of milliseconds (omit the key to disable)"),
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
