//! Hostile settings on the real binary (issue 8 §4): a DATABASE_URL that is
//! not a URL is never echoed, an unknown --db-timezone is named at once
//! (exit 2, no connect time-out), an unwritable --log-file is refused by
//! `serve` and warned about once by the dashboard, and `serve` colours its log
//! only on a terminal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn db_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn jfmon() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jfmon"));
    c.env_remove("DATABASE_URL")
        .env_remove("NO_COLOR")
        .env_remove("JFMON_LOG")
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test");
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run jfmon")
}

fn one_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    stderr
}

#[test]
fn a_database_url_that_is_not_a_url_is_never_echoed() {
    for out in [
        run(jfmon().args(["snapshot", "--database-url", "not a url s3cr3tpw"])),
        run(jfmon()
            .arg("snapshot")
            .env("DATABASE_URL", "not a url s3cr3tpw")),
        run(jfmon().args(["snapshot", "--ws", "not a url s3cr3tpw"])),
    ] {
        assert_eq!(out.status.code(), Some(2));
        let line = one_line(&out);
        assert!(line.contains("not a URL"), "{line}");
        assert!(!line.contains("s3cr3tpw"), "{line}");
    }
}

#[test]
fn an_unknown_time_zone_is_named_at_once() {
    let out = run(jfmon().args([
        "snapshot",
        "--database-url",
        &db_url(),
        "--db-timezone",
        "Mars/Olympus",
    ]));
    let line = one_line(&out);
    assert_eq!(out.status.code(), Some(2), "{line}");
    assert!(
        line.contains("unknown time zone \"Mars/Olympus\""),
        "{line}"
    );
    assert!(!line.contains("timed out"), "{line}");
    // A zone PostgreSQL knows still works.
    let out = run(jfmon().args([
        "snapshot",
        "--json",
        "--database-url",
        &db_url(),
        "--db-timezone",
        "Asia/Kolkata",
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("time zone"), "{stderr}");
}

#[test]
fn serve_refuses_a_log_file_it_cannot_write() {
    let dir = std::env::temp_dir();
    for bad in ["/proc/nope/x.log", dir.to_str().unwrap()] {
        let out = run(jfmon().args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://postgres@127.0.0.1:1/x",
            "--log-file",
            bad,
        ]));
        assert_eq!(out.status.code(), Some(2));
        let line = one_line(&out);
        assert!(line.contains("cannot write the log file"), "{line}");
    }
}

/// `jfmon serve` with stderr to a pipe: its log lines carry no colour codes.
#[test]
fn serve_logs_without_colour_when_stderr_is_not_a_terminal() {
    let mut child = jfmon()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db_url(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start jfmon serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // Bounded wait for the first tracing line (not a timing assertion).
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        let done = line.contains("hub listening");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains("hub listening")),
        "no log line: {seen:?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains('\u{1b}')),
        "colour codes in a piped log: {seen:?}"
    );
}

/// The dashboard (in a real terminal, tmux) with an unwritable --log-file:
/// one warning line on stderr, and it still runs.
#[test]
fn dashboard_warns_once_about_an_unwritable_log_file() {
    let dir = std::env::temp_dir().join(format!("jfmon-logwarn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = dir.join("stderr");
    let session = format!("jfmon-logwarn-{}", std::process::id());
    let cmd = format!(
        "NO_COLOR= XDG_CONFIG_HOME=/nonexistent-jfmon-test '{}' demo --log-file /proc/nope/x.log 2>'{}'; sleep 30",
        env!("CARGO_BIN_EXE_jfmon"),
        err.display()
    );
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "80",
            "-y",
            "24",
            &cmd,
        ])
        .status()
        .expect("tmux is needed for this test");
    assert!(started.success());
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&err).unwrap_or_default();
        if !text.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Give a second warning (if any) the time to appear, then look at the
    // screen: the dashboard is running.
    std::thread::sleep(Duration::from_millis(500));
    let screen = Command::new("tmux")
        .args(["capture-pane", "-p", "-t", &session])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .status();
    let text2 = std::fs::read_to_string(&err).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        text.contains("warning: cannot write the log file /proc/nope/x.log"),
        "{text:?}"
    );
    assert_eq!(text2.trim_end().lines().count(), 1, "{text2:?}");
    assert!(screen.contains("jfmon"), "the dashboard runs:\n{screen}");
}
