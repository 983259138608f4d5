//! The settings table as clap arguments ([`args_for`] one command), and the
//! values given read back into [`Flags`], the top layer of the configuration.
//!
//! `--config` and the settings for every command are global; the others are
//! added only to the commands that take them, so each subcommand's `--help`
//! lists its own options. A dashboard option given before a subcommand
//! (`jfmon --window 1h check`) counts for that subcommand when it takes the
//! option, and is an error otherwise.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches};

use super::SETTINGS;
use super::check;
use super::declare::{Commands, Kind, Mask, Setting};

/// The clap id of `--config`.
const CONFIG: &str = "config";

/// The arguments of one command: `None` is the root (the dashboard, and the
/// global arguments), `Some(name)` a subcommand.
pub fn args_for(command: Option<&str>) -> Vec<Arg> {
    let mut args = Vec::new();
    if command.is_none() {
        args.push(
            Arg::new(CONFIG)
                .long("config")
                .global(true)
                .env("JFMON_CONFIG")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Config file [default: $XDG_CONFIG_HOME/jfmon/config.toml]"),
        );
    }
    for s in SETTINGS {
        let global = s.commands == Commands::All;
        if (global && command.is_none()) || (!global && s.applies_to(command)) {
            args.push(arg(s).global(global));
        }
    }
    args
}

/// One setting as a clap argument. Values are kept as text; the settings
/// table's check turns them into the [`super::Config`] field.
fn arg(s: &Setting) -> Arg {
    let mut a = Arg::new(s.field)
        .long(s.flag)
        .value_name(s.value_name)
        .help(s.help_text())
        .action(ArgAction::Set);
    if let Some(env) = s.env {
        a = a.env(env);
    }
    if s.mask != Mask::Plain {
        a = a.hide_env_values(true);
    }
    if s.kind == Kind::Bool {
        a = a
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(|v: &str| check::boolean(v).map(|b| b.to_string()));
    }
    a
}

/// The settings given on the command line or in the environment, as text by
/// [`super::Config`] field, and the config file named. `Debug` shows which
/// were given, never their values.
#[derive(Clone, Default, PartialEq)]
pub struct Flags {
    /// `--config` / `JFMON_CONFIG`.
    pub config: Option<PathBuf>,
    values: BTreeMap<&'static str, String>,
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flags")
            .field("config", &self.config)
            .field("given", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Flags {
    /// The text given for a [`super::Config`] field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.values.get(field).map(String::as_str)
    }

    /// `self` with `field` given as `value` (as if by its flag).
    pub fn with(mut self, field: &str, value: impl Into<String>) -> Self {
        let s = Setting::named(field).expect("a row of the settings table");
        self.values.insert(s.field, value.into());
        self
    }

    /// Read the values given from the matches of a command line built with
    /// [`args_for`]. The subcommand's own flag beats one given before it,
    /// which beats the environment. `NO_COLOR` (any non-empty value) turns
    /// colour off unless `--no-color=false` says otherwise.
    pub fn from_matches(root: &ArgMatches) -> Result<Flags, clap::Error> {
        let sub = root.subcommand();
        let mut values = BTreeMap::new();
        for s in SETTINGS {
            let at_root = given(root, s.field);
            let at_sub = sub.and_then(|(_, m)| given(m, s.field));
            let value = match (at_sub, at_root) {
                (Some((v, true)), _) => Some(v),
                (_, Some((v, true))) => {
                    if let Some((name, _)) = sub
                        && !s.applies_to(Some(name))
                    {
                        return Err(clap::Error::raw(
                            ErrorKind::ArgumentConflict,
                            format!("--{} does not apply to `jfmon {name}`\n", s.flag),
                        ));
                    }
                    Some(v)
                }
                (Some((v, false)), _) => Some(v),
                (None, Some((v, false))) if sub.is_none() => Some(v),
                _ => None,
            };
            if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
                values.insert(s.field, v.trim().to_string());
            }
        }
        let command = sub.map(|(name, _)| name);
        if !values.contains_key("no_color")
            && Setting::named("no_color").is_some_and(|s| s.applies_to(command))
            && std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        {
            values.insert("no_color", "true".to_string());
        }
        let matches = sub.map_or(root, |(_, m)| m);
        let config = matches
            .try_get_one::<PathBuf>(CONFIG)
            .ok()
            .flatten()
            .cloned();
        Ok(Flags { config, values })
    }
}

/// The text given for `id` in `m`, and whether it came from the command line
/// (rather than the environment).
fn given(m: &ArgMatches, id: &str) -> Option<(String, bool)> {
    let v = m.try_get_one::<String>(id).ok().flatten()?;
    Some((
        v.clone(),
        m.value_source(id) == Some(ValueSource::CommandLine),
    ))
}
