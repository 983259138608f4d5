//! Sources: tasks that produce [`crate::model::Update`]s for the state store over a bounded
//! channel and take [`SourceCommand`]s back (refresh, window change, acknowledge).
//! The PostgreSQL poller ([`postgres`]), the in-memory simulator ([`demo`])
//! and the WebSocket follower ([`stream`]) send identical shapes; the store
//! cannot tell them apart. [`spawn`] starts whichever a command follows;
//! [`link`] owns the channels between a source and its consumer.

pub mod ca;
pub mod demo;
pub mod link;
pub mod postgres;
mod spawn;
pub mod stream;

use std::time::Duration;

use tokio::sync::mpsc;

pub use link::{SourceHandle, SourceLink, UPDATE_CHANNEL, link_pair};
pub use spawn::{Database, Plan, Started, spawn};

/// What the dashboard asks of a source.
#[derive(Debug)]
pub enum SourceCommand {
    /// Poll now instead of at the next tick.
    RefreshNow,
    /// Reload with another window.
    SetWindow(Duration),
    /// Mark an alert acknowledged; the outcome comes back on `reply`.
    Acknowledge {
        id: i64,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
    /// The timeline of one session (`monitoring_context`), oldest first, at
    /// most [`SESSION_CONTEXT_LIMIT`] records, secrets already masked.
    SessionContext {
        session_id: String,
        reply: tokio::sync::oneshot::Sender<Result<Vec<crate::model::ContextEvent>, String>>,
    },
}

/// Context records returned for one session (the newest ones).
pub const SESSION_CONTEXT_LIMIT: usize = 200;

/// Delay before retry `failures` (1, 2, ...): doubling from the poll interval,
/// capped at 30 s, with up to 20 % jitter so many screens do not retry in step.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let base = interval.max(Duration::from_millis(500));
    let exp = base.saturating_mul(1u32 << failures.saturating_sub(1).min(10));
    let capped = exp.min(Duration::from_secs(30));
    let jitter = rand::random::<f64>() * 0.2;
    capped.mul_f64(1.0 - jitter)
}

/// Wait `delay`, or less if a command arrives; returns the command, if any.
/// A closed command channel is dropped so it cannot spin the loop.
pub async fn wait_or_command(
    delay: Duration,
    commands: &mut Option<mpsc::Receiver<SourceCommand>>,
) -> Option<SourceCommand> {
    let sleep = tokio::time::sleep(delay);
    match commands {
        Some(rx) => tokio::select! {
            _ = sleep => None,
            cmd = rx.recv() => {
                if cmd.is_none() {
                    *commands = None;
                }
                cmd
            }
        },
        None => {
            sleep.await;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let i = Duration::from_secs(2);
        let b1 = backoff(1, i);
        assert!(b1 <= i && b1 >= i.mul_f64(0.8));
        let b3 = backoff(3, i);
        assert!(b3 <= Duration::from_secs(8) && b3 >= Duration::from_secs(6));
        assert!(backoff(30, i) <= Duration::from_secs(30));
    }
}
