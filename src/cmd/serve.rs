//! `jfmon serve`: the hub. One incremental PostgreSQL poller feeds the hub's
//! store; any number of dashboards follow it over WebSocket at
//! `/monitoring/ws` (`jfmon --ws ws://host:10000/monitoring/ws`), and the same
//! state is served as the monitoring JSON API and Prometheus metrics.
//! After every poll the alert rules judge the hub's state; the hub holding
//! the alerting lease writes rule alerts to `monitoring_alerts` and notifies
//! the `[[notify]]` receivers, others stand by (`crate::alerting::drive`).
//! SIGTERM or SIGINT closes every stream with a close frame and exits 0.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::{Fail, Outcome, database};
use crate::cli::ServeArgs;
use crate::config::Config;
use crate::duration::format_duration;
use crate::hub::{Hub, HubSettings, http, tls};
use crate::model::Update;
use crate::notify::Outbox;
use crate::source::{self, Plan};

/// Read the token: the first line of the file, trimmed.
pub fn read_token(path: &Path) -> Result<String, Fail> {
    let text = std::fs::read_to_string(path).map_err(|e| Fail {
        message: format!("cannot read the token file {}: {e}", path.display()),
        code: 2,
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(Fail {
            message: format!(
                "the token file {} is empty — put the token on its first line",
                path.display()
            ),
            code: 2,
        });
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Fail {
            message: format!(
                "the token in {} contains spaces or control characters",
                path.display()
            ),
            code: 2,
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            eprintln!(
                "jfmon: warning: the token file {} is readable by other users (chmod 600 it)",
                path.display()
            );
        }
    }
    Ok(token)
}

/// The warning for a hub reachable from other machines without a token or
/// without TLS (then the token and the data cross the network in clear).
pub fn exposure_warning(addr: &SocketAddr, has_token: bool, has_tls: bool) -> Option<String> {
    if addr.ip().is_loopback() || (has_token && has_tls) {
        return None;
    }
    let bar = "!".repeat(72);
    let mut w = format!("{bar}\n");
    if !has_token {
        w.push_str(&format!(
            "!! WARNING: jfmon serve listens on {addr} WITHOUT A TOKEN.\n\
             !! Anyone who can reach this address can read your monitoring data\n\
             !! (endpoints, errors, sessions, alerts). Use --token-file, or listen\n\
             !! on 127.0.0.1 behind an authenticating proxy.\n"
        ));
    }
    if !has_tls {
        w.push_str(&format!(
            "!! WARNING: jfmon serve listens on {addr} WITHOUT TLS.\n\
             !! The token, the session cookie and the data cross the network in\n\
             !! clear. Use --tls-cert/--tls-key, or a TLS-terminating proxy.\n"
        ));
    }
    w.push_str(&bar);
    Some(w)
}

/// Logs go to `--log-file`, else stderr. The log is the hub's only
/// diagnostics, so a log file that cannot be written is refused (exit 2)
/// rather than ignored. Colour only on a terminal, never with `--no-color`.
fn init_logging(cfg: &Config) -> Result<(), Fail> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("JFMON_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let file = match &cfg.log_file {
        None => None,
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Fail {
                    message: format!(
                        "cannot write the log file {}: {e} — fix --log-file / log_file (the log is all `jfmon serve` reports)",
                        p.display()
                    ),
                    code: 2,
                })?,
        ),
    };
    let _ = match file {
        Some(f) => builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .try_init(),
        None => builder
            .with_ansi(log_colour(cfg.no_color, std::io::stderr().is_terminal()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
    Ok(())
}

/// Whether log lines on stderr get colour: only on a terminal, and
/// `--no-color` (or `NO_COLOR`) always wins.
fn log_colour(no_color: bool, stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && !no_color
}

/// Keep jfmon's rollups current (when `jfmon migrate` created them and the
/// role may write them), or stand by while another process does. Says once
/// why it does not, and never stops the hub.
async fn maintain_rollups(pool: sqlx::PgPool, interval: std::time::Duration) {
    use crate::rollup::follow::{FollowEvent, cannot_maintain, follow};
    match cannot_maintain(&pool).await {
        Ok(None) => {}
        Ok(Some(why)) => {
            tracing::info!("not maintaining the rollups: {why}; windows load from raw rows");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "not maintaining the rollups: cannot check for them");
            return;
        }
    }
    // A role or a failure repeated every interval is logged once, until it changes.
    let mut last_role: Option<bool> = None;
    let mut last_failure: Option<String> = None;
    follow(pool, interval, |e| match e {
        FollowEvent::Leading | FollowEvent::StandingBy => {
            let leading = e == FollowEvent::Leading;
            if last_role != Some(leading) {
                if leading {
                    tracing::info!("maintaining the rollups");
                } else {
                    tracing::info!("another jfmon maintains the rollups");
                }
                last_role = Some(leading);
            }
        }
        FollowEvent::Added(n) => {
            last_failure = None;
            tracing::debug!(rows = n, "rollups advanced");
        }
        FollowEvent::Failed(m) => {
            if last_failure.as_deref() != Some(m.as_str()) {
                tracing::warn!(error = %m, "rollup step failed (retrying each interval)");
                last_failure = Some(m);
            }
        }
    })
    .await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let int = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = int => {}
        _ = term => {}
    }
}

/// Publish every update of the source; each poll (a batch, a source's
/// status) is then signalled to the alerting, which judges the state the
/// hub now holds.
async fn feed(hub: Hub, mut updates: mpsc::Receiver<Update>, polls: watch::Sender<u64>) {
    while let Some(u) = updates.recv().await {
        let poll = matches!(u, Update::Batch(_) | Update::Source(_));
        hub.publish(u);
        if poll {
            polls.send_modify(|n| *n += 1);
        }
    }
}

/// Start the hub's alerting: the rules judged after every poll, written to
/// `monitoring_alerts` and sent to the `[[notify]]` receivers by whichever
/// hub holds the lease (none with `--read-only`). Returns the poll signal
/// and the task.
fn start_alerting(
    cfg: &Config,
    hub: &Hub,
    pool: sqlx::PgPool,
    url: String,
    generator_url: String,
) -> (watch::Sender<u64>, tokio::task::JoinHandle<()>) {
    use crate::alerting::drive::{BASELINE_REFRESH, Drive};
    use crate::alerting::{BaselineFeed, status::Status};
    let outbox = (!cfg.read_only && !cfg.notify.is_empty())
        .then(|| Arc::new(Outbox::start(cfg.notify.clone(), generator_url)));
    let status = Arc::new(Status::new(outbox.clone()));
    hub.set_alerting(status.clone());
    let baselines = BaselineFeed::Live(crate::rollup::baseline::spawn_refresh(
        pool.clone(),
        url,
        BASELINE_REFRESH,
    ));
    let receivers: Vec<&str> = cfg.notify.iter().map(|r| r.name.as_str()).collect();
    tracing::info!(
        rules = cfg.rules.len(),
        receivers = ?receivers,
        read_only = cfg.read_only,
        "alerting"
    );
    let drive = Drive {
        hub: hub.clone(),
        rules: cfg.rules.clone(),
        pool: (!cfg.read_only).then_some(pool),
        baselines,
        outbox,
        interval: cfg.interval,
    };
    let (polls, rx) = watch::channel(0u64);
    (polls, tokio::spawn(drive.run(rx, status)))
}

pub async fn run(cfg: &Config, a: &ServeArgs) -> Outcome {
    let token = a.token_file.as_deref().map(read_token).transpose()?;
    init_logging(cfg)?;
    let db = database(cfg).await?;
    let listener = TcpListener::bind(a.listen).await.map_err(|e| Fail {
        message: format!(
            "cannot listen on {}: {e}{}",
            a.listen,
            if e.kind() == std::io::ErrorKind::AddrInUse {
                " (is another jfmon serve running? choose another with --listen)"
            } else {
                ""
            }
        ),
        code: 2,
    })?;
    let addr = listener.local_addr().unwrap_or(a.listen);
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(tls::server_config(c, k).map_err(|m| Fail {
            message: m,
            code: 2,
        })?),
        _ => None,
    };
    if let Some(w) = exposure_warning(&addr, token.is_some(), tls.is_some()) {
        eprintln!("{w}");
    }

    let mut settings = HubSettings::new(cfg.window.as_secs(), cfg.thresholds.clone());
    settings.token = token;
    settings.read_only = cfg.read_only;
    settings.tls = tls.is_some();
    settings.header_timeout = cfg.header_timeout;
    settings.max_conns_per_addr = cfg.max_conns_per_addr;
    let hub = Hub::new(settings);

    let rollup_task = (!cfg.read_only)
        .then(|| tokio::spawn(maintain_rollups(db.poller.pool().clone(), cfg.interval)));
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let (polls, alerting_task) = start_alerting(
        cfg,
        &hub,
        db.poller.pool().clone(),
        db.url.clone(),
        format!("{http}://{addr}/monitoring/dashboard"),
    );
    let source::Started {
        handle,
        target,
        task: source_task,
    } = source::spawn(Plan::Database(db));
    let feeder = hub.clone();
    hub.set_commands(handle.commands);
    let feed_task = tokio::spawn(feed(feeder, handle.updates, polls));

    eprintln!(
        "jfmon serve: polling {target} every {}, window {}; listening on {http}://{addr} \
         (page: {http}://{addr}/monitoring/dashboard, stream: {ws}://{addr}/monitoring/ws){}",
        format_duration(cfg.interval),
        format_duration(cfg.window),
        if hub.settings().token.is_some() {
            ", token required"
        } else {
            ""
        }
    );
    tracing::info!(%addr, "hub listening");
    let served = match tls {
        Some(c) => match tls::TlsListener::new(listener, c) {
            Ok(l) => http::serve(hub.clone(), l, shutdown_signal()).await,
            Err(e) => Err(e),
        },
        None => http::serve(hub.clone(), listener, shutdown_signal()).await,
    };
    drop(source_task);
    if let Some(t) = rollup_task {
        t.abort();
    }
    feed_task.abort();
    alerting_task.abort();
    match served {
        Ok(()) => {
            eprintln!("jfmon serve: stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(Fail::new(format!("the hub failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(log_colour(false, true));
        assert!(!log_colour(false, false));
        assert!(!log_colour(true, true));
        assert!(!log_colour(true, false));
    }

    #[test]
    fn warns_only_when_exposed_without_token() {
        let lo: SocketAddr = "127.0.0.1:10000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:10000".parse().unwrap();
        assert!(exposure_warning(&lo, false, false).is_none());
        assert!(exposure_warning(&any, true, true).is_none());
        let w = exposure_warning(&any, false, true).unwrap();
        assert!(w.contains("WITHOUT A TOKEN") && !w.contains("WITHOUT TLS"));
        let w = exposure_warning(&any, true, false).unwrap();
        assert!(w.contains("WITHOUT TLS") && !w.contains("WITHOUT A TOKEN"));
    }
}
