//! The stream source: follows a server over WebSocket (`ws://` or `wss://`,
//! with `Authorization: Bearer` when a token is set) and sends what it hears
//! to the store as [`Update`]s. It speaks both
//!
//! 1. jfmon's hub protocol (`jfmon serve`): a greeting, the hub's full state
//!    as a reset, then every update the hub's poller produces — so the store
//!    ends up exactly as the hub's, percentiles included; and
//! 2. the platform's own `/api/monitoring/ws` stream of `system_health`
//!    frames, mapped by [`crate::wire::platform`].
//!
//! Frames it cannot use (unknown types, malformed JSON, binary frames, frames
//! over the size limit) are counted in [`SourceStatus::skipped`] and skipped;
//! the connection stays up. A message beyond twice the limit cannot even be
//! received: the connection is dropped and made again. When the connection
//! breaks it reconnects with capped exponential backoff and jitter, reporting
//! the stream down meanwhile (the store keeps its last data); a hub's reset on
//! reconnect resynchronises everything.
//!
//! [`run_with_database`] combines the stream with a database poller for
//! `--ws` given together with a database URL.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Command, SourceLink, backoff, wait_or_command};
use crate::model::{SourceId, SourceStatus, Update};
use crate::redact::redact_url;
use crate::wire::platform;
use crate::wire::protocol::{self, Frame};

/// How to follow a stream.
#[derive(Clone)]
pub struct StreamSettings {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Sent as `Authorization: Bearer`; never logged.
    pub token: Option<String>,
    /// Messages longer than this are counted and skipped (the connection
    /// stays); longer than twice this, the connection is dropped.
    pub max_message_bytes: usize,
    pub connect_timeout: Duration,
    /// Reconnect when nothing (not even a ping) arrives for this long.
    pub idle_timeout: Duration,
    /// First retry delay; doubles up to 30 s, with jitter.
    pub retry_base: Duration,
    /// Extra certificates (PEM) trusted for `wss://` besides the web roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for StreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSettings")
            .field("url", &redact_url(&self.url))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("max_message_bytes", &self.max_message_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("retry_base", &self.retry_base)
            .finish()
    }
}

impl StreamSettings {
    pub fn new(url: impl Into<String>, token: Option<String>) -> Self {
        StreamSettings {
            url: url.into(),
            token,
            max_message_bytes: protocol::DEFAULT_MAX_MESSAGE,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            retry_base: Duration::from_secs(1),
            ca_file: None,
        }
    }

    /// From the configuration, when it names a stream.
    pub fn from_config(cfg: &crate::config::Config) -> Option<Self> {
        cfg.ws_url.as_ref().map(|u| StreamSettings {
            ca_file: cfg.ws_ca_file.clone(),
            ..StreamSettings::new(u.clone(), cfg.ws_token.clone())
        })
    }

    /// Hard limit given to the WebSocket reader.
    fn hard_limit(&self) -> usize {
        self.max_message_bytes
            .saturating_mul(2)
            .max(self.max_message_bytes + (1 << 20))
    }
}

/// Where the stream reads from, for the header: the URL without user info
/// or secret query parameters.
pub fn target_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => redact_url(url),
    }
}

/// What kind of server the stream is connected to (for [`run_with_database`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Disconnected,
    Hub,
    Platform,
}

/// What the stream task hands on: updates, and (in band, so ordered with
/// them) changes of the kind of server it is connected to.
enum Event {
    Update(Update),
    Kind(Kind),
}

/// Follow the stream until the update channel closes.
pub async fn run(settings: StreamSettings, link: SourceLink) {
    let SourceLink { updates, commands } = link;
    let (tx, mut rx) = mpsc::channel(super::UPDATE_CHANNEL);
    let _task = AbortOnDrop(tokio::spawn(run_events(settings, tx, commands)));
    while let Some(e) = rx.recv().await {
        if let Event::Update(u) = e
            && updates.send(u).await.is_err()
        {
            break;
        }
    }
}

/// Ends the inner task however the outer one ends (returned or aborted).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a connection ended.
enum End {
    /// The consumer is gone: stop.
    Stop,
    /// Lost; reconnect after backoff.
    Lost(String),
    /// The server speaks another protocol version: retry only slowly.
    Refused(String),
}

struct Client {
    settings: StreamSettings,
    out: mpsc::Sender<Event>,
    commands: Option<mpsc::Receiver<Command>>,
    status: SourceStatus,
    /// When the last status was sent, and what it said apart from `last_ok`.
    sent_at: Option<Instant>,
    sent: Option<SourceStatus>,
    /// A note for the user (e.g. about the window) and when it expires.
    note_until: Option<Instant>,
    hub_window: Option<u64>,
    kind: Kind,
}

impl Client {
    async fn emit(&mut self, e: Event) -> bool {
        self.out.send(e).await.is_ok()
    }

    async fn set_kind(&mut self, k: Kind) -> bool {
        if self.kind == k {
            return true;
        }
        self.kind = k;
        self.emit(Event::Kind(k)).await
    }

    /// Send the status if it changed, or (when only `last_ok` moved) at most
    /// once a second.
    async fn report(&mut self, force: bool) -> bool {
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

    /// Handle one command; `connected` tells whether a retry is pending.
    async fn command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::RefreshNow => {}
            Command::SetWindow(w) => {
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
            Command::Acknowledge { reply, .. } => {
                let _ = reply.send(Err(
                    "acknowledge through the hub is not supported; connect to the database (--database-url) to acknowledge alerts".into(),
                ));
            }
            Command::SessionContext { reply, .. } => {
                let _ = reply.send(Err(
                    "session timelines are not streamed; connect to the database (--database-url) to see them".into(),
                ));
            }
        }
        true
    }

    async fn connect(
        &self,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        String,
    > {
        let mut req = self
            .settings
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("invalid stream URL: {e}"))?;
        if let Some(t) = &self.settings.token {
            let mut v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                "the stream token contains characters a header cannot carry".to_string()
            })?;
            v.set_sensitive(true);
            req.headers_mut().insert("authorization", v);
        }
        let hard = self.settings.hard_limit();
        let config = WebSocketConfig::default()
            .max_message_size(Some(hard))
            .max_frame_size(Some(hard));
        let connector = match &self.settings.ca_file {
            Some(p) => Some(tokio_tungstenite::Connector::Rustls(
                super::ca::client_config(p)?,
            )),
            None => None,
        };
        let fut =
            tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, connector);
        match tokio::time::timeout(self.settings.connect_timeout, fut).await {
            Err(_) => Err(format!(
                "timed out connecting to {} after {}",
                self.status.target,
                crate::duration::format_duration(self.settings.connect_timeout)
            )),
            Ok(Err(e)) => Err(describe(&e, &self.status.target)),
            Ok(Ok((ws, _))) => Ok(ws),
        }
    }

    /// One connection, until it ends.
    async fn session(&mut self) -> End {
        let mut ws = match self.connect().await {
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
            let go_on = match msg {
                Message::Text(t) => {
                    if t.len() > self.settings.max_message_bytes {
                        self.skip("over the size limit");
                        if self.kind == Kind::Hub {
                            // A hub frame may have been an update: without it
                            // the store would drift from the hub's. Resync.
                            let _ = ws.close(None).await;
                            return End::Lost(
                                "a hub message over the size limit was skipped; resynchronising"
                                    .into(),
                            );
                        }
                        true
                    } else {
                        match self.frame(protocol::parse(t.as_str())).await {
                            Ok(ok) => ok,
                            Err(end) => {
                                let _ = ws.close(None).await;
                                return end;
                            }
                        }
                    }
                }
                Message::Binary(_) => {
                    self.skip("binary frame");
                    true
                }
                Message::Close(f) => {
                    let why = f
                        .map(|f| {
                            format!(
                                "the server closed the stream: {} ({})",
                                f.reason,
                                u16::from(f.code)
                            )
                        })
                        .unwrap_or_else(|| "the server closed the stream".into());
                    return End::Lost(why);
                }
                // Pings are answered by the library; pongs need nothing.
                _ => true,
            };
            if !go_on || !self.report(false).await {
                return End::Stop;
            }
        }
    }

    /// Act on one parsed frame. `Ok(false)`: stop; `Err`: end the connection.
    async fn frame(&mut self, f: Frame) -> Result<bool, End> {
        match f {
            Frame::Hello {
                server,
                window_secs,
            } => {
                tracing::info!(%server, window_secs, "hub says hello");
                self.hub_window = Some(window_secs);
                Ok(self.set_kind(Kind::Hub).await)
            }
            Frame::Update(u) => {
                match *u {
                    // Our own slot in the store is ours to fill.
                    Update::Source(s) if s.id == SourceId::Stream => {
                        self.skip("stream status from the server");
                        Ok(true)
                    }
                    mut u => {
                        let now = Utc::now();
                        if !protocol::sanitize(&mut u, now) {
                            self.skip("update dated out of range");
                            // Applying later updates without this one would
                            // drift from the hub's state: resynchronise.
                            return Err(End::Lost(
                                "a hub update was out of range and skipped; resynchronising".into(),
                            ));
                        }
                        if self.kind != Kind::Hub && !self.set_kind(Kind::Hub).await {
                            return Ok(false);
                        }
                        self.status.last_ok = Some(now);
                        Ok(self.emit(Event::Update(u)).await)
                    }
                }
            }
            Frame::SystemHealth(h) => {
                if !self.set_kind(Kind::Platform).await {
                    return Ok(false);
                }
                let now = Utc::now();
                self.status.last_ok = Some(now);
                let b = platform::to_batch(&h, now);
                Ok(self.emit(Event::Update(Update::Batch(Box::new(b)))).await)
            }
            Frame::Unsupported {
                version,
                hello: true,
            } => Err(End::Refused(format!(
                "the server speaks jfmon hub protocol v{version}; this jfmon understands v{} — use a matching jfmon version",
                protocol::VERSION
            ))),
            Frame::Unsupported { .. } => {
                self.skip("unsupported protocol version");
                Ok(true)
            }
            Frame::Unknown { kind } => {
                self.skip(&format!("unknown type {kind}"));
                Ok(true)
            }
            Frame::Malformed(e) => {
                self.skip(&format!("malformed: {e}"));
                if self.kind == Kind::Hub {
                    return Err(End::Lost(
                        "a malformed hub message was skipped; resynchronising".into(),
                    ));
                }
                Ok(true)
            }
        }
    }
}

/// One line for a WebSocket failure (never the token: it is only in a header).
fn describe(e: &tungstenite::Error, target: &str) -> String {
    use tungstenite::Error as E;
    match e {
        E::Http(resp) => {
            let code = resp.status();
            match code.as_u16() {
                401 | 403 => format!(
                    "{target} refused the token (HTTP {code}) — check --ws-token / JFMON_WS_TOKEN"
                ),
                404 => format!("{target} has no stream at this path (HTTP 404)"),
                _ => format!("{target} answered HTTP {code} instead of a WebSocket"),
            }
        }
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("cannot reach {target}: connection refused — is the hub running?")
            }
            _ => format!("connection to {target} failed: {io}"),
        },
        E::Tls(t) => format!("TLS with {target} failed: {t}"),
        E::Url(u) => format!("invalid stream URL: {u}"),
        E::ConnectionClosed | E::AlreadyClosed => "the connection was closed".into(),
        E::Protocol(p) => format!("{target} broke the WebSocket protocol: {p}"),
        other => format!("stream error: {other}"),
    }
}

async fn run_events(
    settings: StreamSettings,
    out: mpsc::Sender<Event>,
    commands: mpsc::Receiver<Command>,
) {
    let target = target_of(&settings.url);
    let mut c = Client {
        status: SourceStatus::new(SourceId::Stream, target),
        settings,
        out,
        commands: Some(commands),
        sent_at: None,
        sent: None,
        note_until: None,
        hub_window: None,
        kind: Kind::Disconnected,
    };
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let end = c.session().await;
        let (why, refused) = match end {
            End::Stop => return,
            End::Lost(w) => (w, false),
            End::Refused(w) => (w, true),
        };
        tracing::warn!(error = %why, "stream down");
        // A connection that lasted a while earns a fresh backoff.
        if c.status.up && started.elapsed() > Duration::from_secs(30) {
            failures = 0;
        }
        failures += 1;
        c.status.up = false;
        c.status.last_error = Some(why);
        c.note_until = None;
        if !c.set_kind(Kind::Disconnected).await || !c.report(true).await {
            return;
        }
        let delay = if refused {
            backoff(10, c.settings.retry_base)
        } else {
            backoff(failures, c.settings.retry_base)
        };
        let until = Instant::now() + delay;
        // Wait out the delay, answering commands; RefreshNow retries at once.
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match wait_or_command(left, &mut c.commands).await {
                None => {
                    if c.commands.is_none() || Instant::now() >= until {
                        // Closed command channel: just sleep out the rest.
                        tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
                        break;
                    }
                }
                Some(Command::RefreshNow) => break,
                Some(cmd) => {
                    if !c.command(cmd).await {
                        return;
                    }
                }
            }
        }
    }
}

/// The far end of a source's link: what a consumer holds.
pub struct Peer {
    pub updates: mpsc::Receiver<Update>,
    pub commands: mpsc::Sender<Command>,
}

/// A fresh link and its far end.
pub fn link_pair() -> (SourceLink, Peer) {
    let (utx, urx) = mpsc::channel(super::UPDATE_CHANNEL);
    let (ctx, crx) = mpsc::channel(16);
    (
        SourceLink {
            updates: utx,
            commands: crx,
        },
        Peer {
            updates: urx,
            commands: ctx,
        },
    )
}

/// A stream and a database poller (`db`, e.g. [`super::postgres::run`] on the
/// other end) feeding one store, without counting anything twice:
///
/// * while the stream is a connected jfmon hub, the hub's data is the store's
///   (pushed at once, percentiles exact) and the poller's batches are dropped;
/// * otherwise the poller's data is the store's; when the hub goes away the
///   poller is told to reload its whole window (its next batch is a reset), and
///   when a hub (re)connects its reset replaces everything;
/// * the platform's `system_health` frames carry nothing the database lacks, so
///   with a database each one just makes the poller poll now (at most once a
///   second): changes reach the screen at once;
/// * statuses of both are passed on (the hub's own database status is
///   dropped: the screen shows its own connection);
/// * commands go to the poller (acknowledging needs the database).
pub async fn run_with_database(
    settings: StreamSettings,
    db: Peer,
    window: Duration,
    link: SourceLink,
) {
    let SourceLink {
        updates,
        mut commands,
    } = link;
    let Peer {
        updates: mut db_updates,
        commands: db_commands,
    } = db;
    let (tx, mut stream) = mpsc::channel(super::UPDATE_CHANNEL);
    let (_stream_cmd_tx, stream_cmd_rx) = mpsc::channel(1);
    let _task = AbortOnDrop(tokio::spawn(run_events(settings, tx, stream_cmd_rx)));
    let mut window = window;
    let mut kind = Kind::Disconnected;
    let mut last_refresh: Option<Instant> = None;
    let mut commands_open = true;
    let mut stream_open = true;
    loop {
        tokio::select! {
            e = stream.recv(), if stream_open => match e {
                None => stream_open = false,
                Some(Event::Kind(k)) => {
                    if kind == Kind::Hub && k != Kind::Hub {
                        // Back to the database: reload the window, now.
                        let _ = db_commands.send(Command::SetWindow(window)).await;
                        let _ = db_commands.send(Command::RefreshNow).await;
                    }
                    kind = k;
                }
                Some(Event::Update(u)) => {
                    let forward = match &u {
                        Update::Source(s) => s.id == SourceId::Stream,
                        Update::Batch(_) => kind == Kind::Hub,
                    };
                    if kind == Kind::Platform && matches!(u, Update::Batch(_))
                        && last_refresh.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                    {
                        last_refresh = Some(Instant::now());
                        let _ = db_commands.try_send(Command::RefreshNow);
                    }
                    if forward && updates.send(u).await.is_err() {
                        break;
                    }
                }
            },
            u = db_updates.recv() => match u {
                None => break,
                Some(u) => {
                    let forward = match &u {
                        Update::Source(_) => true,
                        Update::Batch(_) => kind != Kind::Hub,
                    };
                    if forward && updates.send(u).await.is_err() {
                        break;
                    }
                }
            },
            c = commands.recv(), if commands_open => match c {
                None => commands_open = false,
                Some(c) => {
                    if let Command::SetWindow(w) = &c {
                        window = *w;
                    }
                    if db_commands.send(c).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
}
