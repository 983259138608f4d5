//! jfmon's settings: one validated [`Config`] built from four layers, highest
//! first: command-line flags, environment variables (both arrive through clap
//! as [`Flags`]), the TOML file (`--config` / `JFMON_CONFIG`, else
//! `$XDG_CONFIG_HOME/jfmon/config.toml` when it exists) and built-in defaults.
//!
//! Each setting is declared once, in [`settings`]: its field, type, default,
//! flag, environment variable, TOML key, the commands it applies to, its help
//! and its check. Everything else (the clap arguments, the file keys, the
//! layering, `Debug` masking) is derived from that row. Adding a setting
//! touches that table and `assets/jfmon.example.toml` (a test keeps the two in
//! step).
//!
//! - [`settings`]: the table, [`Config`] and its defaults
//! - [`declare`]: how a row of the table expands
//! - [`args`]: the table as clap arguments, and [`Flags`] read back from them
//! - [`file`]: locating, reading and checking the TOML file
//! - [`thresholds`]: `[thresholds]` (file only) into [`Thresholds`]
//! - [`notify`]: `[[notify]]` (file only) into notification receivers
//! - [`rules`]: `[[rules]]` and `--rules FILE` over the default alert rules
//! - [`check`]: one value's validation (ranges, URLs, labels)
//! - [`load`]: the layering itself
//! - [`error`]: [`ConfigError`], one line that never holds a password
//!
//! This module does not import [`crate::cli`]: the command line is assembled
//! there from [`args`].

pub mod args;
pub mod check;
#[macro_use]
mod declare;
pub mod error;
pub mod file;
mod load;
pub mod notify;
pub mod rules;
pub mod settings;
pub mod thresholds;

pub use self::args::Flags;
pub use self::declare::{Commands, Kind, Mask, Setting};
pub use self::error::{ConfigError, Origin};
pub use self::file::default_config_path;
pub use self::load::{load, load_from};
pub use self::settings::{
    Config, DASHBOARD, DEFAULT_ENVIRONMENT, DEFAULT_IDLE_TIMEOUT, DEFAULT_INTERVAL,
    DEFAULT_STATEMENT_TIMEOUT, DEFAULT_WINDOW, SETTINGS,
};
pub use crate::store::Thresholds;

#[cfg(test)]
mod tests;
