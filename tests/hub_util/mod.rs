//! Helpers for the hub and stream tests: an in-process hub on a loopback
//! port, stream followers with their own stores, a bare HTTP/1.1 GET, and
//! waiting with a deadline.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use jfmon::hub::{Hub, HubSettings, http};
use jfmon::model::{Snapshot, SourceId, SourceStatus, Update};
use jfmon::source::stream::{self, StreamSettings};
use jfmon::source::{SourceHandle, link_pair};
use jfmon::store::State;
use jfmon::store::Thresholds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const WINDOW: u64 = 15 * 60;

/// A hub served on 127.0.0.1 (an ephemeral port unless given).
pub struct Served {
    pub hub: Hub,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    pub async fn start(settings: HubSettings) -> Served {
        Self::start_on(settings, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(settings: HubSettings, addr: SocketAddr) -> Served {
        let hub = Hub::new(settings);
        let listener = bind_retrying(addr).await;
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(hub.clone(), listener, async move {
            let _ = stopped.await;
        }));
        Served {
            hub,
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/monitoring/ws", self.addr)
    }

    /// Graceful stop: close frames to clients, then the server returns.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}

/// Bind, retrying briefly (a port just released may still be in use).
pub async fn bind_retrying(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot bind {addr}");
}

pub fn hub_settings() -> HubSettings {
    HubSettings::new(WINDOW, Thresholds::default())
}

pub fn stream_settings(url: &str, token: Option<&str>) -> StreamSettings {
    let mut s = StreamSettings::new(url, token.map(str::to_owned));
    s.retry_base = Duration::from_millis(100);
    s.connect_timeout = Duration::from_secs(3);
    s
}

/// A dashboard's store following a stream through `source::stream::run`.
pub struct Follower {
    pub state: State,
    pub peer: SourceHandle,
    task: JoinHandle<()>,
}

impl Follower {
    pub fn start(settings: StreamSettings) -> Follower {
        let (link, peer) = link_pair();
        let task = tokio::spawn(stream::run(settings, link));
        Follower {
            state: State::new(WINDOW, Thresholds::default()),
            peer,
            task,
        }
    }

    /// A store fed by any source task whose far end is `peer`.
    pub fn from_parts(peer: SourceHandle, task: JoinHandle<()>) -> Follower {
        Follower {
            state: State::new(WINDOW, Thresholds::default()),
            peer,
            task,
        }
    }

    /// Apply whatever arrives during `ms` milliseconds.
    pub async fn drain_for(&mut self, ms: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while let Ok(Some(u)) = tokio::time::timeout_at(deadline, self.peer.updates.recv()).await {
            self.state.apply(u);
        }
    }

    /// Apply updates until `pred` holds; panics after `secs` seconds.
    pub async fn until(&mut self, what: &str, secs: u64, pred: impl Fn(&State) -> bool) {
        let state = &mut self.state;
        let rx = &mut self.peer.updates;
        let wait = async {
            while !pred(state) {
                let u = rx.recv().await.expect("stream source alive");
                state.apply(u);
            }
        };
        if tokio::time::timeout(Duration::from_secs(secs), wait)
            .await
            .is_err()
        {
            panic!(
                "gave up waiting for: {what}; stream status: {:?}",
                self.state.source(SourceId::Stream)
            );
        }
    }

    pub fn stream(&self) -> Option<&SourceStatus> {
        self.state.source(SourceId::Stream)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// A hub-side status with a marker, to know when a client has caught up.
pub fn marker(n: u64) -> Update {
    let mut s = SourceStatus::new(SourceId::Postgres, "test-db:5432/x");
    s.up = true;
    s.poll_ms = Some(n as f64);
    s.last_ok = Some(chrono::Utc::now());
    Update::Source(s)
}

pub fn has_marker(s: &State, n: u64) -> bool {
    s.source(SourceId::Postgres)
        .is_some_and(|p| p.poll_ms == Some(n as f64))
}

/// A snapshot without the parts that differ by design between stores.
pub fn comparable(s: &State) -> Snapshot {
    let mut snap = s.snapshot();
    snap.sources.clear();
    snap
}

/// A bare HTTP/1.1 GET: status code and body.
pub async fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (code, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Wait until `f` holds (polling), panicking after `secs`.
pub async fn eventually(what: &str, secs: u64, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
