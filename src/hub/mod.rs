//! The hub behind `jfmon serve`: one source (the incremental PostgreSQL
//! poller) feeds one [`State`], and every update it produces is encoded once
//! and fanned out to any number of WebSocket clients, each of which first
//! receives the hub's whole state as a reset. A client applying these to its
//! own store ends up with exactly the hub's state (see `docs/PROTOCOL.md`).
//!
//! Fan-out never waits for a client: each has a bounded queue, and a client
//! whose queue is full (or whose socket stays blocked past the send timeout)
//! is dropped with a close frame saying why. Memory per client is therefore
//! bounded by its queue of shared, reference-counted frames.

pub mod conn;
pub mod http;
pub mod metrics;
pub mod tls;
pub mod view;
pub mod web;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use crate::model::Update;
use crate::source::SourceCommand;
use crate::store::State;
use crate::store::Thresholds;
use crate::wire::protocol;

/// How the hub treats its clients.
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub window_secs: u64,
    pub thresholds: Thresholds,
    /// Frames queued per client before it counts as too slow.
    pub client_queue: usize,
    /// Longest a single frame may take to write before the client counts as stuck.
    pub send_timeout: Duration,
    /// Ping idle clients this often (keeps proxies open, detects dead peers).
    pub ping_interval: Duration,
    /// Largest message accepted from a client (clients have nothing to say).
    pub max_incoming: usize,
    /// Approximate size of each part of a full-state reset.
    pub reset_chunk_bytes: usize,
    /// Bearer token required on everything but `/healthz` and the page's assets.
    pub token: Option<String>,
    /// Refuse writes (acknowledging an alert from the page).
    pub read_only: bool,
    /// Serving HTTPS (the session cookie is `Secure` then).
    pub tls: bool,
    /// Longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// Most connections open at once from one client address.
    pub max_conns_per_addr: usize,
}

impl HubSettings {
    pub fn new(window_secs: u64, thresholds: Thresholds) -> Self {
        HubSettings {
            window_secs,
            thresholds,
            client_queue: 256,
            send_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            max_incoming: 64 * 1024,
            reset_chunk_bytes: 1 << 20,
            token: None,
            read_only: false,
            tls: false,
            header_timeout: Duration::from_secs(10),
            max_conns_per_addr: 64,
        }
    }
}

/// Counters for `/metrics` and the benchmark.
#[derive(Debug, Default)]
pub struct HubCounters {
    pub updates: AtomicU64,
    pub frames_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub clients_accepted: AtomicU64,
    pub clients_dropped_slow: AtomicU64,
    /// Connections refused for being over their address's cap.
    pub connections_refused: AtomicU64,
    /// Connections closed for not sending their headers in time.
    pub header_timeouts: AtomicU64,
}

struct Client {
    queue: mpsc::Sender<Utf8Bytes>,
    /// A web page: gets `view` messages instead of the raw updates.
    view: bool,
    kick: Option<oneshot::Sender<String>>,
}

/// A full-state reset, encoded, for the state version it was taken at.
struct ResetCache {
    version: u64,
    frames: Arc<Vec<Utf8Bytes>>,
}

struct Inner {
    state: State,
    clients: HashMap<u64, Client>,
    next_id: u64,
    reset: Option<ResetCache>,
}

pub(crate) struct Shared {
    settings: HubSettings,
    inner: Mutex<Inner>,
    counters: HubCounters,
    /// `true` once the hub is shutting down (clients get close frames).
    closing: watch::Sender<bool>,
    /// Where writes (acknowledge) go: the source's command channel.
    commands: OnceLock<mpsc::Sender<SourceCommand>>,
    /// The alerting's role, rule alerts and receivers (`jfmon serve`).
    alerting: OnceLock<Arc<crate::alerting::status::Status>>,
}

/// A handle on the hub; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

/// What a newly connected client is sent before the live updates.
pub(crate) struct Subscription {
    pub id: u64,
    pub hello: Utf8Bytes,
    pub reset: Arc<Vec<Utf8Bytes>>,
    pub statuses: Vec<Utf8Bytes>,
    pub queue: mpsc::Receiver<Utf8Bytes>,
    pub kicked: oneshot::Receiver<String>,
}

impl Hub {
    pub fn new(settings: HubSettings) -> Hub {
        let state = State::new(settings.window_secs, settings.thresholds.clone());
        let (closing, _) = watch::channel(false);
        Hub {
            shared: Arc::new(Shared {
                settings,
                inner: Mutex::new(Inner {
                    state,
                    clients: HashMap::new(),
                    next_id: 1,
                    reset: None,
                }),
                counters: HubCounters::default(),
                closing,
                commands: OnceLock::new(),
                alerting: OnceLock::new(),
            }),
        }
    }

    pub fn settings(&self) -> &HubSettings {
        &self.shared.settings
    }

    pub fn counters(&self) -> &HubCounters {
        &self.shared.counters
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the state half-applied
        // in a way that matters more than stopping the hub would.
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Read the hub's state.
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock().state)
    }

    /// Connect the hub to its source's command channel (for acknowledging).
    pub fn set_commands(&self, tx: mpsc::Sender<SourceCommand>) {
        let _ = self.shared.commands.set(tx);
    }

    /// Connect the hub to its alerting's status (served in JSON and `/metrics`).
    pub fn set_alerting(&self, status: Arc<crate::alerting::status::Status>) {
        let _ = self.shared.alerting.set(status);
    }

    /// The alerting's status, when this hub alerts.
    pub fn alerting(&self) -> Option<&crate::alerting::status::Status> {
        self.shared.alerting.get().map(|s| &**s)
    }

    /// Ask the source to acknowledge alert `id`; the error is one line for the user.
    pub async fn acknowledge(&self, id: i64) -> Result<(), String> {
        if self.settings().read_only {
            return Err("the hub is read-only (--read-only): acknowledging is disabled".into());
        }
        let Some(tx) = self.shared.commands.get() else {
            return Err("this hub has no database to write to".into());
        };
        let (reply, answer) = oneshot::channel();
        tx.send(SourceCommand::Acknowledge { id, reply })
            .await
            .map_err(|_| "the hub's database source has stopped".to_owned())?;
        let r = answer
            .await
            .map_err(|_| "the hub's database source has stopped".to_owned())?;
        if r.is_ok() {
            let _ = tx.try_send(SourceCommand::RefreshNow);
        }
        r
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.lock().clients.len()
    }

    /// Apply one update and send it to every client.
    pub fn publish(&self, mut update: Update) {
        protocol::make_finite(&mut update);
        // Frames are encoded from the update itself: masked as the store masks.
        crate::store::mask::mask_update(&mut update);
        // A reset (start-up load, window change) can be as large as the whole
        // window: sent in parts like a new client's, so no part exceeds what
        // a client accepts.
        let frames: Vec<Utf8Bytes> = match &update {
            Update::Batch(b) if b.reset => {
                protocol::split_reset((**b).clone(), self.shared.settings.reset_chunk_bytes)
                    .into_iter()
                    .map(|p| protocol::encode_update(&Update::Batch(Box::new(p))).into())
                    .collect()
            }
            _ => vec![protocol::encode_update(&update).into()],
        };
        let len: u64 = frames.iter().map(|f| f.len() as u64).sum();
        let mut g = self.lock();
        if !g.state.apply(update) {
            return; // a repeated status: nothing changed, nothing to send
        }
        self.shared.counters.updates.fetch_add(1, Ordering::Relaxed);
        let view: Vec<Utf8Bytes> = if g.clients.values().any(|c| c.view) {
            vec![view::encode(&g.state, !self.shared.settings.read_only).into()]
        } else {
            Vec::new()
        };
        let mut sent = 0u64;
        g.clients.retain(|id, c| {
            let mut result = Ok(());
            let mine = if c.view { &view } else { &frames };
            for f in mine {
                result = c.queue.try_send(f.clone());
                if result.is_err() {
                    break;
                }
            }
            match result {
                Ok(()) => {
                    sent += !c.view as u64 * frames.len() as u64;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(client = id, "client fell behind; disconnecting it");
                    self.shared
                        .counters
                        .clients_dropped_slow
                        .fetch_add(1, Ordering::Relaxed);
                    if let Some(k) = c.kick.take() {
                        let _ = k.send(format!(
                            "too slow: {} updates queued unread",
                            self.shared.settings.client_queue
                        ));
                    }
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        drop(g);
        let c = &self.shared.counters;
        let per_client = frames.len().max(1) as u64;
        c.frames_sent.fetch_add(sent, Ordering::Relaxed);
        c.bytes_sent
            .fetch_add(sent / per_client * len, Ordering::Relaxed);
    }

    /// Publish everything a source sends until its channel closes.
    pub async fn feed(&self, mut updates: mpsc::Receiver<Update>) {
        while let Some(u) = updates.recv().await {
            self.publish(u);
        }
    }

    /// Register a client: it gets the state as of now, then every later
    /// update (a page, `view`: the view model instead, see [`view`]).
    pub(crate) fn subscribe(&self, view: bool) -> Subscription {
        let (tx, queue) = mpsc::channel(self.shared.settings.client_queue.max(1));
        let (kick, kicked) = oneshot::channel();
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.clients.insert(
            id,
            Client {
                queue: tx,
                view,
                kick: Some(kick),
            },
        );
        let (reset, statuses) = if view {
            let frame: Utf8Bytes = view::encode(&g.state, !self.shared.settings.read_only).into();
            (Arc::new(vec![frame]), Vec::new())
        } else {
            let version = g.state.version();
            let reset = match &g.reset {
                Some(c) if c.version == version => c.frames.clone(),
                _ => {
                    // Encoded under the lock so that no update can slip between
                    // the reset and the queue; cached for the next client.
                    let parts = protocol::split_reset(
                        g.state.to_batch(),
                        self.shared.settings.reset_chunk_bytes,
                    );
                    let frames: Arc<Vec<Utf8Bytes>> = Arc::new(
                        parts
                            .into_iter()
                            .map(|b| protocol::encode_update(&Update::Batch(Box::new(b))).into())
                            .collect(),
                    );
                    g.reset = Some(ResetCache {
                        version,
                        frames: frames.clone(),
                    });
                    frames
                }
            };
            // The hub's current rule alerts too: the store passes on only
            // sets that changed, so a client that connects while an alert
            // fires steadily would otherwise never see it.
            let statuses = g
                .state
                .sources()
                .map(|s| protocol::encode_update(&Update::Source(s.clone())).into())
                .chain(
                    g.state
                        .rule_alerts_update()
                        .map(|u| protocol::encode_update(&u).into()),
                )
                .collect();
            (reset, statuses)
        };
        let hello = protocol::encode_hello(g.state.window_secs()).into();
        drop(g);
        self.shared
            .counters
            .clients_accepted
            .fetch_add(1, Ordering::Relaxed);
        Subscription {
            id,
            hello,
            reset,
            statuses,
            queue,
            kicked,
        }
    }

    pub(crate) fn unsubscribe(&self, id: u64) {
        self.lock().clients.remove(&id);
    }

    /// Ask every client to close (close frame "hub shutting down").
    pub fn shutdown(&self) {
        let _ = self.shared.closing.send(true);
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.shared.closing.subscribe()
    }

    /// Wait until every client is gone, at most `limit`.
    pub async fn drained(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.clients() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the data is stale: no source is up (the database went away,
    /// or the hub has not loaded anything yet).
    pub fn stale(state: &State) -> bool {
        !state.sources().any(|s| s.up) || !state.has_data()
    }
}
