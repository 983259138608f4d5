//! End to end: the real `jfmon` binary in a real terminal (tmux), driven with
//! `send-keys` and read back with `capture-pane`. Checks the DOWN banner, the
//! drill-down into the failing integration with its last error, the help,
//! acknowledging against PostgreSQL, and that quitting, SIGTERM, SIGHUP and a
//! dropped terminal all leave promptly with the terminal restored.
//!
//! Without tmux each test fails in CI (`CI=true`) and is skipped, saying so,
//! elsewhere. Every session has a unique name and is killed when the test
//! ends, however it ends.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::url_of;
use sqlx::PgPool;

const BIN: &str = env!("CARGO_BIN_EXE_jfmon");
/// Longest wait for anything to appear.
const WAIT: Duration = Duration::from_secs(20);

fn tmux(args: &[&str]) -> Output {
    Command::new("tmux").args(args).output().expect("run tmux")
}

/// tmux is there; without it the test fails in CI and is skipped (saying
/// so) elsewhere.
fn have_tmux() -> bool {
    common::require_tool("tmux", "-V")
}

/// The guard itself, in child processes: a missing tool fails the test in
/// CI and skips it, saying why, elsewhere.
#[test]
fn a_missing_tool_fails_in_ci_and_is_skipped_elsewhere() {
    const TEST: &str = "a_missing_tool_fails_in_ci_and_is_skipped_elsewhere";
    if std::env::var("JFMON_TOOL_PROBE").is_ok() {
        common::require_tool("jfmon-no-such-tool", "-V");
        return;
    }
    let run = |ci: &str| {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env("JFMON_TOOL_PROBE", "1")
            .env("CI", ci)
            .output()
            .expect("run the test binary");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (passed, text) = run("true");
    assert!(!passed, "CI=true must fail:\n{text}");
    assert!(
        text.contains("`jfmon-no-such-tool` is not installed"),
        "{text}"
    );
    let (passed, text) = run("");
    assert!(passed, "a local run skips:\n{text}");
    assert!(
        text.contains("SKIPPED: `jfmon-no-such-tool` is not installed"),
        "the skip says why:\n{text}"
    );
}

/// A tmux session running one command; killed on drop.
struct Session {
    name: String,
    log: PathBuf,
}

impl Session {
    /// Start `args` (after the jfmon binary) in a 120x40 terminal. When it
    /// exits, the shell prints its exit code and the terminal modes.
    fn start(args: &[&str]) -> Session {
        Session::start_with("", args)
    }

    /// Like `start`, with `env` (e.g. `VAR=1`) set for jfmon.
    fn start_with(env: &str, args: &[&str]) -> Session {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "jfmon-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let log = std::env::temp_dir().join(format!("{name}.log"));
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        // After jfmon: its exit code, then whether the tty is back in cooked
        // mode with echo (raw mode would show -icanon -echo).
        let script = format!(
            "{env} '{BIN}' {} --log-file '{}'; echo JFMON_EXIT=$?; \
             echo TTY_MODES $(stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo); \
             sleep 60",
            quoted.join(" "),
            log.display()
        );
        let out = tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "120",
            "-y",
            "40",
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        // No NO_COLOR from the test environment inside.
        Session { name, log }
    }

    fn capture(&self) -> String {
        let out = tmux(&["capture-pane", "-p", "-t", &self.name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format value of the pane (`alternate_on`, `cursor_flag`, ...).
    fn format(&self, f: &str) -> String {
        let out = tmux(&[
            "display-message",
            "-p",
            "-t",
            &self.name,
            &format!("#{{{f}}}"),
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Wait until the screen satisfies `pred`; the screen, or a panic with it.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if start.elapsed() > WAIT {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!("timed out waiting for {what}; screen:\n{screen}\nlog:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }

    /// Send one key (tmux key name) and give the program a moment.
    fn key(&self, k: &str) {
        let out = tmux(&["send-keys", "-t", &self.name, k]);
        assert!(out.status.success());
        std::thread::sleep(Duration::from_millis(250));
    }

    /// The pid of jfmon (the child of the pane's shell).
    fn jfmon_pid(&self) -> u32 {
        let shell = self.format("pane_pid");
        let start = Instant::now();
        loop {
            let out = Command::new("pgrep").args(["-P", &shell]).output();
            if let Ok(o) = out {
                let text = String::from_utf8_lossy(&o.stdout);
                if let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
                    return pid;
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "no jfmon process under the shell {shell}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// After jfmon exited: its exit code, and the terminal is as before.
    fn assert_exited_restored(&self, code: i32) {
        let screen = self.wait_text("TTY_MODES");
        assert!(
            screen.contains(&format!("JFMON_EXIT={code}")),
            "exit code {code} expected:\n{screen}"
        );
        assert!(
            screen.contains("TTY_MODES icanon echo"),
            "raw mode left on:\n{screen}"
        );
        assert_eq!(
            self.format("alternate_on"),
            "0",
            "still on the alternate screen"
        );
        assert_eq!(self.format("cursor_flag"), "1", "cursor still hidden");
        assert!(
            !screen.contains("Integrations"),
            "the dashboard is still on screen:\n{screen}"
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&["kill-session", "-t", &self.name]);
        let _ = std::fs::remove_file(&self.log);
    }
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

/// The line of the DOWN banner, if it names `name`.
fn banner_names(screen: &str, name: &str) -> bool {
    screen
        .lines()
        .any(|l| l.contains("DOWN") && l.contains("for details") && l.contains(name))
}

/// Press `!` until the integration view of `name` is shown.
fn open_integration(s: &Session, name: &str) -> String {
    let crumb = format!("Integration {name}");
    for _ in 0..6 {
        s.key("!");
        let screen = s.capture();
        if screen.contains(&crumb) {
            return s.wait_text("recent errors");
        }
    }
    s.wait_text(&crumb)
}

#[test]
fn demo_banner_drill_down_help_quit() {
    if !have_tmux() {
        return;
    }
    let s = Session::start(&["demo", "--seed", "7"]);
    let screen = s.wait_for("the DOWN banner naming openai", |sc| {
        banner_names(sc, "openai")
    });
    assert!(screen.contains("DEMO"), "DEMO label:\n{screen}");
    assert!(
        screen.contains("✖ DOWN"),
        "status symbol and word:\n{screen}"
    );
    assert_eq!(s.format("alternate_on"), "1");

    let screen = open_integration(&s, "openai");
    assert!(screen.contains("last error"), "{screen}");
    assert!(
        screen.contains("openai: 503 Service Unavailable")
            || screen.contains("ConnectTimeout after 30000 ms"),
        "the last error of openai:\n{screen}"
    );
    s.key("?");
    let screen = s.wait_text("Keys");
    assert!(
        screen.contains("acknowledge the selected alert"),
        "{screen}"
    );
    s.key("Escape");
    s.wait_for("help closed", |sc| !sc.contains("? or Esc closes"));
    s.key("Escape");
    s.wait_for("back at the overview", |sc| sc.contains("2 Integrations"));
    s.key("q");
    s.assert_exited_restored(0);
}

/// SGR sequences in `bytes` that set a colour (`ESC[31m`, `ESC[39m`, `ESC[38;5;1m`).
fn colour_sgrs(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut found = vec![];
    for seq in text.split("\x1b[").skip(1) {
        let params: String = seq
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';' || *c == ':')
            .collect();
        if seq[params.len()..].starts_with('m') {
            let colour = params
                .split([';', ':'])
                .next()
                .is_some_and(|p| matches!(p.parse::<u16>(), Ok(30..=49 | 58 | 59 | 90..=107)));
            if colour {
                found.push(format!("ESC[{params}m"));
            }
        }
    }
    found
}

#[test]
fn ascii_and_no_color_in_a_real_terminal() {
    if !have_tmux() {
        return;
    }
    let s = Session::start(&["demo", "--seed", "3", "--ascii", "--no-color"]);
    // Record every byte jfmon writes to the terminal from now on.
    let raw = std::env::temp_dir().join(format!("{}.raw", s.name));
    let out = tmux(&[
        "pipe-pane",
        "-o",
        "-t",
        &s.name,
        &format!("cat >> '{}'", raw.display()),
    ]);
    assert!(out.status.success());
    let screen = s.wait_for("the banner", |sc| banner_names(sc, "openai"));
    for l in screen.lines() {
        assert!(l.is_ascii(), "non-ASCII in --ascii mode: {l}");
    }
    // A few redraws, a drill-down and the help, all without colour.
    s.key("!");
    s.key("?");
    std::thread::sleep(Duration::from_millis(1500));
    s.key("Escape");
    s.key("q");
    s.assert_exited_restored(0);
    let bytes = std::fs::read(&raw).unwrap_or_default();
    let _ = std::fs::remove_file(&raw);
    assert!(bytes.len() > 1000, "recorded {} bytes", bytes.len());
    let found = colour_sgrs(&bytes);
    assert!(
        found.is_empty(),
        "colour escape codes with --no-color: {found:?}"
    );
    assert!(bytes.is_ascii(), "non-ASCII bytes written with --ascii");
}

#[test]
fn colour_is_used_by_default() {
    if !have_tmux() {
        return;
    }
    let s = Session::start(&["demo", "--seed", "3"]);
    let raw = std::env::temp_dir().join(format!("{}.raw", s.name));
    let out = tmux(&[
        "pipe-pane",
        "-o",
        "-t",
        &s.name,
        &format!("cat >> '{}'", raw.display()),
    ]);
    assert!(out.status.success());
    s.wait_for("the banner", |sc| banner_names(sc, "openai"));
    s.key("!");
    s.key("q");
    s.assert_exited_restored(0);
    let bytes = std::fs::read(&raw).unwrap_or_default();
    let _ = std::fs::remove_file(&raw);
    assert!(
        !colour_sgrs(&bytes).is_empty(),
        "the default theme has colour"
    );
}

#[test]
fn signals_restore_the_terminal() {
    if !have_tmux() {
        return;
    }
    for (sig, code) in [("TERM", 143), ("HUP", 129)] {
        let s = Session::start(&["demo", "--seed", "1"]);
        s.wait_text("2 Integrations");
        let pid = s.jfmon_pid();
        kill(pid, sig);
        s.assert_exited_restored(code);
    }
}

#[test]
fn a_panic_restores_the_terminal_before_the_report() {
    if !have_tmux() {
        return;
    }
    // The test binary is a debug build, where JFMON_TEST_PANIC panics with
    // the dashboard's terminal set up (raw mode, alternate screen).
    let s = Session::start_with(
        "JFMON_TEST_PANIC=1 RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0",
        &["demo", "--seed", "1"],
    );
    s.assert_exited_restored(101);
    let screen = s.capture();
    assert!(
        screen.contains("test panic requested by JFMON_TEST_PANIC"),
        "the report is readable on the restored screen:\n{screen}"
    );
}

#[test]
fn a_dropped_terminal_ends_the_process() {
    if !have_tmux() {
        return;
    }
    let s = Session::start(&["demo", "--seed", "1"]);
    s.wait_text("2 Integrations");
    let pid = s.jfmon_pid();
    // The SSH session drops: the terminal goes away under the process.
    let _ = tmux(&["kill-session", "-t", &s.name]);
    let start = Instant::now();
    while pid_alive(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "jfmon {pid} still running after its terminal went away"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Ten minutes of traffic: openai failing for the last five, the others fine.
async fn fill(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO monitoring_integration_metrics \
             (integration, operation, success, duration_ms, status_code, error, created_at) \
         SELECT i, 'call', NOT (i = 'openai' AND g > 300), 200 + g % 50, \
                CASE WHEN i = 'openai' AND g > 300 THEN 503 ELSE 200 END, \
                CASE WHEN i = 'openai' AND g > 300 THEN 'openai: 503 Service Unavailable (e2e)' END, \
                now() - interval '600 seconds' + g * interval '1 second' \
         FROM generate_series(1, 598) AS g, unnest(ARRAY['openai', 'prokerala', 'elevenlabs']) AS i",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_api_calls (endpoint, method, status_code, response_time, timestamp) \
         SELECT '/api/spiritual/guidance', 'POST', CASE WHEN g > 300 THEN 502 ELSE 200 END, 300 + g % 200, \
                now()::timestamp - interval '600 seconds' + g * interval '1 second' \
         FROM generate_series(1, 598) AS g",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO monitoring_alerts (alert_type, severity, title, description, context, created_at) \
         VALUES ('integration_down', 'critical', 'OpenAI integration down', 'e2e', \
                 '{\"integration\": \"openai\", \"api_key\": \"sk-e2e-secret\"}', now()::timestamp - interval '4 minutes')",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = "./migrations")]
async fn dashboard_on_postgres_with_a_down_integration(pool: PgPool) {
    if !have_tmux() {
        return;
    }
    fill(&pool).await;
    let url = url_of(&pool);
    let s = Session::start(&[
        "--database-url",
        &url,
        "--interval",
        "1s",
        "--env-name",
        "e2e",
    ]);
    let screen = s.wait_for("the DOWN banner naming openai", |sc| {
        banner_names(sc, "openai")
    });
    assert!(screen.contains("e2e"), "environment name:\n{screen}");
    // The source's status follows its first batch: wait for it.
    s.wait_text("postgres live");
    let screen = open_integration(&s, "openai");
    assert!(
        screen.contains("openai: 503 Service Unavailable (e2e)"),
        "{screen}"
    );
    // The related alert; its context is masked.
    s.key("Tab");
    s.key("Enter");
    let screen = s.wait_text("Alert #");
    assert!(screen.contains("\"api_key\": \"***\""), "{screen}");
    assert!(!screen.contains("sk-e2e-secret"));
    // Acknowledge it, after confirming.
    s.key("a");
    s.wait_text("Acknowledge alert #");
    s.key("y");
    s.wait_text("acknowledged");
    let acked: bool = sqlx::query_scalar("SELECT acknowledged FROM monitoring_alerts LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(acked, "the acknowledgement was written");
    s.key("?");
    s.wait_text("Keys");
    s.key("q");
    s.key("q");
    s.assert_exited_restored(0);
}
