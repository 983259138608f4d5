//! The settings table, the clap definition and `assets/jfmon.example.toml`
//! agree: every environment variable clap reads belongs to a setting, every
//! config key is documented in the example (under its table, naming its flag
//! and variable), and the example documents no key jfmon does not know.

use std::collections::BTreeSet;

use jfmon::config::{SETTINGS, file::known_keys};

const EXAMPLE: &str = include_str!("../assets/jfmon.example.toml");

/// Every argument of the command line, in every subcommand.
fn all_args() -> Vec<clap::Arg> {
    let root = jfmon::cli::command();
    let mut args: Vec<clap::Arg> = root.get_arguments().cloned().collect();
    for sub in root.get_subcommands() {
        args.extend(sub.get_arguments().cloned());
    }
    args
}

#[test]
fn clap_env_names_are_the_settings_env_names() {
    let clap_envs: BTreeSet<String> = all_args()
        .iter()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    let mut table_envs: BTreeSet<String> = SETTINGS
        .iter()
        .filter_map(|s| s.env.map(str::to_string))
        .collect();
    table_envs.insert("JFMON_CONFIG".into());
    assert_eq!(clap_envs, table_envs);
    // Each setting's flag reads its own variable, wherever it appears.
    for a in all_args() {
        if let Some(s) = SETTINGS.iter().find(|s| s.field == a.get_id().as_str()) {
            assert_eq!(a.get_long(), Some(s.flag));
            assert_eq!(
                a.get_env().map(|e| e.to_string_lossy().into_owned()),
                s.env.map(str::to_string),
                "--{}",
                s.flag
            );
        }
    }
}

/// `(table, key, comment block above it)` for every `# key = value` line.
fn documented() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut comment = String::new();
    for line in EXAMPLE.lines() {
        let l = line.trim();
        if l.is_empty() {
            comment.clear();
        } else if let Some(h) = l.strip_prefix("# [[") {
            // An array of tables, commented out (an empty entry is invalid).
            table = h.trim_end_matches(']').trim().to_string();
            comment.clear();
        } else if let Some(h) = l.strip_prefix('[') {
            table = h.trim_end_matches(']').trim().to_string();
            comment.clear();
        } else if let Some(rest) = l.strip_prefix("# ") {
            match rest.split_once(" = ") {
                Some((key, _)) if !key.contains(' ') => {
                    out.push((table.clone(), key.to_string(), comment.clone()));
                }
                _ => {
                    comment.push_str(rest);
                    comment.push('\n');
                }
            }
        }
    }
    out
}

#[test]
fn example_file_documents_every_key_and_only_those() {
    let doc: BTreeSet<String> = documented()
        .into_iter()
        .map(|(t, k, _)| if t.is_empty() { k } else { format!("{t}.{k}") })
        .collect();
    let known: BTreeSet<String> = known_keys()
        .map(str::to_string)
        .chain(
            jfmon::config::notify::KEYS
                .iter()
                .map(|k| format!("notify.{k}")),
        )
        .collect();
    assert_eq!(doc, known, "keys in the example vs keys jfmon reads");
}

#[test]
fn example_file_names_each_flag_and_variable() {
    let doc = documented();
    for s in SETTINGS {
        let (table, key) = s.key.rsplit_once('.').unwrap_or(("", s.key));
        let (_, _, comment) = doc
            .iter()
            .find(|(t, k, _)| t == table && k == key)
            .unwrap_or_else(|| panic!("{} is not in the example", s.key));
        assert!(
            comment.contains(&format!("--{}", s.flag)),
            "the example's comment on {} should name --{}: {comment}",
            s.key,
            s.flag
        );
        if let Some(env) = s.env {
            assert!(
                comment.contains(&format!("${env}")) || comment.contains(&format!("env {env}")),
                "the example's comment on {} should name ${env}: {comment}",
                s.key
            );
        }
    }
}
