//! Each subcommand's `--help` lists the options it uses and no others
//! (issue 7 §5); a dashboard option given before a subcommand that does not
//! take it is a usage error rather than silently ignored.

use std::process::{Command, Output};

use jfmon::config::SETTINGS;

fn jfmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .output()
        .expect("run jfmon")
}

/// The long options `jfmon <sub> --help` lists.
fn help_flags(sub: &[&str]) -> Vec<String> {
    let mut args = sub.to_vec();
    args.push("--help");
    let out = jfmon(&args);
    assert!(out.status.success(), "{sub:?} --help");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| {
            w.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn simulate_and_check_help_show_only_their_options() {
    let simulate = help_flags(&["simulate"]);
    for absent in [
        "no-color",
        "ascii",
        "ws",
        "local-time",
        "idle-timeout",
        "window",
    ] {
        assert!(
            !simulate.iter().any(|f| f == absent),
            "simulate --help lists --{absent}: {simulate:?}"
        );
    }
    for present in [
        "rate",
        "duration",
        "database-url",
        "config",
        "statement-timeout",
        "read-only",
    ] {
        assert!(
            simulate.iter().any(|f| f == present),
            "simulate --help lacks --{present}: {simulate:?}"
        );
    }
    let check = help_flags(&["check"]);
    assert!(!check.iter().any(|f| f == "ascii"), "{check:?}");
    assert!(check.iter().any(|f| f == "window"), "{check:?}");
}

#[test]
fn every_help_lists_exactly_the_settings_its_command_takes() {
    let cmd = jfmon::cli::command();
    let mut commands: Vec<Option<String>> = vec![None];
    commands.extend(
        cmd.get_subcommands()
            .map(|c| Some(c.get_name().to_string())),
    );
    for command in commands {
        let argv: Vec<&str> = command.iter().map(String::as_str).collect();
        let listed = help_flags(&argv);
        for s in SETTINGS {
            let expected = s.applies_to(command.as_deref());
            assert_eq!(
                listed.iter().any(|f| f == s.flag),
                expected,
                "`jfmon {} --help` and --{}",
                command.as_deref().unwrap_or(""),
                s.flag
            );
        }
    }
}

#[test]
fn dashboard_option_before_a_subcommand_that_does_not_take_it() {
    let out = jfmon(&["--ascii", "simulate"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--ascii does not apply to `jfmon simulate`"),
        "{stderr}"
    );
    // ...and the subcommand's own form is an unknown option.
    let out = jfmon(&["simulate", "--ascii"]);
    assert_eq!(out.status.code(), Some(2));
}
