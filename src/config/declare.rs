//! The shape of one row of the settings table ([`Setting`]) and the
//! `settings!` macro that turns the table into [`super::Config`], its
//! `Default`, its secret-masking `Debug`, the [`super::SETTINGS`] list (from
//! which the clap arguments and the file keys are derived) and the layering of
//! every field.

use std::any::Any;
use std::fmt;

use crate::redact::redact_url;

/// How a setting's value is written, on the command line and in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (a TOML string).
    Text,
    /// A duration such as `15m` (a TOML string).
    Duration,
    /// `true`/`false` (a TOML boolean); the flag may stand alone (`--ascii`).
    Bool,
    /// A file path (a TOML string); `~/` is expanded.
    Path,
    /// A whole number (a TOML integer).
    Count,
}

/// How a setting's value is hidden in `Debug` output and `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Shown as is.
    Plain,
    /// A URL whose password is hidden.
    Url,
    /// Never shown.
    Secret,
}

/// Which commands a setting applies to (and whose `--help` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commands {
    /// Every command: a global flag.
    All,
    /// These subcommands; [`super::DASHBOARD`] stands for no subcommand.
    Only(&'static [&'static str]),
}

/// One setting: everything about it except its type, default and check, which
/// the `settings!` row gives beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The [`super::Config`] field, also the clap argument id.
    pub field: &'static str,
    /// The long flag, without `--`.
    pub flag: &'static str,
    /// The environment variable, if any.
    pub env: Option<&'static str>,
    /// The TOML key, dotted for a key inside a table (`stream.url`).
    pub key: &'static str,
    /// The placeholder in `--help` (`DUR`, `URL`).
    pub value_name: &'static str,
    pub kind: Kind,
    pub commands: Commands,
    pub mask: Mask,
    /// The row's doc comment, the `--help` text.
    pub help: &'static str,
}

impl Setting {
    /// A text setting for every command; refine with the other builders.
    pub const fn new(flag: &'static str, key: &'static str) -> Self {
        Setting {
            field: "",
            flag,
            env: None,
            key,
            value_name: "VALUE",
            kind: Kind::Text,
            commands: Commands::All,
            mask: Mask::Plain,
            help: "",
        }
    }

    pub const fn env(mut self, env: &'static str) -> Self {
        self.env = Some(env);
        self
    }

    pub const fn value(mut self, value_name: &'static str) -> Self {
        self.value_name = value_name;
        self
    }

    pub const fn kind(mut self, kind: Kind) -> Self {
        if matches!(kind, Kind::Bool) {
            self.value_name = "BOOL";
        }
        self.kind = kind;
        self
    }

    pub const fn only(mut self, commands: &'static [&'static str]) -> Self {
        self.commands = Commands::Only(commands);
        self
    }

    pub const fn mask(mut self, mask: Mask) -> Self {
        self.mask = mask;
        self
    }

    /// The row for a [`super::Config`] field.
    pub fn named(field: &str) -> Option<&'static Setting> {
        super::SETTINGS.iter().find(|s| s.field == field)
    }

    /// Whether `command` (a subcommand name, or `None` for the dashboard)
    /// takes this setting.
    pub fn applies_to(&self, command: Option<&str>) -> bool {
        let name = command.unwrap_or(super::DASHBOARD);
        match self.commands {
            Commands::All => true,
            Commands::Only(list) => list.contains(&name),
        }
    }

    /// The help text, trimmed.
    pub fn help_text(&self) -> &'static str {
        self.help.trim()
    }
}

/// One `Debug` field of [`super::Config`], masked as its row says.
pub(crate) fn debug_field<T: fmt::Debug + 'static>(
    d: &mut fmt::DebugStruct<'_, '_>,
    field: &'static str,
    value: &T,
) {
    let mask = Setting::named(field).map_or(Mask::Plain, |s| s.mask);
    let text = (value as &dyn Any).downcast_ref::<Option<String>>();
    match (mask, text) {
        (Mask::Url, Some(Some(url))) => d.field(field, &Some(redact_url(url))),
        (Mask::Secret, Some(Some(_))) => d.field(field, &Some("***")),
        _ => d.field(field, value),
    };
}

/// Declares the settings: each row is a doc comment (the help text), then
/// `field: Type = default;`, then the [`Setting`] (flag, env, key, commands)
/// and the check turning the text given into the field's value.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident : $ty:ty = $default:expr ;
        $spec:expr , $check:expr ;
    )+) => {
        /// The validated, merged configuration: one field per row of the
        /// settings table, plus the file-only thresholds. Its `Debug` output
        /// hides the database password and the stream token.
        #[derive(Clone, PartialEq)]
        pub struct Config {
            $( $(#[doc = $doc])+ pub $field: $ty, )+
            /// Health-classification thresholds (`[thresholds]`, file only).
            pub thresholds: $crate::store::Thresholds,
            /// Notification receivers (`[[notify]]`, file only).
            pub notify: Vec<$crate::notify::Receiver>,
            /// Alert rules (defaults, `[[rules]]`, `--rules FILE`).
            pub rules: $crate::rules::RuleSet,
            /// The config file actually read, if any.
            pub config_path: Option<std::path::PathBuf>,
        }

        impl Default for Config {
            fn default() -> Self {
                Self {
                    $( $field: $default, )+
                    thresholds: Default::default(),
                    notify: Vec::new(),
                    rules: $crate::rules::RuleSet::defaults(),
                    config_path: None,
                }
            }
        }

        /// Every setting that has a flag, in the order of the table.
        pub const SETTINGS: &[$crate::config::Setting] = &[
            $( $crate::config::Setting {
                field: stringify!($field),
                help: concat!($($doc),+),
                ..$spec
            }, )+
        ];

        impl Config {
            /// Each field from the highest layer that has it, checked; the
            /// thresholds and `config_path` are left for the caller.
            pub(crate) fn from_layers(
                layers: &$crate::config::load::Layers<'_>,
            ) -> Result<Self, $crate::config::ConfigError> {
                Ok(Self {
                    $( $field: layers.resolve(stringify!($field), || $default, $check)?, )+
                    thresholds: Default::default(),
                    notify: Vec::new(),
                    rules: $crate::rules::RuleSet::defaults(),
                    config_path: None,
                })
            }
        }

        impl std::fmt::Debug for Config {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct("Config");
                $( $crate::config::declare::debug_field(&mut d, stringify!($field), &self.$field); )+
                d.field("thresholds", &self.thresholds)
                    .field("notify", &self.notify)
                    .field("rules", &self.rules.len())
                    .field("config_path", &self.config_path)
                    .finish()
            }
        }
    };
}
