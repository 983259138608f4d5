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
//! By job: [`connect`] dials the server, [`frames`] decides what each
//! message means, [`client`] runs one connection and keeps the status,
//! [`reconnect`] retries lost connections, and [`combine`] joins the stream
//! with a database poller for `--ws` given together with a database URL
//! ([`run_with_database`]).
//!
//! [`SourceStatus::skipped`]: crate::model::SourceStatus::skipped

mod client;
mod combine;
mod connect;
mod frames;
mod reconnect;

use std::time::Duration;

use tokio::sync::mpsc;

use super::link::{AbortOnDrop, SourceLink, UPDATE_CHANNEL};
use crate::model::Update;
use crate::redact::redact_url;
use crate::wire::protocol;

pub use combine::run_with_database;

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
enum Server {
    Disconnected,
    Hub,
    Platform,
}

/// What the stream task hands on: updates, and (in band, so ordered with
/// them) changes of the kind of server it is connected to.
#[derive(Debug)]
enum Event {
    Update(Update),
    Server(Server),
}

/// Follow the stream until the update channel closes.
pub async fn run(settings: StreamSettings, link: SourceLink) {
    let SourceLink { updates, commands } = link;
    let (tx, mut rx) = mpsc::channel(UPDATE_CHANNEL);
    let _task = AbortOnDrop(tokio::spawn(reconnect::run_events(settings, tx, commands)));
    while let Some(e) = rx.recv().await {
        if let Event::Update(u) = e
            && updates.send(u).await.is_err()
        {
            break;
        }
    }
}
