//! The hub's limits on loopback: a connection that never finishes its
//! request headers is closed after the header timeout; more connections than
//! the per-address cap are refused with 503 while the others keep working;
//! a WebSocket message over the size limit gets close code 1009 with a
//! reason. No timed assertions: each wait has only a generous upper bound.

mod hub_util;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hub_util::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Read until the server closes; what it sent, or a reset.
async fn until_eof(s: &mut TcpStream, secs: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(secs), s.read_to_end(&mut buf))
        .await
        .expect("the hub closed the connection in time")
        .map(|_| buf)
}

#[tokio::test]
async fn unfinished_headers_are_closed_after_the_timeout() {
    let mut s = hub_settings();
    s.header_timeout = Duration::from_millis(300);
    let served = Served::start(s).await;

    // Connected and silent, and connected with half a request.
    let mut silent = Vec::new();
    let mut partial = Vec::new();
    for _ in 0..5 {
        silent.push(TcpStream::connect(served.addr).await.unwrap());
        let mut p = TcpStream::connect(served.addr).await.unwrap();
        p.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        partial.push(p);
    }
    for s in silent.iter_mut().chain(partial.iter_mut()) {
        // EOF or a reset both mean closed; a 408 may come first.
        let _ = until_eof(s, 30).await;
    }
    // A complete request is still served.
    let (code, _) = http_get(served.addr, "/healthz", None).await;
    assert_eq!(code, 200);
    served.stop().await;
}

#[tokio::test]
async fn connections_over_the_per_address_cap_get_503() {
    let mut s = hub_settings();
    s.max_conns_per_addr = 4;
    let served = Served::start(s).await;

    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(served.addr).await.unwrap());
    }
    // The fifth from 127.0.0.1 is refused and closed.
    let mut extra = TcpStream::connect(served.addr).await.unwrap();
    let text = String::from_utf8_lossy(&until_eof(&mut extra, 30).await.unwrap()).into_owned();
    assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
    assert!(text.contains("too many connections"), "{text:?}");

    // Held slots still serve requests (keep-alive on one of them).
    let h = &mut held[0];
    h.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&until_eof(h, 30).await.unwrap()).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");

    // Closing connections frees their slots (eventually: the hub sees the
    // close on its side).
    held.clear();
    let mut ok = false;
    for _ in 0..200 {
        let (code, _) = http_get(served.addr, "/healthz", None).await;
        if code == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "slots were never released");
    served.stop().await;
}

#[tokio::test]
async fn a_websocket_counts_against_the_cap_until_it_closes() {
    let mut s = hub_settings();
    s.max_conns_per_addr = 1;
    let served = Served::start(s).await;
    let (ws, _) = tokio_tungstenite::connect_async(served.ws_url())
        .await
        .unwrap();
    let mut extra = TcpStream::connect(served.addr).await.unwrap();
    let text = String::from_utf8_lossy(&until_eof(&mut extra, 30).await.unwrap()).into_owned();
    assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
    drop(ws);
    served.stop().await;
}

#[tokio::test]
async fn an_oversized_message_gets_close_1009() {
    let mut s = hub_settings();
    s.max_incoming = 1024;
    let served = Served::start(s).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(served.ws_url())
        .await
        .unwrap();
    ws.send(Message::Text("x".repeat(8 * 1024).into()))
        .await
        .unwrap();
    let close = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(c)) => return c,
                Ok(_) => {}
                Err(e) => panic!("no close frame before: {e}"),
            }
        }
        panic!("the stream ended without a close frame");
    })
    .await
    .expect("a close frame in time")
    .expect("the close frame has a code");
    assert_eq!(close.code, CloseCode::Size);
    assert!(close.reason.contains("too big"), "{}", close.reason);
    served.stop().await;
}
