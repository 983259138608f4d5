//! The hub under misbehaving clients and restarts, in process and on
//! loopback: a client that never reads is dropped with a reason while the
//! others keep up; clients that send garbage or vanish mid-frame do not hurt
//! it; a wrong or missing token gets 401 on HTTP and on the WebSocket; a
//! restarted hub resynchronises its clients; the HTTP API and `/metrics`.

mod hub_util;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use futures_util::StreamExt;
use hub_util::*;
use jfmon::aggregate;
use jfmon::model::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

/// A batch of `n` API calls (and a few integration calls) at `now`.
fn batch(seed: u64, n: usize, error_text: usize) -> Batch {
    let now = Utc::now();
    let mut calls = Vec::new();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let failed = x.is_multiple_of(10);
        calls.push(ApiCall {
            id: (seed * 100_000 + i as u64) as i64,
            at: now - TimeDelta::milliseconds((x % 50_000) as i64),
            endpoint: ["/api/a", "/api/b", "/api/c"][(x % 3) as usize].into(),
            method: "GET".into(),
            status_code: Some(if failed { 500 } else { 200 }),
            response_ms: Some((x % 3000) as i32),
            user_id: None,
            error: failed.then(|| "e".repeat(error_text)),
        });
    }
    let ints: Vec<IntegrationCall> = (0..5)
        .map(|i| IntegrationCall {
            id: (seed * 10 + i) as i64,
            at: now,
            integration: "openai".into(),
            operation: None,
            success: i % 2 == 0,
            duration_ms: Some(100 + i as i32),
            status_code: None,
            error: (i % 2 == 1).then(|| "boom".into()),
            session_id: None,
        })
        .collect();
    let mut b = Batch {
        now,
        window_secs: WINDOW,
        ..Default::default()
    };
    aggregate::add_api_calls(&mut b, &calls);
    aggregate::add_integration_calls(&mut b, &ints);
    b
}

fn publish_batch(served: &Served, b: Batch) {
    served.hub.publish(Update::Batch(Box::new(b)));
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_and_the_others_keep_up() {
    let mut s = hub_settings();
    s.client_queue = 32;
    s.send_timeout = Duration::from_secs(3);
    let served = Served::start(s).await;
    publish_batch(&served, batch(1, 50, 10));

    // The stuck client: a small receive buffer, and it never reads.
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(served.addr).await.unwrap();
    let (mut stuck, _) = tokio_tungstenite::client_async(served.ws_url(), tcp)
        .await
        .expect("handshake");

    // Two healthy followers, each reading in its own task.
    let mut fast = Vec::new();
    for _ in 0..2 {
        let mut f = Follower::start(stream_settings(&served.ws_url(), None));
        f.until("connected", 10, |s| s.has_data()).await;
        fast.push(f);
    }
    eventually("3 clients", 5, || served.hub.clients() == 3).await;
    let readers: Vec<_> = fast
        .into_iter()
        .map(|mut f| {
            tokio::spawn(async move {
                f.until("the last update", 60, |s| has_marker(s, 999)).await;
                f
            })
        })
        .collect();

    // ~60 KB per update: the stuck client's buffers fill, then its queue.
    for i in 0..400u64 {
        publish_batch(&served, batch(i + 2, 200, 300));
        if i.is_multiple_of(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    served.hub.publish(marker(999));
    let hub_snap = served.hub.with_state(comparable);
    for r in readers {
        let f = r.await.expect("reader");
        assert_eq!(
            comparable(&f.state),
            hub_snap,
            "a fast client missed updates"
        );
        f.stop();
    }
    eventually("the stuck client dropped", 10, || served.hub.clients() == 2).await;
    assert_eq!(
        served
            .hub
            .counters()
            .clients_dropped_slow
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // The stuck client reads at last: buffered frames, then the end.
    let mut close_reason = None;
    let end = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(m) = stuck.next().await {
            match m {
                Ok(Message::Close(Some(f))) => close_reason = Some(f.reason.to_string()),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the hub ended the stuck connection");
    if let Some(r) = close_reason {
        assert!(r.contains("too slow"), "{r}");
    }
    served.stop().await;
}

#[tokio::test]
async fn garbage_and_vanishing_clients_do_not_hurt_the_hub() {
    let served = Served::start(hub_settings()).await;
    publish_batch(&served, batch(1, 20, 5));
    let mut good = Follower::start(stream_settings(&served.ws_url(), None));
    good.until("data", 10, |s| s.has_data()).await;

    // Not HTTP at all.
    let mut t = TcpStream::connect(served.addr).await.unwrap();
    t.write_all(b"\x16\x03\x01\x00\xa5garbage\r\n\r\n")
        .await
        .unwrap();
    drop(t);
    // A WebSocket handshake, then half a frame, then gone.
    let mut t = TcpStream::connect(served.addr).await.unwrap();
    let hs = format!(
        "GET /monitoring/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        served.addr
    );
    t.write_all(hs.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.write_all(&[0x81, 0xFE, 0x40, 0x00, 1, 2, 3, 4, b'x'])
        .await
        .unwrap();
    drop(t);
    // Unmasked frames (forbidden from clients), then binary junk.
    let mut t = TcpStream::connect(served.addr).await.unwrap();
    t.write_all(hs.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.write_all(&[0x81, 0x03, b'a', b'b', b'c', 0xff, 0x00])
        .await
        .unwrap();
    // A proper client that sends text, binary and an oversized message.
    let (mut noisy, _) = tokio_tungstenite::connect_async(served.ws_url())
        .await
        .unwrap();
    use futures_util::SinkExt;
    noisy.send(Message::text("hello hub?")).await.unwrap();
    noisy.send(Message::binary(vec![0u8; 1000])).await.unwrap();
    let _ = noisy.send(Message::text("z".repeat(1 << 20))).await;

    publish_batch(&served, batch(2, 20, 5));
    served.hub.publish(marker(7));
    good.until("still served", 10, |s| has_marker(s, 7)).await;
    assert_eq!(comparable(&good.state), served.hub.with_state(comparable));
    drop(t);
    drop(noisy);
    eventually("only the good client left", 10, || {
        served.hub.clients() == 1
    })
    .await;
    let (code, _) = http_get(served.addr, "/healthz", None).await;
    assert_eq!(code, 200);
    good.stop();
    served.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_token_is_refused_on_http_and_ws() {
    let mut s = hub_settings();
    s.token = Some("s3cret-token".into());
    let served = Served::start(s).await;
    publish_batch(&served, batch(1, 20, 5));
    served.hub.publish(marker(1));

    for path in [
        "/monitoring/api/metrics",
        "/monitoring/api/health",
        "/monitoring/api/sessions",
        "/monitoring/api/alerts",
        "/monitoring/api/integration/openai",
        "/metrics",
        "/monitoring/ws",
    ] {
        for token in [None, Some("wrong"), Some("s3cret-tokenX"), Some("")] {
            let (code, body) = http_get(served.addr, path, token).await;
            assert_eq!(code, 401, "{path} with {token:?}");
            assert!(body.contains("\"error\""), "{body}");
        }
        if path != "/monitoring/ws" {
            let (code, _) = http_get(served.addr, path, Some("s3cret-token")).await;
            assert_eq!(code, 200, "{path} with the token");
        }
    }
    assert_eq!(http_get(served.addr, "/healthz", None).await.0, 200);

    let mut wrong = Follower::start(stream_settings(&served.ws_url(), Some("nope-nope")));
    wrong
        .until("refused", 10, |s| {
            s.source(SourceId::Stream)
                .is_some_and(|x| x.last_error.is_some())
        })
        .await;
    let err = wrong.stream().unwrap().last_error.clone().unwrap();
    assert!(err.contains("401") && err.contains("token"), "{err}");
    assert!(!err.contains("nope-nope"), "the token leaked: {err}");
    assert!(!wrong.state.has_data());
    wrong.stop();

    let mut right = Follower::start(stream_settings(&served.ws_url(), Some("s3cret-token")));
    right.until("data", 10, |s| has_marker(s, 1)).await;
    right.stop();
    served.stop().await;
}

#[tokio::test]
async fn http_api_and_prometheus_serve_the_hub_state() {
    let served = Served::start(hub_settings()).await;
    let (code, body) = http_get(served.addr, "/monitoring/api/health", None).await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["stale"], true, "nothing loaded yet: stale");

    publish_batch(&served, batch(1, 300, 5));
    let mut b = Batch {
        now: Utc::now(),
        ..Default::default()
    };
    b.sessions = Some(SessionsView {
        active: 4,
        ..Default::default()
    });
    b.alerts = Some(AlertsView {
        items: vec![AlertRow {
            id: 9,
            alert_type: Some("integration_down".into()),
            severity_raw: Some("critical".into()),
            title: Some("OpenAI \"down\"".into()),
            description: None,
            context: Some(serde_json::json!({"integration": "openai"})),
            acknowledged: false,
            acknowledged_by: None,
            acknowledged_at: None,
            created_at: Utc::now(),
        }],
        open_by_severity: [("critical".to_string(), 1u64)].into(),
    });
    publish_batch(&served, b);
    served.hub.publish(marker(3));

    let get = |path: &'static str| {
        let addr = served.addr;
        async move {
            let (code, body) = http_get(addr, path, None).await;
            assert_eq!(code, 200, "{path}: {body}");
            serde_json::from_str::<serde_json::Value>(&body).unwrap()
        }
    };
    let snap = served.hub.with_state(|s| s.snapshot());
    let m = get("/monitoring/api/metrics").await;
    assert_eq!(m["stale"], false);
    assert_eq!(m["window_secs"], WINDOW);
    assert_eq!(
        m["endpoints"],
        serde_json::to_value(&snap.endpoints).unwrap()
    );
    assert_eq!(m["business"], serde_json::to_value(&snap.business).unwrap());
    let h = get("/monitoring/api/health").await;
    assert_eq!(
        h["integrations"],
        serde_json::to_value(&snap.integrations).unwrap()
    );
    assert_eq!(h["sources"][0]["id"], "postgres");
    let s = get("/monitoring/api/sessions").await;
    assert_eq!(s["sessions"]["active"], 4);
    let a = get("/monitoring/api/alerts").await;
    assert_eq!(a["alerts"], serde_json::to_value(&snap.alerts).unwrap());
    assert_eq!(a["open_alerts_by_severity"]["critical"], 1);
    let i = get("/monitoring/api/integration/openai").await;
    assert_eq!(i, serde_json::to_value(&snap.integrations[0]).unwrap());

    let (code, body) = http_get(served.addr, "/monitoring/api/integration/nope", None).await;
    assert_eq!(code, 404);
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(e["error"].as_str().unwrap().contains("nope"));
    assert_eq!(e["known"][0], "openai");
    assert_eq!(http_get(served.addr, "/no/such/path", None).await.0, 404);

    let (code, text) = http_get(served.addr, "/metrics", None).await;
    assert_eq!(code, 200);
    for needle in [
        "# TYPE jfmon_endpoint_request_rate gauge",
        "jfmon_endpoint_requests{endpoint=\"/api/a\",method=\"GET\"}",
        "jfmon_endpoint_latency_p99_seconds{endpoint=\"/api/b\",method=\"GET\"}",
        "jfmon_endpoint_error_ratio{",
        "jfmon_integration_status{integration=\"openai\",status=\"",
        "jfmon_integration_success_ratio{integration=\"openai\"} 0.6",
        "jfmon_active_sessions 4",
        "jfmon_open_alerts{severity=\"critical\"} 1",
        "jfmon_source_up{source=\"postgres\",target=\"test-db:5432/x\"} 1",
        "jfmon_source_last_poll_age_seconds{source=\"postgres\"}",
        "jfmon_hub_clients 0",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
    // Every sample line is `name{labels} value` with a number.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let v = line.rsplit(' ').next().unwrap();
        assert!(v.parse::<f64>().is_ok() || v == "NaN", "{line}");
    }
    let requests: u64 = snap.endpoints.iter().map(|e| e.requests).sum();
    assert_eq!(requests, 300);

    // The source goes down: the same data, marked stale.
    let mut down = SourceStatus::new(SourceId::Postgres, "test-db:5432/x");
    down.last_error = Some("connection refused".into());
    served.hub.publish(Update::Source(down));
    let h = get("/monitoring/api/health").await;
    assert_eq!(h["stale"], true);
    assert_eq!(h["sources"][0]["up"], false);
    let m = get("/monitoring/api/metrics").await;
    assert_eq!(
        m["endpoints"],
        serde_json::to_value(&snap.endpoints).unwrap()
    );
    let (_, text) = http_get(served.addr, "/metrics", None).await;
    assert!(text.contains("jfmon_source_up{source=\"postgres\",target=\"test-db:5432/x\"} 0"));
    served.stop().await;
}

#[tokio::test]
async fn a_restarted_hub_resynchronises_its_clients() {
    let a = Served::start(hub_settings()).await;
    let addr = a.addr;
    publish_batch(&a, batch(1, 500, 5));
    a.hub.publish(marker(1));
    let mut f = Follower::start(stream_settings(&a.ws_url(), None));
    f.until("first hub", 10, |s| has_marker(s, 1)).await;
    let before = comparable(&f.state);
    assert_eq!(before, a.hub.with_state(comparable));

    a.stop().await;
    f.until("stream down", 10, |s| {
        s.source(SourceId::Stream).is_some_and(|x| !x.up)
    })
    .await;
    let err = f.stream().unwrap().last_error.clone().unwrap();
    assert!(err.contains("hub shutting down"), "{err}");
    assert_eq!(comparable(&f.state), before, "last data kept while down");

    // A new hub on the same address with other data.
    let b = Served::start_on(hub_settings(), addr).await;
    publish_batch(&b, batch(2, 120, 5));
    b.hub.publish(marker(2));
    f.until("resynchronised", 20, |s| has_marker(s, 2)).await;
    assert!(f.stream().unwrap().up);
    assert_eq!(comparable(&f.state), b.hub.with_state(comparable));
    let total: u64 = f.state.endpoints().iter().map(|e| e.requests).sum();
    assert_eq!(total, 120, "the old hub's data is gone, not added");
    f.stop();
    b.stop().await;
}
