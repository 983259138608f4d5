//! Accepting the hub's connections: at most [`HubSettings::max_conns_per_addr`]
//! open at once from one client address (more are answered 503 and closed),
//! request headers within [`HubSettings::header_timeout`] (a client that
//! starts a request and never finishes it, or leaves a connection idle
//! between requests, is disconnected), HTTP/1.1 with WebSocket upgrades, and
//! a graceful stop. A connection's slot is held by its socket, so it stays
//! counted after an upgrade to a WebSocket, until that closes.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{mpsc, watch};

use super::Hub;

/// How long a stop waits for requests in flight (WebSockets are closed by the hub).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Longest the refusal may take to write.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// What a client over its address's cap is told before the connection closes.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
Content-Type: text/plain\r\nContent-Length: 40\r\n\r\ntoo many connections from your address\r\n";

/// Accept and serve `app` until `shutdown` resolves; then stop accepting,
/// let requests in flight finish (up to [`STOP_GRACE`]) and return.
pub async fn serve<L>(
    hub: &Hub,
    mut listener: L,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let settings = hub.settings();
    let slots = Slots::new(settings.max_conns_per_addr);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender: when all are gone, all ended.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            c = listener.accept() => c,
        };
        let Some(slot) = slots.take(peer.ip()) else {
            hub.counters()
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "refused: too many connections from this address");
            // Best effort, waiting on the client only briefly.
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(REFUSAL_WRITE, stream.write_all(TOO_MANY)).await;
            });
            continue;
        };
        let io = TokioIo::new(Counted {
            stream,
            _slot: slot,
        });
        let service = TowerToHyperService::new(app.clone());
        let timeout = settings.header_timeout;
        let mut stop = stop_rx.clone();
        let alive = alive_tx.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(io, service)
                .with_upgrades();
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                if e.is_timeout() {
                    hub.counters()
                        .header_timeouts
                        .fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(alive);
        });
    }
    let _ = stop_tx.send(true);
    drop(alive_tx);
    let _ = tokio::time::timeout(STOP_GRACE, alive_rx.recv()).await;
    Ok(())
}

/// Open connections per client address; an IPv6 client counts by its /64
/// (one host usually holds a whole /64).
struct Slots {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Slots {
    fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            key,
        })
    }
}

fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !0u128 >> 64 << 64)),
        },
    }
}

/// One counted connection; released when the socket is dropped.
struct Slot {
    slots: Arc<Slots>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A socket that holds its slot for as long as it lives.
struct Counted<S> {
    stream: S,
    _slot: Slot,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_address_and_released() {
        let slots = Slots::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = slots.take(a).unwrap();
        let _s2 = slots.take(a).unwrap();
        assert!(slots.take(a).is_none(), "a third from the same address");
        assert!(slots.take(b).is_some(), "another address is not affected");
        drop(s1);
        assert!(
            slots.take(a).is_some(),
            "a closed connection frees its slot"
        );
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_v4_as_v4() {
        let k = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:10.0.0.1"), k("10.0.0.1"));
    }
}
