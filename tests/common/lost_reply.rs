//! A loopback TCP proxy to PostgreSQL that loses the reply to one
//! statement: once armed with a marker (text of the statement), it forwards
//! the next Execute after the marker to the server, swallows everything the
//! server answers up to its ReadyForQuery (by then an autocommit statement
//! has committed), and then closes the connection. The client sees its
//! connection drop after a write the server committed.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An unnamed portal's Execute with no row limit.
const EXECUTE: &[u8] = &[b'E', 0, 0, 0, 9, 0, 0, 0, 0, 0];
/// ReadyForQuery's header (the status byte follows).
const READY: &[u8] = &[b'Z', 0, 0, 0, 5];

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a connection is doing with the armed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Forwarding both ways.
    Passing,
    /// The marker went by: the next Execute is the statement's.
    Marked,
    /// Its Execute went to the server: replies are swallowed until ready.
    Swallowing,
}

pub struct LostReply {
    pub port: u16,
    armed: Arc<Mutex<Option<Vec<u8>>>>,
}

impl LostReply {
    pub async fn start(target: &str) -> LostReply {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let armed: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let target = target.to_owned();
        let armed2 = armed.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, armed2.clone()));
            }
        });
        LostReply { port, armed }
    }

    /// Lose the reply to the next statement whose text contains `marker`.
    pub fn arm(&self, marker: &str) {
        *self.armed.lock().unwrap() = Some(marker.as_bytes().to_vec());
    }

    /// Whether the armed statement went by since [`LostReply::arm`].
    pub fn fired(&self) -> bool {
        self.armed.lock().unwrap().is_none()
    }
}

async fn pipe(client: TcpStream, server: TcpStream, armed: Arc<Mutex<Option<Vec<u8>>>>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let phase = Arc::new(Mutex::new(Phase::Passing));
    let up_phase = phase.clone();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            {
                let mut p = up_phase.lock().unwrap();
                let mut armed = armed.lock().unwrap();
                if *p == Phase::Passing
                    && let Some(m) = armed.as_ref()
                    && find(chunk, m).is_some()
                {
                    *armed = None;
                    *p = Phase::Marked;
                }
                if *p == Phase::Marked && find(chunk, EXECUTE).is_some() {
                    *p = Phase::Swallowing;
                }
            }
            if sw.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            if *phase.lock().unwrap() == Phase::Swallowing {
                if find(chunk, READY).is_some() {
                    // Committed; the client never hears of it.
                    return;
                }
                continue;
            }
            if cw.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    // Either side ending closes both (dropping the halves).
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}
