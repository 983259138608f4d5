//! The stream client against servers that are not a jfmon hub: a tiny test
//! server replays the platform's `system_health` frames (with `no_data`,
//! `database_error` and `error` entries, unknown fields and types), and junk
//! (malformed JSON, binary, oversized frames) that must be counted and
//! skipped without dropping the connection; a hub of an unknown protocol
//! version is refused with a clear message.

mod hub_util;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hub_util::*;
use jfmon::model::{Health, Severity};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket server on loopback that sends, to each connection, the frames
/// it is told to (through `script`), and counts connections.
struct ScriptServer {
    url: String,
    connections: Arc<AtomicUsize>,
    script: mpsc::UnboundedSender<Message>,
}

async fn script_server(first: Vec<Message>) -> ScriptServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let (script, mut rx) = mpsc::unbounded_channel::<Message>();
    let conns = connections.clone();
    tokio::spawn(async move {
        // One client at a time: each new connection gets `first`, then the script.
        while let Ok((tcp, _)) = listener.accept().await {
            conns.fetch_add(1, Ordering::SeqCst);
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                continue;
            };
            let mut ok = true;
            for m in first.clone() {
                ok &= ws.send(m).await.is_ok();
            }
            while ok {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => ok = ws.send(m).await.is_ok(),
                        None => return,
                    },
                    r = ws.next() => if !matches!(r, Some(Ok(_))) { ok = false },
                }
            }
        }
    });
    ScriptServer {
        url: format!("ws://{addr}/api/monitoring/ws"),
        connections,
        script,
    }
}

fn frame_one() -> String {
    serde_json::json!({
        "type": "system_health",
        "timestamp": "2025-06-01T10:00:00.000123",
        "unexpected_top_level": {"x": [1, 2, 3]},
        "data": {
            "timestamp": "2025-06-01T10:00:00.000123",
            "active_sessions": 7,
            "system_status": "degraded",
            "cpu_percent": 12.5,
            "integration_points": {
                "openai": {"status": "healthy", "success_rate": 99.0, "avg_duration_ms": 840,
                           "total_validations": 200, "extra": {"nested": true}},
                "prokerala": {"status": "warning", "success_rate": 97.0, "avg_duration_ms": 2100,
                              "total_validations": 100, "message": "slow responses"},
                "elevenlabs": {"status": "error", "success_rate": 90.0, "avg_duration_ms": 300,
                               "total_validations": 50, "message": "HTTP 500 from upstream"},
                "did": {"status": "no_data", "success_rate": 0, "avg_duration_ms": 0,
                        "total_validations": 0},
                "rag": {"status": "database_error", "message": "relation does not exist"}
            },
            "recent_issues": [
                {"type": "integration_failure", "severity": "critical",
                 "message": "ElevenLabs returned 500", "timestamp": "2025-06-01T09:59:30",
                 "source": "elevenlabs", "trace_id": "abc"},
                {"type": "slow_response", "severity": "medium",
                 "message": "Prokerala p95 above 2 s", "timestamp": "2025-06-01T09:58:00",
                 "source": "prokerala"}
            ]
        }
    })
    .to_string()
}

fn frame_two() -> String {
    serde_json::json!({
        "type": "system_health",
        "data": {
            "active_sessions": 3,
            "integration_points": {
                "openai": {"status": "error", "success_rate": 20.0, "total_validations": 40,
                           "message": "rate limited"}
            },
            "recent_issues": []
        }
    })
    .to_string()
}

#[tokio::test]
async fn platform_frames_drive_the_integration_pane() {
    let server = script_server(vec![Message::text(frame_one())]).await;
    let mut s = stream_settings(&server.url, None);
    s.max_message_bytes = 64 * 1024;
    let mut f = Follower::start(s);
    f.until("first system_health", 10, |s| s.integrations().len() == 5)
        .await;

    let st = |f: &Follower, name: &str| f.state.integration(name).unwrap().status;
    assert_eq!(st(&f, "openai"), Health::Healthy);
    assert_eq!(st(&f, "prokerala"), Health::Degraded, "warning → degraded");
    assert_eq!(st(&f, "elevenlabs"), Health::Down, "error → down");
    assert_eq!(st(&f, "did"), Health::Unknown, "no_data → unknown");
    assert_eq!(st(&f, "rag"), Health::Down, "database_error → down");
    let openai = f.state.integration("openai").unwrap();
    assert!((openai.success_rate.unwrap() - 0.99).abs() < 1e-9);
    assert_eq!(openai.calls, 200);
    let el = f.state.integration("elevenlabs").unwrap();
    assert_eq!(el.reported.as_ref().unwrap().status, "down");
    assert!(
        el.reported
            .as_ref()
            .unwrap()
            .message
            .as_deref()
            .unwrap()
            .contains("HTTP 500 from upstream")
    );
    assert_eq!(el.last_error.as_deref(), Some("HTTP 500 from upstream"));

    assert_eq!(f.state.sessions().active, 7);
    let alerts = f.state.alerts();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].severity, Severity::Critical);
    assert_eq!(alerts[0].title, "ElevenLabs returned 500");
    assert_eq!(alerts[0].integration.as_deref(), Some("elevenlabs"));
    assert_eq!(alerts[1].severity, Severity::Warning);
    assert_eq!(f.state.open_alerts_by_severity().get("critical"), Some(&1));
    let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();

    // Junk: each is counted and skipped, the connection stays.
    let junk = [
        Message::text(r#"{"type":"metrics_update","data":{"x":1}}"#),
        Message::text("{not json"),
        Message::text("[]"),
        Message::binary(vec![0u8, 159, 146, 150]),
        Message::text(format!(
            r#"{{"type":"system_health","data":{{"pad":"{}"}}}}"#,
            "x".repeat(100 * 1024)
        )),
        Message::text(r#"{"v":7,"type":"update","update":{}}"#),
    ];
    for m in junk {
        server.script.send(m).unwrap();
    }
    server.script.send(Message::text(frame_one())).unwrap();
    f.until("junk counted", 10, |s| {
        s.source(jfmon::model::SourceId::Stream)
            .is_some_and(|x| x.skipped >= 6)
    })
    .await;
    assert_eq!(f.stream().unwrap().skipped, 6);
    assert!(f.stream().unwrap().up);
    // The same issues keep the same ids.
    assert_eq!(
        f.state.alerts().iter().map(|a| a.id).collect::<Vec<_>>(),
        ids
    );

    server.script.send(Message::text(frame_two())).unwrap();
    f.until("second frame", 10, |s| s.sessions().active == 3)
        .await;
    assert_eq!(
        f.state.integrations().len(),
        1,
        "each frame replaces the last"
    );
    assert_eq!(st(&f, "openai"), Health::Down);
    assert!(f.state.alerts().is_empty());
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "no reconnect was needed"
    );
    f.stop();
}

#[tokio::test]
async fn a_frame_beyond_the_hard_limit_costs_a_reconnect_not_the_client() {
    let server = script_server(vec![Message::text(frame_two())]).await;
    let mut s = stream_settings(&server.url, None);
    s.max_message_bytes = 64 * 1024;
    let mut f = Follower::start(s);
    f.until("first frame", 10, |s| s.sessions().active == 3)
        .await;
    // Over twice the limit: cannot even be received.
    server
        .script
        .send(Message::text("y".repeat(3 << 20)))
        .unwrap();
    f.until("reconnected with data", 15, |s| {
        s.source(jfmon::model::SourceId::Stream)
            .is_some_and(|x| x.up && x.skipped >= 1)
    })
    .await;
    assert!(server.connections.load(Ordering::SeqCst) >= 2);
    assert_eq!(f.state.sessions().active, 3, "data kept");
    f.stop();
}

#[tokio::test]
async fn an_unknown_protocol_version_is_refused_clearly() {
    let server = script_server(vec![Message::text(
        r#"{"v":3,"type":"hello","server":"jfmon/9.0.0","window_secs":900}"#,
    )])
    .await;
    let mut f = Follower::start(stream_settings(&server.url, None));
    f.until("refused", 10, |s| {
        s.source(jfmon::model::SourceId::Stream)
            .is_some_and(|x| !x.up && x.last_error.is_some())
    })
    .await;
    let err = f.stream().unwrap().last_error.clone().unwrap();
    assert!(err.contains("v3") && err.contains("v2"), "{err}");
    // It does not hammer the server: the retry waits (10+ s at the base here).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    f.stop();
}

#[tokio::test]
async fn unreachable_server_is_reported_and_retried() {
    // A port with nothing listening.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut f = Follower::start(stream_settings(&format!("ws://{addr}/monitoring/ws"), None));
    f.until("down", 10, |s| {
        s.source(jfmon::model::SourceId::Stream)
            .is_some_and(|x| !x.up && x.last_error.is_some())
    })
    .await;
    let err = f.stream().unwrap().last_error.clone().unwrap();
    assert!(err.contains("refused"), "{err}");
    // Now something listens there: the client gets in by itself.
    let served = Served::start_on(hub_settings(), addr).await;
    served.hub.publish(marker(1));
    f.until("connected after retry", 15, |s| has_marker(s, 1))
        .await;
    assert!(f.stream().unwrap().up);
    f.stop();
    served.stop().await;
}

#[tokio::test]
async fn a_client_that_connects_while_an_alert_fires_gets_the_hubs_rule_alerts() {
    use jfmon::model::{RuleAlert, RuleAlertState, RuleAlerts, RuleBound, RuleOrigin, Update};
    let served = Served::start(hub_settings()).await;
    let now = chrono::Utc::now();
    let labels = std::collections::BTreeMap::from([
        ("alertname".to_owned(), "IntegrationDown".to_owned()),
        ("integration".to_owned(), "openai".to_owned()),
        ("severity".to_owned(), "critical".to_owned()),
    ]);
    let firing = RuleAlerts {
        origin: RuleOrigin::Hub,
        at: now,
        alerts: vec![RuleAlert {
            fingerprint: jfmon::rules::Fingerprint::of(&labels).to_string(),
            rule: "IntegrationDown".into(),
            labels,
            state: RuleAlertState::Firing,
            severity: Severity::Critical,
            metric: "status".into(),
            value: Some(1.0),
            bound: RuleBound::None,
            since: Some(now - chrono::TimeDelta::minutes(5)),
            resolved_at: None,
            summary: "openai is down".into(),
            why: "reported down".into(),
            baseline: None,
        }],
        notes: Default::default(),
    };
    // Published before the client connects, and never again: the set is
    // steady, so only the subscription can bring it.
    served.hub.publish(Update::RuleAlerts(Box::new(firing)));
    let mut f = Follower::start(stream_settings(&served.ws_url(), None));
    f.until("the firing rule alert", 10, |s| {
        s.rule_alerts()
            .iter()
            .any(|a| a.rule == "IntegrationDown" && a.state == RuleAlertState::Firing)
    })
    .await;
    f.stop();
}
