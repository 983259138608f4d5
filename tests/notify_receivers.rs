//! Notifications to real receivers on loopback: a generic webhook and a
//! Slack-compatible one (local axum servers), including one that is down
//! and comes back, a bounded queue that counts what it drops, and a REAL
//! Alertmanager (Debian's `prometheus-alertmanager`, started here on a
//! loopback port) that receives jfmon's alerts through `/api/v2/alerts`:
//! firing, re-sent while firing, then resolved, one alert per fingerprint,
//! checked through its own API and through the webhook Alertmanager itself
//! sends (whose body jfmon's generic webhook mirrors key for key).

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxState;
use axum::routing::post;
use chrono::{TimeDelta, Utc};
use jfmon::alerting::{Alert, Bound, Change};
use jfmon::notify::{Kind, Outbox, Receiver};
use serde_json::Value;
use tokio::net::TcpListener;

type Inbox = Arc<Mutex<Vec<(String, Value)>>>;

/// A receiver on `listener`: every POST body, with its path, kept in order.
fn collector(listener: TcpListener) -> (Inbox, tokio::task::JoinHandle<()>) {
    let inbox: Inbox = Arc::default();
    async fn keep(
        AxState(inbox): AxState<Inbox>,
        uri: axum::http::Uri,
        body: axum::body::Bytes,
    ) -> &'static str {
        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
        inbox.lock().unwrap().push((uri.path().to_owned(), v));
        "ok"
    }
    let app = Router::new().fallback(post(keep)).with_state(inbox.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (inbox, task)
}

/// A receiver that is down but keeps its port: it accepts each connection
/// and closes it at once, so every delivery fails. (Freeing the port and
/// binding it again later races with other tests' outgoing connections,
/// which may be given that port meanwhile.) [`Down::up`] hands the same
/// listener to a collector.
struct Down {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<TcpListener>,
}

impl Down {
    fn start(listener: TcpListener) -> Self {
        let stop = Arc::new(tokio::sync::Notify::new());
        let s = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    conn = listener.accept() => drop(conn),
                    () = s.notified() => return listener,
                }
            }
        });
        Self { stop, task }
    }

    /// The receiver comes back on the same port.
    async fn up(self) -> (Inbox, tokio::task::JoinHandle<()>) {
        self.stop.notify_one();
        collector(self.task.await.unwrap())
    }
}

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Wait (at most a generous minute) until `f` holds; panics with `what`.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn alert(endpoint: &str) -> Alert {
    let labels = BTreeMap::from([
        ("alertname".to_owned(), "endpoint_error_rate".to_owned()),
        ("endpoint".to_owned(), endpoint.to_owned()),
        ("severity".to_owned(), "critical".to_owned()),
    ]);
    Alert {
        fingerprint: fingerprint(&labels),
        rule: "endpoint_error_rate".into(),
        labels,
        severity: "critical".into(),
        summary: format!("{endpoint} fails"),
        description: "error rate 0.5 above 0.05; Authorization: Bearer s3cr3t-t0ken".into(),
        runbook: None,
        value: Some(0.5),
        bound: Bound::Threshold(0.05),
        since: Utc::now() - TimeDelta::minutes(2),
    }
}

/// Alertmanager's fingerprint (prometheus/common model.LabelSet.Fingerprint:
/// FNV-1a 64 over sorted names and values, each followed by 0xff), written
/// out here so this test checks it against Alertmanager itself.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 14_695_981_039_346_656_037;
    let mut add = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(1_099_511_628_211);
        }
    };
    for (k, v) in labels {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

fn resolved(a: &Alert) -> Change {
    Change::Resolved {
        alert: a.clone(),
        at: Utc::now(),
        value: Some(0.0),
    }
}

fn statuses(inbox: &Inbox) -> Vec<String> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| {
            v["status"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v["text"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

#[tokio::test]
async fn webhook_and_slack_get_firing_then_resolved_once_each_without_secrets() {
    let (wl, wport) = listener().await;
    let (sl, sport) = listener().await;
    let (web, _w) = collector(wl);
    let (slack, _s) = collector(sl);
    let outbox = Outbox::start(
        vec![
            Receiver::new(
                "hook",
                Kind::Webhook,
                format!("http://127.0.0.1:{wport}/alerts"),
            ),
            Receiver::new(
                "chat",
                Kind::Slack,
                format!("http://127.0.0.1:{sport}/services/T0/B0/XYZ"),
            ),
        ],
        "http://jfmon.test/monitoring/dashboard".into(),
    );
    let a = alert("GET /api/x");
    outbox.push(&Change::Fired(a.clone()));
    outbox.push(&resolved(&a));
    until("two webhook and two slack messages", || {
        web.lock().unwrap().len() == 2 && slack.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(statuses(&web), ["firing", "resolved"]);
    let w = web.lock().unwrap();
    assert_eq!(w[0].0, "/alerts");
    assert_eq!(w[0].1["version"], "4");
    assert_eq!(w[0].1["receiver"], "hook");
    assert_eq!(w[0].1["alerts"][0]["fingerprint"], a.fingerprint.as_str());
    assert_eq!(w[1].1["alerts"][0]["status"], "resolved");
    let s = slack.lock().unwrap();
    assert_eq!(s[0].0, "/services/T0/B0/XYZ");
    assert!(s[0].1["text"].as_str().unwrap().starts_with("[FIRING]"));
    assert!(s[1].1["text"].as_str().unwrap().starts_with("[RESOLVED]"));
    for (_, body) in w.iter().chain(s.iter()) {
        assert!(!body.to_string().contains("s3cr3t"), "{body}");
    }
    let rep = outbox.report();
    assert!(
        rep.iter()
            .all(|r| r.sent == 2 && r.dropped == 0 && r.queued == 0),
        "{rep:?}"
    );
}

#[tokio::test]
async fn a_receiver_down_gets_everything_in_order_once_it_is_back() {
    let (l, port) = listener().await;
    let down = Down::start(l); // down: every delivery fails
    let outbox = Outbox::start(
        vec![Receiver::new(
            "hook",
            Kind::Webhook,
            format!("http://127.0.0.1:{port}/"),
        )],
        String::new(),
    );
    let a = alert("GET /api/a");
    let b = alert("GET /api/b");
    outbox.push(&Change::Fired(a.clone()));
    outbox.push(&Change::Fired(b.clone()));
    outbox.push(&resolved(&a));
    until("failed attempts", || outbox.report()[0].failures >= 2).await;
    assert_eq!(outbox.report()[0].sent, 0);
    assert_eq!(outbox.report()[0].queued, 3);

    let (inbox, _t) = down.up().await;
    until("three deliveries", || inbox.lock().unwrap().len() == 3).await;
    let order: Vec<(String, String)> = inbox
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| {
            (
                v["status"].as_str().unwrap().to_owned(),
                v["alerts"][0]["labels"]["endpoint"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("firing".to_owned(), "GET /api/a".to_owned()),
            ("firing".to_owned(), "GET /api/b".to_owned()),
            ("resolved".to_owned(), "GET /api/a".to_owned()),
        ]
    );
    let r = &outbox.report()[0];
    assert_eq!((r.sent, r.dropped, r.queued), (3, 0, 0));
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_and_counts_it() {
    let (l, port) = listener().await;
    let down = Down::start(l);
    let mut r = Receiver::new("hook", Kind::Webhook, format!("http://127.0.0.1:{port}/"));
    r.queue = 2;
    let outbox = Outbox::start(vec![r], String::new());
    for i in 0..5 {
        outbox.push(&Change::Fired(alert(&format!("GET /api/{i}"))));
    }
    assert_eq!(outbox.report()[0].dropped, 3);
    assert_eq!(outbox.dropped(), 3);
    let (inbox, _t) = down.up().await;
    until("the two kept", || inbox.lock().unwrap().len() == 2).await;
    let kept: Vec<String> = inbox
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| {
            v["alerts"][0]["labels"]["endpoint"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kept, ["GET /api/3", "GET /api/4"], "the newest are kept");
}

/// The endpoints named in Alertmanager POSTs received so far.
fn am_endpoints(inbox: &Inbox) -> Vec<Vec<String>> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| x["labels"]["endpoint"].as_str().unwrap_or("").to_owned())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

/// A receiver on `listener` that answers 503 (and keeps nothing) while
/// `up` is false: down without giving up its port.
fn switchable(listener: TcpListener) -> (Inbox, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    type S = (Inbox, Arc<AtomicBool>);
    let up = Arc::new(AtomicBool::new(true));
    let inbox: Inbox = Arc::default();
    async fn keep(
        AxState((inbox, up)): AxState<S>,
        uri: axum::http::Uri,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        if !up.load(Ordering::SeqCst) {
            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
        }
        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
        inbox.lock().unwrap().push((uri.path().to_owned(), v));
        axum::http::StatusCode::OK
    }
    let app = Router::new()
        .fallback(post(keep))
        .with_state((inbox.clone(), up.clone()));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (inbox, up)
}

/// Review finding: a resolution dropped from a full queue left its alert in
/// the Alertmanager lane's re-send set, so a resolved alert was re-sent as
/// firing forever. A dropped resolution now ends the re-sends too.
#[tokio::test]
async fn a_dropped_resolution_is_not_resent_as_firing() {
    use std::sync::atomic::Ordering;
    let (l, port) = listener().await;
    let (inbox, up) = switchable(l);
    let mut r = Receiver::new("am", Kind::Alertmanager, format!("http://127.0.0.1:{port}"));
    r.queue = 1;
    r.resend = Duration::from_millis(200);
    let outbox = Outbox::start(vec![r], String::new());
    let a = alert("GET /api/a");
    outbox.push(&Change::Fired(a.clone()));
    until("a delivered", || !inbox.lock().unwrap().is_empty()).await;
    // The receiver goes down; a's resolution waits, then is pushed out of
    // the one-place queue by b's firing.
    up.store(false, Ordering::SeqCst);
    outbox.push(&resolved(&a));
    until("a failed delivery", || outbox.report()[0].failures >= 1).await;
    outbox.push(&Change::Fired(alert("GET /api/b")));
    assert_eq!(outbox.report()[0].dropped, 1);
    // Back: b is delivered, then only b is re-sent.
    inbox.lock().unwrap().clear();
    up.store(true, Ordering::SeqCst);
    until("b and three re-sends", || am_endpoints(&inbox).len() >= 4).await;
    for sent in am_endpoints(&inbox) {
        assert_eq!(sent, ["GET /api/b"], "a was resolved: never re-sent");
    }
}

/// `prometheus-alertmanager` on a loopback port with a temporary config and
/// storage; killed when dropped.
struct Alertmanager {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn alertmanager(webhook_port: u16) -> Alertmanager {
    let dir = std::env::temp_dir().join(format!("jfmon-am-{}-{webhook_port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "route:\n  receiver: back\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: back\n    webhook_configs:\n      - url: http://127.0.0.1:{webhook_port}/from-alertmanager\n        send_resolved: true\n"
    );
    std::fs::write(dir.join("am.yml"), config).unwrap();
    let (l, port) = listener().await;
    drop(l);
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus-alertmanager");
    let am = Alertmanager {
        child,
        port,
        _dir: TempDir(dir),
    };
    for _ in 0..300 {
        if am_alerts(port).await.is_some() {
            return am;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("alertmanager did not come up on {port}");
}

/// `GET /api/v2/alerts` (active alerts), or `None` while it is not up.
async fn am_alerts(port: u16) -> Option<Vec<Value>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(
        format!(
            "GET /api/v2/alerts HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    // Alertmanager answers in one piece or chunked; the JSON array is the
    // text from the first '[' to the last ']'.
    let json = &body[body.find('[')?..=body.rfind(']')?];
    serde_json::from_str(json).ok()
}

#[tokio::test]
async fn a_real_alertmanager_gets_firing_resent_and_resolved_one_per_fingerprint() {
    if !common::require_tool("prometheus-alertmanager", "--version") {
        return;
    }
    let (hl, hport) = listener().await;
    let (from_am, _h) = collector(hl);
    let am = alertmanager(hport).await;
    let mut r = Receiver::new(
        "am",
        Kind::Alertmanager,
        format!("http://127.0.0.1:{}", am.port),
    );
    r.resend = Duration::from_secs(1);
    let outbox = Outbox::start(vec![r], "http://jfmon.test/monitoring/dashboard".into());
    let a = alert("GET /api/am");
    outbox.push(&Change::Fired(a.clone()));

    // Firing, once, under jfmon's fingerprint.
    let mut first_update = String::new();
    for _ in 0..300 {
        let listed = am_alerts(am.port).await.unwrap_or_default();
        let ours: Vec<&Value> = listed
            .iter()
            .filter(|x| x["labels"]["endpoint"] == "GET /api/am")
            .collect();
        if let [x] = ours.as_slice() {
            assert_eq!(x["fingerprint"], a.fingerprint.as_str());
            assert_eq!(x["status"]["state"], "active");
            assert_eq!(x["annotations"]["summary"], "GET /api/am fails");
            assert!(!x.to_string().contains("s3cr3t"));
            first_update = x["updatedAt"].as_str().unwrap().to_owned();
            break;
        }
        assert!(ours.len() <= 1, "one alert per fingerprint: {ours:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !first_update.is_empty(),
        "alertmanager never listed the alert"
    );

    // Re-sent while firing: Alertmanager sees it updated, still one alert.
    let mut resent = false;
    for _ in 0..300 {
        let listed = am_alerts(am.port).await.unwrap_or_default();
        let ours: Vec<&Value> = listed
            .iter()
            .filter(|x| x["labels"]["endpoint"] == "GET /api/am")
            .collect();
        assert_eq!(ours.len(), 1, "{listed:?}");
        if ours[0]["updatedAt"].as_str() != Some(first_update.as_str()) {
            resent = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resent, "the firing alert was never re-sent");

    // Alertmanager's own webhook: firing for our fingerprint, and its body
    // has exactly the keys jfmon's generic webhook sends.
    until("alertmanager's firing webhook", || {
        from_am
            .lock()
            .unwrap()
            .iter()
            .any(|(_, v)| v["status"] == "firing")
    })
    .await;
    {
        let got = from_am.lock().unwrap();
        let am_body = &got.iter().find(|(_, v)| v["status"] == "firing").unwrap().1;
        assert_eq!(am_body["alerts"][0]["fingerprint"], a.fingerprint.as_str());
        let ours = jfmon::notify::payload::webhook("back", &Change::Fired(a.clone()), "");
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&ours), keys(am_body));
        assert_eq!(keys(&ours["alerts"][0]), keys(&am_body["alerts"][0]));
    }

    // Resolved: gone from the active alerts, and Alertmanager says resolved.
    let at = Utc::now();
    outbox.push(&Change::Resolved {
        alert: a.clone(),
        at,
        value: Some(0.0),
    });
    until("alertmanager's resolved webhook", || {
        from_am.lock().unwrap().iter().any(|(_, v)| {
            v["status"] == "resolved" && v["alerts"][0]["fingerprint"] == a.fingerprint.as_str()
        })
    })
    .await;
    {
        // Resolved by jfmon's endsAt (not by expiry, which a re-send would
        // have put seconds later).
        let got = from_am.lock().unwrap();
        let body = &got
            .iter()
            .find(|(_, v)| v["status"] == "resolved")
            .unwrap()
            .1;
        let ends =
            chrono::DateTime::parse_from_rfc3339(body["alerts"][0]["endsAt"].as_str().unwrap())
                .unwrap();
        assert_eq!(ends.timestamp_millis(), at.timestamp_millis());
    }
    let listed = am_alerts(am.port).await.unwrap_or_default();
    assert!(
        !listed
            .iter()
            .any(|x| x["labels"]["endpoint"] == "GET /api/am"),
        "{listed:?}"
    );
    let r = &outbox.report()[0];
    assert_eq!((r.sent, r.dropped), (2, 0));
}
