//! The real binary on bad input: one line on stderr, a non-zero exit, no
//! panic, no backtrace, never the password.

use std::process::{Command, Output};

fn jfmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jfmon"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run jfmon")
}

fn assert_one_clean_line(out: &Output, expect: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(
        stderr.contains(expect),
        "{stderr:?} should mention {expect:?}"
    );
    for bad in [
        "hunter2",
        "panicked",
        "backtrace",
        "RUST_BACKTRACE",
        "at src/",
    ] {
        assert!(!stderr.contains(bad), "{stderr:?} contains {bad:?}");
    }
}

#[test]
fn unreachable_database() {
    let out = jfmon(&[
        "snapshot",
        "--database-url",
        "postgres://postgres:hunter2@127.0.0.1:1/x",
    ]);
    assert_one_clean_line(&out, "cannot reach PostgreSQL at 127.0.0.1:1");
}

#[test]
fn missing_database() {
    let out = jfmon(&[
        "snapshot",
        "--database-url",
        "postgres://postgres:hunter2@127.0.0.1:5432/jfmon_no_such_db",
    ]);
    assert_one_clean_line(&out, "does not exist");
}

#[test]
fn malformed_url() {
    let out = jfmon(&[
        "snapshot",
        "--database-url",
        "postgres://u:hunter2@host:notaport/db",
    ]);
    assert_one_clean_line(&out, "--database-url");
    let out = jfmon(&["migrate", "--database-url", "mysql://u:hunter2@host/db"]);
    assert_one_clean_line(&out, "--database-url");
}

#[test]
fn unknown_option_and_bad_value() {
    let out = jfmon(&["snapshot", "--bogus"]);
    assert_one_clean_line(&out, "--bogus");
    assert_eq!(out.status.code(), Some(2));
    let out = jfmon(&["--window", "soon", "snapshot"]);
    assert_one_clean_line(&out, "--window");
}

#[test]
fn no_database_given() {
    let out = jfmon(&["snapshot"]);
    assert_one_clean_line(&out, "DATABASE_URL");
}

#[test]
fn check_reports_unknown_with_exit_3() {
    let out = jfmon(&[
        "check",
        "--database-url",
        "postgres://postgres:hunter2@127.0.0.1:1/x",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("JFMON UNKNOWN"), "{stdout}");
    assert!(!stdout.contains("hunter2"));
    let out = jfmon(&["check", "--bogus"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["demo", "migrate", "simulate", "check", "snapshot", "serve"] {
        let out = jfmon(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{sub}"
        );
    }
}
