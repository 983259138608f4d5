//! The alert rules of the configuration: the shipped defaults, under the
//! config file's `[[rules]]` tables, under the `--rules FILE` tables (a rule
//! with a default's name changes only the keys it sets). Checked here, so a
//! broken rule stops start-up with one line pointing at `jfmon rules check`.

use std::path::Path;

use toml::{Table, Value};

use super::error::ConfigError;
use super::file::FileLayer;
use crate::rules::{RuleError, RuleSet};

/// The file key holding the rule tables.
pub const KEY: &str = "rules";

/// The `[[rules]]` tables of a TOML document, and its `defaults` switch.
pub fn tables_of(doc: &Table, origin: &str) -> Result<(Option<bool>, Vec<Table>), Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut tables = Vec::new();
    if let Some(v) = doc.get(KEY) {
        match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_table() {
                        Some(t) => tables.push(t.clone()),
                        None => errors.push(RuleError {
                            rule: format!("{origin} rules[{i}]"),
                            key: None,
                            message: "must be a table ([[rules]])".into(),
                        }),
                    }
                }
            }
            None => errors.push(RuleError {
                rule: origin.to_string(),
                key: Some(KEY.into()),
                message: "must be a list of [[rules]] tables".into(),
            }),
        }
    }
    let defaults = match doc.get("defaults") {
        None => None,
        Some(Value::Boolean(b)) => Some(*b),
        Some(_) => {
            errors.push(RuleError {
                rule: origin.to_string(),
                key: Some("defaults".into()),
                message: "must be true or false".into(),
            });
            None
        }
    };
    if errors.is_empty() {
        Ok((defaults, tables))
    } else {
        Err(errors)
    }
}

/// Every source's tables in order, and whether the defaults apply.
pub fn gather(
    file: Option<&Table>,
    rules_file: Option<(&Path, &str)>,
) -> Result<(bool, Vec<Table>), Vec<RuleError>> {
    let mut tables = Vec::new();
    let mut defaults = true;
    if let Some(doc) = file {
        // The config file has no `defaults` key; its rules only add.
        let (_, mut t) = tables_of(doc, "config file")?;
        tables.append(&mut t);
    }
    if let Some((path, text)) = rules_file {
        let doc: Table = toml::from_str(text).map_err(|e| {
            vec![RuleError {
                rule: path.display().to_string(),
                key: None,
                message: e.message().trim().to_string(),
            }]
        })?;
        let (d, mut t) = tables_of(&doc, &path.display().to_string())?;
        if let Some(d) = d {
            defaults = d;
        }
        tables.append(&mut t);
    }
    Ok((defaults, tables))
}

/// The configured rule set.
pub(crate) fn from_sources(
    file: Option<&FileLayer>,
    rules_file: Option<&Path>,
) -> Result<RuleSet, ConfigError> {
    let text = match rules_file {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|e| ConfigError::Conflict {
                message: format!("cannot read the rules file {}: {e}", p.display()),
            })?,
        ),
        None => None,
    };
    let mut doc = Table::new();
    if let Some(v) = file.and_then(|f| f.get(KEY)) {
        doc.insert(KEY.into(), v.clone());
    }
    let result = gather(file.map(|_| &doc), rules_file.zip(text.as_deref()))
        .and_then(|(d, t)| RuleSet::from_tables(d, &t));
    result.map_err(|errors| {
        let more = match errors.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        ConfigError::Conflict {
            message: format!(
                "alert rule problem: {}{more} — `jfmon rules check` lists every one",
                errors[0]
            ),
        }
    })
}
