//! The stream source's outer loop: connect, follow until the connection
//! ends, report the stream down with the reason, wait out a capped
//! exponential backoff with jitter (answering commands meanwhile; a refresh
//! retries at once), and connect again — until the consumer is gone.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::{Client, End};
use super::{Event, Server, StreamSettings};
use crate::source::{SourceCommand, backoff, wait_or_command};

/// A connection that lasted longer than this earns a fresh backoff.
const STABLE: Duration = Duration::from_secs(30);
/// The retry number used after a refusal (another protocol version): as
/// slow as backoff goes.
const REFUSED_RETRY: u32 = 10;

/// How long to wait before the next attempt.
#[derive(Debug)]
pub(super) struct Retry {
    base: Duration,
    failures: u32,
}

impl Retry {
    pub(super) fn new(base: Duration) -> Self {
        Retry { base, failures: 0 }
    }

    /// The delay after an attempt that ended: `was_up` when it had
    /// connected, `lasted` how long it ran, `refused` when the server speaks
    /// another protocol version.
    pub(super) fn after(&mut self, was_up: bool, lasted: Duration, refused: bool) -> Duration {
        if was_up && lasted > STABLE {
            self.failures = 0;
        }
        self.failures += 1;
        if refused {
            backoff(REFUSED_RETRY, self.base)
        } else {
            backoff(self.failures, self.base)
        }
    }
}

/// How a wait between attempts ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Waited {
    /// The delay passed.
    Due,
    /// The user asked for a refresh: retry now.
    Refresh,
    /// The consumer is gone.
    Stop,
}

/// Wait until `until`, answering commands meanwhile.
pub(super) async fn wait_out(c: &mut Client, until: Instant) -> Waited {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Waited::Due;
        }
        match wait_or_command(left, &mut c.commands).await {
            None => {
                if c.commands.is_none() || Instant::now() >= until {
                    // Closed command channel: just sleep out the rest.
                    tokio::time::sleep_until(until).await;
                    return Waited::Due;
                }
            }
            Some(SourceCommand::RefreshNow) => return Waited::Refresh,
            Some(cmd) => {
                if !c.command(cmd).await {
                    return Waited::Stop;
                }
            }
        }
    }
}

/// Follow the stream, reconnecting, until `out` closes.
pub(super) async fn run_events(
    settings: StreamSettings,
    out: mpsc::Sender<Event>,
    commands: mpsc::Receiver<SourceCommand>,
) {
    let mut retry = Retry::new(settings.retry_base);
    let mut c = Client::new(settings, out, commands);
    loop {
        let started = Instant::now();
        let (why, refused) = match c.session().await {
            End::Stop => return,
            End::Lost(w) => (w, false),
            End::Refused(w) => (w, true),
        };
        tracing::warn!(error = %why, "stream down");
        let delay = retry.after(c.status.up, started.elapsed(), refused);
        c.status.up = false;
        c.status.last_error = Some(why);
        c.note_until = None;
        if !c.set_server(Server::Disconnected).await || !c.report(true).await {
            return;
        }
        if wait_out(&mut c, Instant::now() + delay).await == Waited::Stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Update;

    const BASE: Duration = Duration::from_secs(1);

    fn within(d: Duration, max: Duration) -> bool {
        // backoff takes off up to 20 % jitter.
        d <= max && d >= max.mul_f64(0.8)
    }

    #[test]
    fn failures_double_the_delay_up_to_the_cap() {
        let mut r = Retry::new(BASE);
        let short = Duration::from_secs(1);
        for expect in [1, 2, 4, 8, 16, 30, 30] {
            let d = r.after(false, short, false);
            assert!(within(d, Duration::from_secs(expect)), "{d:?} vs {expect}s");
        }
    }

    #[test]
    fn a_connection_that_lasted_earns_a_fresh_backoff() {
        let mut r = Retry::new(BASE);
        for _ in 0..4 {
            r.after(false, Duration::ZERO, false);
        }
        // Up, but only briefly: still backing off.
        let d = r.after(true, STABLE, false);
        assert!(within(d, Duration::from_secs(16)), "{d:?}");
        // Up for longer than STABLE: back to the first delay.
        let d = r.after(true, STABLE + Duration::from_secs(1), false);
        assert!(within(d, BASE), "{d:?}");
        // Never connected, however long the attempt took: no reset.
        let d = r.after(false, Duration::from_secs(600), false);
        assert!(within(d, Duration::from_secs(2)), "{d:?}");
    }

    #[test]
    fn a_refusal_retries_at_the_slowest_pace() {
        let mut r = Retry::new(BASE);
        let d = r.after(true, Duration::ZERO, true);
        assert!(within(d, Duration::from_secs(30)), "{d:?}");
        // A quick base does not make refusals quick.
        let mut r = Retry::new(Duration::from_millis(100));
        let d = r.after(false, Duration::ZERO, true);
        assert!(within(d, Duration::from_secs(30)), "{d:?}");
    }

    fn client() -> (Client, mpsc::Receiver<Event>, mpsc::Sender<SourceCommand>) {
        let (out, events) = mpsc::channel(16);
        let (commands, rx) = mpsc::channel(16);
        let c = Client::new(StreamSettings::new("ws://127.0.0.1:9/ws", None), out, rx);
        (c, events, commands)
    }

    #[tokio::test]
    async fn the_wait_runs_out_without_commands() {
        let (mut c, _events, _commands) = client();
        let until = Instant::now() + Duration::from_millis(20);
        assert_eq!(wait_out(&mut c, until).await, Waited::Due);
    }

    #[tokio::test]
    async fn a_refresh_retries_at_once() {
        let (mut c, _events, commands) = client();
        commands.send(SourceCommand::RefreshNow).await.unwrap();
        // An hour's delay: only the refresh can end this wait (the bound
        // only keeps a broken build from hanging).
        let until = Instant::now() + Duration::from_secs(3600);
        let waited = tokio::time::timeout(Duration::from_secs(60), wait_out(&mut c, until)).await;
        assert_eq!(waited.ok(), Some(Waited::Refresh));
    }

    #[tokio::test]
    async fn commands_are_answered_while_waiting() {
        let (mut c, mut events, commands) = client();
        commands
            .send(SourceCommand::SetWindow(Duration::from_secs(3600)))
            .await
            .unwrap();
        let (reply, answer) = tokio::sync::oneshot::channel();
        commands
            .send(SourceCommand::Acknowledge { id: 7, reply })
            .await
            .unwrap();
        drop(commands);
        let until = Instant::now() + Duration::from_millis(20);
        assert_eq!(wait_out(&mut c, until).await, Waited::Due);
        let ack = answer.await.unwrap().unwrap_err();
        assert!(ack.contains("--database-url"), "{ack}");
        match events.try_recv() {
            Ok(Event::Update(Update::Source(s))) => {
                let note = s.last_error.unwrap();
                assert!(note.contains("not applied"), "{note}");
            }
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn the_wait_stops_when_the_consumer_is_gone() {
        let (mut c, events, commands) = client();
        drop(events);
        commands
            .send(SourceCommand::SetWindow(Duration::from_secs(60)))
            .await
            .unwrap();
        let until = Instant::now() + Duration::from_secs(3600);
        let waited = tokio::time::timeout(Duration::from_secs(60), wait_out(&mut c, until)).await;
        assert_eq!(waited.ok(), Some(Waited::Stop));
    }
}
