//! One connection's life: the stream source's status (sent when it changes,
//! or at most once a second when only `last_ok` moves), answers to the
//! dashboard's commands, and the read loop that carries out what
//! [`super::frames`] decides for each message.

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use super::connect::{connect, describe};
use super::frames::{Step, classify};
use super::{Event, Server, StreamSettings};
use crate::model::{SourceId, SourceStatus, Update};
use crate::source::SourceCommand;

/// Why a connection ended.
#[derive(Debug)]
pub(super) enum End {
    /// The consumer is gone: stop.
    Stop,
    /// Lost; reconnect after backoff.
    Lost(String),
    /// The server speaks another protocol version: retry only slowly.
    Refused(String),
}

/// The stream source between and during connections.
pub(super) struct Client {
    pub(super) settings: StreamSettings,
    out: mpsc::Sender<Event>,
    pub(super) commands: Option<mpsc::Receiver<SourceCommand>>,
    pub(super) status: SourceStatus,
    /// When the last status was sent, and what it said apart from `last_ok`.
    sent_at: Option<Instant>,
    sent: Option<SourceStatus>,
    /// A note for the user (e.g. about the window) and when it expires.
    pub(super) note_until: Option<Instant>,
    hub_window: Option<u64>,
    pub(super) server: Server,
}

impl Client {
    pub(super) fn new(
        settings: StreamSettings,
        out: mpsc::Sender<Event>,
        commands: mpsc::Receiver<SourceCommand>,
    ) -> Self {
        let target = super::target_of(&settings.url);
        Client {
            status: SourceStatus::new(SourceId::Stream, target),
            settings,
            out,
            commands: Some(commands),
            sent_at: None,
            sent: None,
            note_until: None,
            hub_window: None,
            server: Server::Disconnected,
        }
    }

    async fn emit(&mut self, e: Event) -> bool {
        self.out.send(e).await.is_ok()
    }

    pub(super) async fn set_server(&mut self, k: Server) -> bool {
        if self.server == k {
            return true;
        }
        self.server = k;
        self.emit(Event::Server(k)).await
    }

    /// Send the status if it changed, or (when only `last_ok` moved) at most
    /// once a second.
    pub(super) async fn report(&mut self, force: bool) -> bool {
        if let Some(until) = self.note_until
            && Instant::now() >= until
        {
            self.note_until = None;
            if self.status.up {
                self.status.last_error = None;
            }
        }
        let mut cmp = self.status.clone();
        if let Some(s) = &self.sent {
            cmp.last_ok = s.last_ok;
        }
        let changed = self.sent.as_ref() != Some(&cmp);
        let due = self
            .sent_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        let ok_moved = self.sent.as_ref().map(|s| s.last_ok) != Some(self.status.last_ok);
        if !(force || changed || (due && ok_moved)) {
            return true;
        }
        self.sent_at = Some(Instant::now());
        self.sent = Some(self.status.clone());
        let s = self.status.clone();
        self.emit(Event::Update(Update::Source(s))).await
    }

    fn skip(&mut self, why: &str) {
        self.status.skipped += 1;
        tracing::debug!(why, "stream frame skipped");
    }

    /// Answer one command; `false` when the consumer is gone.
    pub(super) async fn command(&mut self, cmd: SourceCommand) -> bool {
        match cmd {
            SourceCommand::RefreshNow => {}
            SourceCommand::SetWindow(w) => {
                let hub = self
                    .hub_window
                    .map(|s| crate::duration::format_duration(Duration::from_secs(s)));
                self.status.last_error = Some(match hub {
                    Some(h) => format!(
                        "the window ({h}) is the hub's; {} not applied — change it with `jfmon serve --window`",
                        crate::duration::format_duration(w)
                    ),
                    None => "the stream's server decides the window; change not applied".into(),
                });
                self.note_until = Some(Instant::now() + Duration::from_secs(15));
                return self.report(true).await;
            }
            SourceCommand::Acknowledge { reply, .. } => {
                let _ = reply.send(Err(
                    "acknowledge through the hub is not supported; connect to the database (--database-url) to acknowledge alerts".into(),
                ));
            }
            SourceCommand::SessionContext { reply, .. } => {
                let _ = reply.send(Err(
                    "session timelines are not streamed; connect to the database (--database-url) to see them".into(),
                ));
            }
        }
        true
    }

    /// One connection, until it ends.
    pub(super) async fn session(&mut self) -> End {
        let mut ws = match connect(&self.settings, &self.status.target).await {
            Ok(ws) => ws,
            Err(e) => return End::Lost(e),
        };
        tracing::info!(target = %self.status.target, "stream connected");
        self.status.up = true;
        self.status.last_error = None;
        if !self.report(true).await {
            return End::Stop;
        }
        let idle = self.settings.idle_timeout;
        loop {
            let msg = if let Some(cmds) = self.commands.as_mut() {
                tokio::select! {
                    m = tokio::time::timeout(idle, ws.next()) => m,
                    c = cmds.recv() => {
                        match c {
                            Some(c) => if !self.command(c).await { return End::Stop },
                            None => self.commands = None,
                        }
                        continue;
                    }
                }
            } else {
                tokio::time::timeout(idle, ws.next()).await
            };
            let msg = match msg {
                Err(_) => {
                    return End::Lost(format!(
                        "nothing received for {}; reconnecting",
                        crate::duration::format_duration(idle)
                    ));
                }
                Ok(None) => return End::Lost("the server closed the connection".into()),
                Ok(Some(Err(tungstenite::Error::Capacity(e)))) => {
                    self.skip("over the hard size limit");
                    return End::Lost(format!("a message was too large ({e}); reconnecting"));
                }
                Ok(Some(Err(e))) => return End::Lost(describe(&e, &self.status.target)),
                Ok(Some(Ok(m))) => m,
            };
            let now = Utc::now();
            let step = classify(self.server, msg, self.settings.max_message_bytes, now);
            let go_on = match step {
                Step::Nothing => true,
                Step::Skip(why) => {
                    self.skip(&why);
                    true
                }
                Step::Resync { skipped, why } => {
                    self.skip(&skipped);
                    let _ = ws.close(None).await;
                    return End::Lost(why);
                }
                Step::Refuse(why) => {
                    let _ = ws.close(None).await;
                    return End::Refused(why);
                }
                Step::Closed(why) => return End::Lost(why),
                Step::Hello {
                    server,
                    window_secs,
                } => {
                    tracing::info!(%server, window_secs, "hub says hello");
                    self.hub_window = Some(window_secs);
                    self.set_server(Server::Hub).await
                }
                Step::Apply { from, update } => {
                    self.set_server(from).await && {
                        self.status.last_ok = Some(now);
                        self.emit(Event::Update(update)).await
                    }
                }
            };
            if !go_on || !self.report(false).await {
                return End::Stop;
            }
        }
    }
}
