//! Layering: each setting from the highest layer that has it (flags and
//! environment, then the file, then the default), checked; then the
//! cross-setting rules.

use std::path::Path;

use super::args::Flags;
use super::declare::Setting;
use super::error::{ConfigError, Origin};
use super::file::{self, FileLayer};
use super::settings::Config;
use super::{rules, thresholds};
use crate::duration::format_duration;

/// Build the configuration: reads the file named by `--config` /
/// `JFMON_CONFIG` (an error if it does not exist), else the default file if it
/// exists, then layers the [`Flags`] over it.
pub fn load(flags: &Flags) -> Result<Config, ConfigError> {
    let file = file::read(flags.config.as_deref())?;
    load_from(flags, file.as_ref().map(|(p, t)| (p.as_path(), t.as_str())))
}

/// Like [`load`], with the file's path and text supplied (or no file): no
/// file-system access, for tests.
pub fn load_from(flags: &Flags, file_text: Option<(&Path, &str)>) -> Result<Config, ConfigError> {
    let file = file_text
        .map(|(path, text)| FileLayer::parse(path, text))
        .transpose()?;
    let layers = Layers {
        flags,
        file: file.as_ref(),
    };
    let mut cfg = Config::from_layers(&layers)?;
    if cfg.interval >= cfg.window {
        return Err(ConfigError::Conflict {
            message: format!(
                "the poll interval ({}) must be shorter than the window ({}){}",
                format_duration(cfg.interval),
                format_duration(cfg.window),
                file.as_ref()
                    .map(|f| format!(" (config file {})", f.path.display()))
                    .unwrap_or_default()
            ),
        });
    }
    // A token given directly (flag, environment, file key) wins over the file.
    if let (None, Some(p)) = (&cfg.ws_token, &cfg.ws_token_file) {
        cfg.ws_token = Some(read_token_file(p)?);
    }
    cfg.thresholds = thresholds::from_file(file.as_ref())?;
    cfg.notify = super::notify::from_file(file.as_ref())?;
    cfg.rules = rules::from_sources(file.as_ref(), cfg.rules_file.as_deref())?;
    cfg.config_path = file.map(|f| f.path);
    Ok(cfg)
}

/// `--ws-token-file`: the token on the file's first line.
fn read_token_file(p: &Path) -> Result<String, ConfigError> {
    let fail = |why: String| ConfigError::Conflict {
        message: format!("cannot use the stream token file {}: {why}", p.display()),
    };
    let text = std::fs::read_to_string(p).map_err(|e| fail(e.to_string()))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(fail("no token on its first line".into()));
    }
    super::check::token(token).map_err(fail)
}

/// The layers below the defaults.
pub(crate) struct Layers<'a> {
    flags: &'a Flags,
    file: Option<&'a FileLayer>,
}

impl Layers<'_> {
    /// The setting `field` from the highest layer that gives it, passed
    /// through `check`; `default()` when none does.
    pub(crate) fn resolve<T>(
        &self,
        field: &str,
        default: impl FnOnce() -> T,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let s = Setting::named(field).expect("a row of the settings table");
        let given = match self.flags.get(field) {
            Some(v) => Some((
                v.to_string(),
                Origin::Flag {
                    flag: s.flag,
                    env: s.env,
                },
            )),
            None => match self.file {
                Some(f) => f.text(s)?.map(|v| (v, f.origin())),
                None => None,
            },
        };
        match given {
            None => Ok(default()),
            Some((text, origin)) => {
                check(&text).map_err(|m| ConfigError::invalid(s.key, origin, m))
            }
        }
    }
}
