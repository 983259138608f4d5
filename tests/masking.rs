//! Secret masking as a property (issue 8 §3): for generated records holding
//! secrets under any key spelling (`X-Api-Key`, `apiKey`, `AUTH`, `db_pwd`),
//! nested in objects and arrays, inside URLs (`postgres://u:PW@h/db`),
//! bearer strings (`Authorization: Bearer …`) and JSON documents stored as
//! strings, no output path shows any part of a secret: the TUI (overview,
//! alert and session views), `snapshot` text and JSON, the hub's JSON API,
//! its stream frames and Prometheus `/metrics`, and the logs.
//!
//! Records go in unmasked, as a source delivers them: masking happens where
//! they enter the store and the hub, so every output is covered.

mod hub_util;
mod ui_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use futures_util::StreamExt;
use hub_util::{Served, http_get};
use jfmon::model::*;
use jfmon::store::State;
use jfmon::ui::action::Action;
use jfmon::ui::pane::PaneId;
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use ui_support::{app, full_batch, now, postgres, render, state_from};

// ---------------------------------------------------------------------------
// Generators

/// A secret: a fixed prefix and random letters and digits, so that any
/// seven-character piece of it is recognisable in any output.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{12}".prop_map(|s| format!("Zq{s}"))
}

/// A secret key in one of the spellings people use.
fn secret_key() -> impl Strategy<Value = String> {
    let bases = prop::sample::select(vec![
        "password",
        "passwd",
        "secret",
        "client secret",
        "token",
        "refresh token",
        "api key",
        "access key",
        "private key",
        "auth",
        "authorization",
        "credentials",
        "cookie",
        "session key",
        "db pwd",
        "jwt",
    ]);
    let prefix = prop::sample::select(vec!["", "x", "db", "my", "upstream"]);
    (bases, prefix, 0..6usize).prop_map(|(base, prefix, style)| {
        let mut words: Vec<&str> = Vec::new();
        if !prefix.is_empty() {
            words.push(prefix);
        }
        words.extend(base.split(' '));
        spell(&words, style)
    })
}

fn cap(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn spell(words: &[&str], style: usize) -> String {
    match style {
        0 => words.join("_"),
        1 => words.join("-"),
        2 => words
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { w.to_string() } else { cap(w) })
            .collect(),
        3 => words.iter().map(|w| cap(w)).collect(),
        4 => words.join("_").to_ascii_uppercase(),
        _ => words.iter().map(|w| cap(w)).collect::<Vec<_>>().join("-"),
    }
}

/// A key that is not a secret.
fn plain_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "note", "dsn", "message", "detail", "payload", "url", "info", "raw", "upstream",
    ])
    .prop_map(str::to_string)
}

/// One secret placed somewhere in a JSON value, with the secret.
fn placement() -> impl Strategy<Value = (String, Value, String)> {
    let under_key = (secret_key(), secret(), 0..3usize).prop_map(|(k, s, shape)| {
        let v = match shape {
            0 => json!(s),
            1 => json!({"value": s, "kind": "x"}),
            _ => json!([s]),
        };
        (k, v, s)
    });
    let in_url = (
        plain_key(),
        secret(),
        prop::sample::select(vec!["postgres", "postgresql", "https", "redis", "amqp"]),
    )
        .prop_map(|(k, s, scheme)| {
            (
                k,
                json!(format!("{scheme}://svc_user:{s}@db.internal:5432/app")),
                s,
            )
        });
    let in_text = (plain_key(), secret(), secret_key(), 0..8usize).prop_map(|(k, s, sk, t)| {
        let text = match t {
            0 => format!("Authorization: Bearer {s}"),
            1 => format!("upstream said 401 for bearer {s}, retrying"),
            2 => format!("request failed: {sk}={s}&page=2"),
            3 => format!("Incorrect API key provided: sk-proj-{s}{s}. See the docs."),
            4 => format!("fetch https://{s}@git.internal/org/repo.git failed"),
            5 => format!("params: {{{sk} => \"{s}\"}}"),
            6 => format!("config:\n  {sk}: {s}\n  host: db"),
            _ => format!("{sk}: {s}"),
        };
        (k, json!(text), s)
    });
    // Name/value lists (HAR and fetch headers, Postman's key/value).
    let in_list =
        (plain_key(), secret_key(), secret(), any::<bool>()).prop_map(|(k, sk, s, har)| {
            let item = if har {
                json!({"name": sk, "value": s})
            } else {
                json!({"key": sk, "value": s, "type": "text"})
            };
            (k, json!([{"name": "accept", "value": "json"}, item]), s)
        });
    let in_json_string =
        (plain_key(), secret_key(), secret(), any::<bool>()).prop_map(|(k, sk, s, twice)| {
            let mut inner = json!({ sk: s, "model": "gpt-4o" });
            if twice {
                inner = json!({"request": inner.to_string()});
            }
            (k, json!(inner.to_string()), s)
        });
    prop_oneof![under_key, in_url, in_text, in_json_string, in_list]
}

/// A context object with several placements, each nested 0-2 levels deep.
fn context() -> impl Strategy<Value = (Value, Vec<String>)> {
    prop::collection::vec((placement(), 0..3usize, any::<bool>()), 1..5).prop_map(|ps| {
        let mut obj = serde_json::Map::new();
        obj.insert("integration".into(), json!("openai"));
        let mut secrets = Vec::new();
        for (i, ((k, v, s), depth, array)) in ps.into_iter().enumerate() {
            let mut v = json!({ k: v });
            for _ in 0..depth {
                v = if array {
                    json!([v, 1])
                } else {
                    json!({"inner": v})
                };
            }
            obj.insert(format!("part{i}"), v);
            secrets.push(s);
        }
        (Value::Object(obj), secrets)
    })
}

/// Free text holding a secret (titles, errors, health messages).
fn text() -> impl Strategy<Value = (String, String)> {
    (secret(), secret_key(), 0..7usize).prop_map(|(s, k, t)| {
        let text = match t {
            0 => format!("connect to postgres://app:{s}@10.0.0.5/jyoti failed"),
            1 => format!("Authorization: Bearer {s}"),
            2 => format!("{k}={s}"),
            3 => format!("Incorrect API key provided: sk-{s}{s}."),
            4 => format!("GET https://{s}@api.internal/v1 refused"),
            5 => format!(r#"[{{"name":"{k}","value":"{s}"}}] (truncated"#),
            _ => json!({ k: s }).to_string(),
        };
        (text, s)
    })
}

#[derive(Debug, Clone)]
struct Case {
    context: Value,
    title: String,
    description: String,
    api_error: String,
    integration_error: String,
    health: String,
    source_error: String,
    timeline: Value,
    secrets: Vec<String>,
}

fn case() -> impl Strategy<Value = Case> {
    (context(), context(), prop::collection::vec(text(), 6)).prop_map(
        |((context, mut secrets), (timeline, more), texts)| {
            secrets.extend(more);
            secrets.extend(texts.iter().map(|(_, s)| s.clone()));
            let t = |i: usize| texts[i].0.clone();
            Case {
                context,
                title: t(0),
                description: t(1),
                api_error: t(2),
                integration_error: t(3),
                health: t(4),
                source_error: t(5),
                timeline,
                secrets,
            }
        },
    )
}

// ---------------------------------------------------------------------------
// The records a source would deliver, unmasked.

fn batch(c: &Case) -> Batch {
    let mut b = full_batch();
    let alerts = b.alerts.as_mut().expect("alerts");
    alerts.items.insert(
        0,
        AlertRow {
            id: 99,
            alert_type: Some("integration_down".into()),
            severity_raw: Some("critical".into()),
            title: Some(c.title.clone()),
            description: Some(c.description.clone()),
            context: Some(c.context.clone()),
            acknowledged: false,
            acknowledged_by: None,
            acknowledged_at: None,
            created_at: now() - TimeDelta::seconds(5),
        },
    );
    b.api_errors.push(ApiCall {
        id: 1,
        at: now() - TimeDelta::seconds(3),
        endpoint: "/api/spiritual/guidance".into(),
        method: "POST".into(),
        status_code: Some(500),
        response_ms: Some(120),
        user_id: Some(7),
        error: Some(c.api_error.clone()),
    });
    b.integration_errors.push(IntegrationCall {
        id: 1,
        at: now() - TimeDelta::seconds(2),
        integration: "openai".into(),
        operation: Some("chat".into()),
        success: false,
        duration_ms: Some(900),
        status_code: Some(401),
        error: Some(c.integration_error.clone()),
        session_id: None,
    });
    b.integration_tails.push((
        "openai".into(),
        IntegrationTail {
            last_error: Some((now() - TimeDelta::seconds(2), c.integration_error.clone())),
            last_success: None,
            trailing_failures: 1,
            any_success: false,
        },
    ));
    if let Some(h) = b.health_reports.as_mut() {
        h[0].message = Some(c.health.clone());
    }
    b
}

fn source(c: &Case) -> SourceStatus {
    postgres(false, 30, Some(&c.source_error))
}

fn timeline(c: &Case) -> Vec<ContextEvent> {
    vec![ContextEvent {
        session_id: "sess-9001".into(),
        user_id: Some(2037),
        context_type: "api_call".into(),
        data: c.timeline.clone(),
        at: now() - TimeDelta::seconds(10),
    }]
}

// ---------------------------------------------------------------------------
// The outputs

/// Every 7-character piece of the secret's random part (a secret wrapped
/// over two lines of a view still shows one).
fn leaks(output: &str, secrets: &[String]) -> Option<String> {
    for s in secrets {
        let r: Vec<char> = s.chars().skip(2).collect();
        for w in r.windows(7) {
            let piece: String = w.iter().collect();
            if output.contains(&piece) {
                return Some(format!("{s} (piece {piece})"));
            }
        }
    }
    None
}

fn tui_outputs(state: &State, c: &Case) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let a = app();
    out.push(("tui overview".into(), render(&a, state, 160, 48)));
    let mut a = app();
    for act in [Action::FocusPane(PaneId::Alerts), Action::Open] {
        a.apply(state, act, now());
    }
    for (w, h) in [(80, 24), (160, 48), (240, 80)] {
        out.push((format!("tui alert view {w}x{h}"), render(&a, state, w, h)));
    }
    let mut a = app();
    for act in [
        Action::FocusPane(PaneId::Sessions),
        Action::Down,
        Action::Open,
    ] {
        a.apply(state, act, now());
    }
    a.on_session_context("sess-9001", Ok(timeline(c)));
    a.apply(state, Action::Down, now());
    for (w, h) in [(80, 24), (240, 80)] {
        out.push((format!("tui session view {w}x{h}"), render(&a, state, w, h)));
    }
    let mut a = app();
    a.apply(state, Action::JumpToFailing, now());
    out.push(("tui integration view".into(), render(&a, state, 240, 80)));
    out
}

/// A tracing writer into a shared buffer: what the logs would hold.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_output_path_shows_a_secret() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (served, ws) = rt.block_on(async {
        let served = Served::start(hub_util::hub_settings()).await;
        let (ws, _) = tokio_tungstenite::connect_async(served.ws_url())
            .await
            .expect("stream client");
        (served, ws)
    });
    let ws = Mutex::new(ws);
    let marker = std::sync::atomic::AtomicU64::new(0);

    let config = ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(c in case())| {
        let mut outputs: Vec<(String, String)> = Vec::new();

        // The dashboard's own store, fed as a source feeds it.
        let state = state_from(Some(batch(&c)), Some(source(&c)));
        outputs.extend(tui_outputs(&state, &c));
        outputs.push(("snapshot text".into(), jfmon::cmd::snapshot::summary(&state)));
        outputs.push((
            "snapshot --json".into(),
            serde_json::to_string(&state.snapshot()).unwrap(),
        ));

        // The hub: the same records published, then every endpoint and the
        // frames a connected client received.
        let n = marker.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let tag = format!("marker-{n}");
        let mut ws = ws.lock().unwrap();
        rt.block_on(async {
            served.hub.publish(Update::Batch(Box::new(batch(&c))));
            served.hub.publish(Update::Source(source(&c)));
            let mut m = SourceStatus::new(SourceId::Stream, tag.clone());
            m.up = true;
            served.hub.publish(Update::Source(m));
            let mut frames = String::new();
            while !frames.contains(&tag) {
                let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
                    .await
                    .expect("frames in time")
                    .expect("stream open")
                    .expect("frame");
                if let Message::Text(t) = msg {
                    frames.push_str(t.as_str());
                    frames.push('\n');
                }
            }
            outputs.push(("stream frames".into(), frames));
            for path in [
                "/monitoring/api/alerts",
                "/monitoring/api/metrics",
                "/monitoring/api/health",
                "/monitoring/api/sessions",
                "/monitoring/api/integration/openai",
                "/metrics",
            ] {
                let (code, body) = http_get(served.addr, path, None).await;
                assert_eq!(code, 200, "{path}");
                outputs.push((format!("GET {path}"), body));
            }
        });
        outputs.push((
            "logs".into(),
            String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned(),
        ));

        for (name, text) in &outputs {
            prop_assert!(leaks(text, &c.secrets).is_none(),
                "{name} shows {:?}:\n{text}", leaks(text, &c.secrets));
        }
        // The masked places still say something was there.
        let alert = &outputs.iter().find(|(n, _)| n == "GET /monitoring/api/alerts").unwrap().1;
        prop_assert!(alert.contains("***"), "{alert}");
    });
    rt.block_on(served.stop());
}

/// The shapes a review found after the first pass, one each, through the
/// dashboard's store to the TUI and `snapshot`: OpenAI's error text that
/// echoes the key, name/value header lists, a token as a URL's user, Ruby
/// and YAML pairs. And the reverse: "basic plan" is not a credential.
#[test]
fn review_holes_reach_no_output() {
    let texts = [
        (
            "Incorrect API key provided: sk-abc123def456ghi. You can find your API key at https://platform.openai.com.",
            "abc123def456ghi",
        ),
        (
            r#"headers=[{"name":"Authorization","value":"hv-tok-987654"}] (cut"#,
            "hv-tok-987654",
        ),
        (
            "clone https://ghp_Zq12ab34cd56ef78@github.com/org/repo.git failed",
            "ghp_Zq12ab34cd56ef78",
        ),
        (r#"params: {password => "rb-pw-314159"}"#, "rb-pw-314159"),
        ("db:\n  password: yml-pw-16180\n  host: x", "yml-pw-16180"),
        (
            r#"h=[{"key":"api_key","value":"pm-key-112358"}"#,
            "pm-key-112358",
        ),
    ];
    let context = json!({
        "request": {"headers": [
            {"name": "accept", "value": "application/json"},
            {"name": "Authorization", "value": "hv-ctx-271828"},
        ]},
        "postman": [{"key": "x-api-key", "value": "pm-ctx-577215", "type": "text"}],
        "plan": "Upgrade to the basic plan",
    });
    let t = |i: usize| texts[i].0.to_string();
    let c = Case {
        context,
        title: t(0),
        description: t(1),
        api_error: t(5),
        integration_error: t(3),
        health: t(4),
        source_error: t(2),
        timeline: json!({"err": t(0), "via": t(2)}),
        secrets: texts
            .iter()
            .map(|(_, s)| s.to_string())
            .chain(["hv-ctx-271828".into(), "pm-ctx-577215".into()])
            .collect(),
    };
    let state = state_from(Some(batch(&c)), Some(source(&c)));
    let mut outputs = tui_outputs(&state, &c);
    outputs.push((
        "snapshot text".into(),
        jfmon::cmd::snapshot::summary(&state),
    ));
    let json = serde_json::to_string(&state.snapshot()).unwrap();
    outputs.push(("snapshot --json".into(), json.clone()));
    for (name, text) in &outputs {
        assert!(
            leaks(text, &c.secrets).is_none(),
            "{name} shows {:?}:\n{text}",
            leaks(text, &c.secrets)
        );
    }
    assert!(json.contains("sk-***"), "{json}");
    assert!(
        json.contains("https://***@github.com/org/repo.git"),
        "{json}"
    );
    assert!(
        json.contains("Upgrade to the basic plan"),
        "over-masked: {json}"
    );
}

/// The issue's shell reproduction, through the real binary: an alert the
/// platform wrote with secrets under `X-Api-Key` and `auth` and in a DSN,
/// plus a failing call whose error holds a bearer token, and
/// `jfmon snapshot --json` / text show none of them.
#[sqlx::test(migrations = "./migrations")]
async fn the_issue_reproduction_comes_out_clean(pool: sqlx::PgPool) {
    sqlx::query(
        r#"insert into monitoring_alerts(alert_type,severity,title,context) values
           ('p','high','t','{"X-Api-Key":"sk-var-header","auth":"auth-var","dsn":"postgres://u:dsn-var-pw@h/db","note":"Authorization: Bearer note-var-tok","raw":"{\"password\": \"json-var-pw\"}"}')"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into monitoring_api_calls(endpoint,method,status_code,response_time,error,timestamp)
         values ('/api/x','GET',500,12,'upstream refused Bearer err-var-tok',now()::timestamp)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let db = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    for args in [&["snapshot", "--json"][..], &["snapshot"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_jfmon"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test")
            .output()
            .expect("run jfmon");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {text}");
        assert!(!text.contains("-var"), "{args:?} shows a secret:\n{text}");
        if args.len() == 2 {
            assert!(text.contains("\"X-Api-Key\": \"***\""), "{text}");
            assert!(text.contains("postgres://u:***@h/db"), "{text}");
        }
    }
}
