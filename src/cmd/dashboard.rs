//! `jfmon` and `jfmon demo`: the live dashboard. Starts the source (the
//! simulator for the demo, else what the configuration names: see
//! [`super::source_plan`]), sends logs to a file
//! (the terminal belongs to the dashboard), takes over the terminal and runs
//! the [`crate::ui::event_loop`] until the user quits, a signal arrives or the
//! terminal goes away; the terminal is restored on every way out.

use std::fs::{self, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use super::{Fail, Outcome, source_plan};
use crate::cli::DemoArgs;
use crate::config::Config;
use crate::rules::{LocalRules, Standing};
use crate::source::demo::DemoSettings;
use crate::source::{self, Plan};
use crate::store::State;
use crate::ui::event_loop::{self, Exit, Judging};
use crate::ui::terminal;
use crate::ui::theme::Theme;
use crate::ui::{UiSettings, app::App};

/// Rotate the log file beyond this size (keeping one old file).
const LOG_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// How often a dashboard's own rule evaluation reloads its baselines.
const BASELINE_REFRESH: Duration = Duration::from_secs(5 * 60);
/// The demo advances this often.
const DEMO_TICK: Duration = Duration::from_secs(1);

pub async fn run(cfg: &Config, demo: Option<&DemoArgs>) -> Outcome {
    if demo.is_none() && cfg.ws_url.is_none() {
        super::require_url(cfg)?;
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Fail {
            message: "the dashboard needs a terminal (stdin and stdout must be a TTY) — \
                      for scripts use `jfmon snapshot` or `jfmon check`"
                .into(),
            code: 2,
        });
    }
    let log = init_logging(cfg);
    let mut settings = UiSettings {
        environment: cfg.environment.clone(),
        read_only: cfg.read_only,
        local_time: cfg.local_time,
        theme: Theme::new(!cfg.no_color, cfg.ascii),
        mouse: !cfg.no_mouse,
        bell: cfg.bell,
        poll_interval: cfg.interval,
        ..UiSettings::default()
    };
    let plan = if let Some(d) = demo {
        settings.demo = true;
        settings.poll_interval = DEMO_TICK;
        let demo_settings = DemoSettings {
            seed: d.seed.unwrap_or_else(rand::random),
            rate: d.rate,
            window: cfg.window,
            idle_timeout: cfg.idle_timeout,
            tick: DEMO_TICK,
        };
        tracing::info!(seed = demo_settings.seed, rate = d.rate, "simulator");
        Plan::Demo(demo_settings)
    } else {
        // Connects first: a wrong URL or password is one line on the shell,
        // not a dashboard that never fills.
        source_plan(cfg).await?
    };
    let judging = Judging {
        rules: local_rules(cfg, &plan),
        ring: Box::new(event_loop::terminal_bell),
    };
    let source::Started {
        handle,
        target,
        task,
    } = source::spawn(plan);
    tracing::info!(%target, "dashboard started");
    settings.target = target;

    let app = App::new(settings, cfg.window);
    let state = State::new(cfg.window.as_secs(), cfg.thresholds.clone());
    terminal::install_panic_hook();
    let mut term = match terminal::enter(cfg.no_color, !cfg.no_mouse) {
        Ok(t) => t,
        Err(e) => {
            drop(task);
            return Err(Fail::new(format!("cannot set up the terminal: {e}")));
        }
    };
    let guard = terminal::RestoreGuard;
    // Debug builds only: a way for the end-to-end test to prove that a panic
    // with the dashboard on screen restores the terminal before the report.
    #[cfg(debug_assertions)]
    if std::env::var_os("JFMON_TEST_PANIC").is_some() {
        panic!("test panic requested by JFMON_TEST_PANIC");
    }
    let events = terminal::spawn_input();
    let exit = event_loop::run_judging(
        &mut term,
        app,
        state,
        handle,
        events,
        shutdown_signal(),
        judging,
    )
    .await;
    // Not dropped: ratatui's Drop shows the cursor and, when the terminal is
    // gone, reports that failure with `eprintln!`, which panics on a dead
    // stderr. The guard restores the terminal instead, ignoring errors.
    std::mem::forget(term);
    drop(guard);
    drop(task);
    tracing::info!(?exit, "dashboard closed");
    match exit {
        Exit::Quit => Ok(ExitCode::SUCCESS),
        Exit::Signal(n) => Ok(ExitCode::from(128u8.saturating_add(n as u8))),
        Exit::TerminalGone(why) => {
            tracing::warn!(%why, "terminal gone");
            let hint = log
                .map(|p| format!(" (log: {})", p.display()))
                .unwrap_or_default();
            // Most likely nobody is there to read this: never panic on it.
            let _ = writeln!(
                std::io::stderr(),
                "jfmon: the terminal went away: {why}{hint}"
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// The dashboard's own, read-only judgement of the alert rules: on the
/// simulator and on the database (anomaly baselines from the rollups,
/// refreshed in the background); through a hub with a database fallback,
/// only while no hub judges (see [`crate::rules::display`]); none through a
/// hub alone, whose states are shown (marked last known once it is gone).
fn local_rules(cfg: &Config, plan: &Plan) -> Option<LocalRules> {
    let from_db = |standing, db: &crate::source::Database| {
        LocalRules::standing(
            standing,
            cfg.rules.clone(),
            Some(crate::rollup::baseline::spawn_refresh(
                db.poller.pool().clone(),
                db.url.clone(),
                BASELINE_REFRESH,
            )),
        )
    };
    match plan {
        Plan::Demo(_) => Some(LocalRules::new(cfg.rules.clone(), None)),
        Plan::Database(db) => Some(from_db(Standing::Always, db)),
        Plan::StreamAndDatabase(_, db) => Some(from_db(Standing::WhileNoHub, db)),
        Plan::Stream(_) => None,
    }
}

/// Resolves on SIGTERM, SIGHUP (the SSH session dropped) or SIGINT. Each
/// signal also arms a watchdog that exits the process if the orderly way
/// out takes more than a few seconds.
async fn shutdown_signal() -> Exit {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for signals");
        return std::future::pending().await;
    };
    let n = tokio::select! {
        _ = term.recv() => 15,
        _ = hup.recv() => 1,
        _ = int.recv() => 2,
    };
    tracing::info!(signal = n, "signal received");
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        terminal::restore();
        std::process::exit(128 + n);
    });
    Exit::Signal(n)
}

/// Send tracing output to the log file (`--log-file`, else
/// `$XDG_STATE_HOME/jfmon/jfmon.log` or the cache directory); never to the
/// terminal. Returns the file used, if any.
fn init_logging(cfg: &Config) -> Option<PathBuf> {
    let path = cfg.log_file.clone().or_else(|| {
        dirs::state_dir()
            .or_else(dirs::cache_dir)
            .map(|d| d.join("jfmon").join("jfmon.log"))
    })?;
    // A log file asked for but not writable: one warning line now, before
    // the terminal is taken (the dashboard still runs, without a log).
    let warn = |e: std::io::Error| {
        if cfg.log_file.is_some() {
            eprintln!(
                "jfmon: warning: cannot write the log file {}: {e} — running without a log",
                path.display()
            );
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(warn).ok()?;
    }
    if fs::metadata(&path).is_ok_and(|m| m.len() > LOG_MAX_BYTES) {
        let _ = fs::rename(&path, path.with_extension("log.1"));
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(warn)
        .ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("JFMON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(path)
}
