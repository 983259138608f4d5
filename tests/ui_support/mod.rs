//! A fixed, hand-made state for the dashboard tests: fifteen minutes of
//! traffic ending at a fixed instant, with `openai` down for the last four
//! minutes, `elevenlabs` degraded, alerts (one holding a secret in its
//! context), sessions and business metrics. Everything is deterministic.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jfmon::aggregate;
use jfmon::model::*;
use jfmon::store::State;
use jfmon::store::Thresholds;
use jfmon::ui::app::App;
use jfmon::ui::mouse::HitMap;
use jfmon::ui::theme::Theme;
use jfmon::ui::{Ctx, Screen, UiSettings};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use serde_json::json;

pub mod rules;

pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The fixed "now" of every test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 12, 0, 30).unwrap()
}

fn at(minute: i64, second: i64) -> DateTime<Utc> {
    // minute 0 is the first minute of the window, 14 the current one.
    minute_start(minute_of(now()) - 14 + minute) + TimeDelta::seconds(second)
}

/// Deterministic jitter in [0, 1).
fn jitter(i: u64) -> f64 {
    ((i.wrapping_mul(2_654_435_761) >> 7) % 1000) as f64 / 1000.0
}

const ENDPOINTS: [(&str, &str, u32, f64); 5] = [
    ("/api/spiritual/guidance", "POST", 12, 900.0),
    ("/api/auth/login", "POST", 20, 80.0),
    ("/api/credits/balance", "GET", 30, 20.0),
    ("/api/credits/purchase", "POST", 4, 300.0),
    ("/api/health", "GET", 10, 4.0),
];

fn api_calls() -> Vec<ApiCall> {
    let mut out = vec![];
    let mut id: u64 = 1_000;
    for minute in 0..15 {
        for (e, (endpoint, method, per_min, base)) in ENDPOINTS.iter().enumerate() {
            for j in 0..*per_min {
                id += 1;
                let outage = minute >= 11 && e == 0;
                let mut ms = base * (0.6 + jitter(id) * 0.9);
                let (status, error) = if outage && j % 3 != 2 {
                    ms = 30_000.0 + jitter(id) * 200.0;
                    (
                        Some(502),
                        Some("UpstreamError: openai timed out".to_string()),
                    )
                } else if e == 3 && j == 1 && minute % 4 == 0 {
                    (Some(402), None)
                } else if e == 1 && j == 0 && minute == 5 {
                    (Some(500), Some("KeyError: 'user'".to_string()))
                } else {
                    (Some(200), None)
                };
                out.push(ApiCall {
                    id: id as i64,
                    at: at(minute, (j as i64 * 30) / *per_min as i64),
                    endpoint: endpoint.to_string(),
                    method: method.to_string(),
                    status_code: status,
                    response_ms: Some(ms as i32),
                    user_id: Some(100 + (id % 50) as i32),
                    error,
                });
            }
        }
    }
    out.sort_by_key(|c| (c.at, c.id));
    out
}

fn integration_calls() -> Vec<IntegrationCall> {
    let specs: [(&str, u32, f64); 4] = [
        ("openai", 8, 600.0),
        ("elevenlabs", 10, 850.0),
        ("prokerala", 6, 260.0),
        ("did", 2, 2400.0),
    ];
    let mut out = vec![];
    let mut id: u64 = 50_000;
    for minute in 0..15 {
        for (name, per_min, base) in specs {
            for j in 0..per_min {
                id += 1;
                let (success, status, error, ms) = match name {
                    "openai" if minute >= 11 => {
                        if j % 2 == 0 {
                            (
                                false,
                                Some(503),
                                Some("openai: 503 Service Unavailable"),
                                40.0,
                            )
                        } else {
                            (false, None, Some("ConnectTimeout after 30000 ms"), 30_000.0)
                        }
                    }
                    "elevenlabs" if j == 3 => (
                        false,
                        Some(500),
                        Some("elevenlabs: 500 Internal Server Error"),
                        base,
                    ),
                    _ => (true, Some(200), None, base * (0.7 + jitter(id) * 0.8)),
                };
                out.push(IntegrationCall {
                    id: id as i64,
                    at: at(minute, (j as i64 * 30) / per_min as i64),
                    integration: name.to_string(),
                    operation: Some(
                        match name {
                            "openai" => "chat_completion",
                            "elevenlabs" => "text_to_speech",
                            "prokerala" => "birth_chart",
                            _ => "avatar_video",
                        }
                        .to_string(),
                    ),
                    success,
                    duration_ms: Some(ms as i32),
                    status_code: status,
                    error: error.map(str::to_string),
                    session_id: None,
                });
            }
        }
    }
    out.sort_by_key(|c| (c.at, c.id));
    out
}

fn business() -> Vec<BusinessObs> {
    let mut out = vec![];
    for minute in 0..15 {
        let t = at(minute, 10);
        out.push(BusinessObs {
            id: minute * 3,
            at: t,
            metric: "revenue".into(),
            value: 19.99 * (1 + minute % 3) as f64,
            unit: Some("USD".into()),
        });
        out.push(BusinessObs {
            id: minute * 3 + 1,
            at: t,
            metric: "credits_used".into(),
            value: 40.0 + (minute * 7 % 11) as f64,
            unit: Some("credits".into()),
        });
        if minute % 2 == 0 {
            out.push(BusinessObs {
                id: minute * 3 + 2,
                at: t,
                metric: "conversions".into(),
                value: 1.0,
                unit: Some("count".into()),
            });
        }
    }
    out
}

pub fn sessions() -> SessionsView {
    let services = [
        "spiritual_guidance",
        "voice_guidance",
        "avatar_video",
        "live_chat",
    ];
    let items = (0..6)
        .map(|i| Session {
            session_id: format!("sess-{:04}", 9000 + i),
            user_id: Some(2000 + i as i64 * 37),
            service: services[i % services.len()].to_string(),
            status: "active".into(),
            started_at: now() - TimeDelta::seconds(20 + i as i64 * 95),
            last_activity_at: now() - TimeDelta::seconds(5 + i as i64),
            ended_at: None,
            credits_used: (i as i32) * 15,
        })
        .collect();
    let started_per_minute = (0..15)
        .map(|m| (minute_of(at(m, 0)), (3 + (m * 5 % 7)) as u64))
        .collect();
    SessionsView {
        active: 42,
        items,
        started_per_minute,
    }
}

pub fn alerts() -> AlertsView {
    let row =
        |id: i64, sev: &str, title: &str, ago_min: i64, context: serde_json::Value, acked: bool| {
            AlertRow {
                id,
                alert_type: Some(if title.contains("recovered") {
                    "integration_recovered".into()
                } else {
                    "integration_down".into()
                }),
                severity_raw: Some(sev.into()),
                title: Some(title.into()),
                description: Some(format!(
                    "{title}.\nDetected by the platform's integration monitor over the last 30 s."
                )),
                context: Some(context),
                acknowledged: acked,
                acknowledged_by: acked.then_some(3),
                acknowledged_at: acked.then(|| now() - TimeDelta::minutes(2)),
                created_at: now() - TimeDelta::minutes(ago_min),
            }
        };
    let items = vec![
        row(
            7,
            "critical",
            "OpenAI integration down",
            3,
            json!({"integration": "openai", "error_rate": 0.93, "calls": 153,
                   "request": {"api_key": "sk-live-SECRET", "model": "gpt-4o"}}),
            false,
        ),
        row(
            6,
            "high",
            "ElevenLabs integration degraded",
            9,
            json!({"integration": "elevenlabs", "error_rate": 0.1}),
            false,
        ),
        row(
            5,
            "warning",
            "Slow responses on /api/spiritual/guidance",
            12,
            json!({"endpoint": "/api/spiritual/guidance", "p95_ms": 30100}),
            false,
        ),
        row(
            4,
            "info",
            "Prokerala integration recovered",
            40,
            json!({"integration": "prokerala"}),
            true,
        ),
    ];
    let mut open_by_severity = BTreeMap::new();
    open_by_severity.insert("critical".to_string(), 1);
    open_by_severity.insert("high".to_string(), 1);
    open_by_severity.insert("warning".to_string(), 1);
    AlertsView {
        items,
        open_by_severity,
    }
}

/// The whole window, as the poller's first load would deliver it.
pub fn full_batch() -> Batch {
    batch_of(&api_calls(), &integration_calls())
}

/// The whole window with these calls.
fn batch_of(api: &[ApiCall], integ: &[IntegrationCall]) -> Batch {
    let mut b = Batch {
        reset: true,
        now: now(),
        window_secs: WINDOW.as_secs(),
        sessions: Some(sessions()),
        alerts: Some(alerts()),
        health_reports: Some(vec![
            HealthReport {
                integration: "openai".into(),
                status: "down".into(),
                message: Some("503 Service Unavailable".into()),
                checked_at: now() - TimeDelta::seconds(10),
            },
            HealthReport {
                integration: "rag".into(),
                status: "healthy".into(),
                message: None,
                checked_at: now() - TimeDelta::seconds(30),
            },
        ]),
        tables_missing: Some(vec![]),
        today: Some(Today {
            day_start: Utc.with_ymd_and_hms(2025, 3, 14, 0, 0, 0).unwrap(),
            totals: [
                ("revenue".to_string(), 5234.5),
                ("credits_used".to_string(), 12034.0),
                ("conversions".to_string(), 87.0),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    aggregate::add_api_calls(&mut b, api);
    aggregate::add_integration_calls(&mut b, integ);
    aggregate::add_business(&mut b, &business());
    b
}

/// An empty database: every table there, no rows.
pub fn empty_batch() -> Batch {
    Batch {
        reset: true,
        now: now(),
        window_secs: WINDOW.as_secs(),
        sessions: Some(SessionsView::default()),
        alerts: Some(AlertsView::default()),
        health_reports: Some(vec![]),
        tables_missing: Some(vec![]),
        ..Default::default()
    }
}

pub fn postgres(up: bool, last_ok_ago: i64, error: Option<&str>) -> SourceStatus {
    SourceStatus {
        id: SourceId::Postgres,
        up,
        last_ok: Some(now() - TimeDelta::seconds(last_ok_ago)),
        last_error: error.map(str::to_string),
        poll_ms: Some(12.0),
        target: "db.example.com:5432/jyoti".into(),
        skipped: 0,
        history: None,
    }
}

/// A state from a batch (if any) and a source status (if any).
pub fn state_from(batch: Option<Batch>, source: Option<SourceStatus>) -> State {
    let mut s = State::new(WINDOW.as_secs(), Thresholds::default());
    if let Some(b) = batch {
        s.apply(Update::Batch(Box::new(b)));
    }
    if let Some(src) = source {
        s.apply(Update::Source(src));
    }
    s
}

/// The usual: full data, PostgreSQL live (last poll a second ago).
pub fn state() -> State {
    state_from(Some(full_batch()), Some(postgres(true, 1, None)))
}

pub fn settings(color: bool, ascii: bool) -> UiSettings {
    UiSettings {
        environment: "production".into(),
        target: "db.example.com:5432/jyoti".into(),
        demo: false,
        read_only: false,
        local_time: false,
        poll_interval: Duration::from_secs(2),
        theme: Theme::new(color, ascii),
        mouse: true,
        bell: false,
    }
}

pub fn app() -> App {
    App::new(settings(true, false), WINDOW)
}

/// Draw one frame of `w`×`h` and return the backend (buffer inside).
pub fn draw(app: &App, state: &State, w: u16, h: u16) -> TestBackend {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let ctx = Ctx {
        app,
        state,
        live: state,
        now: now(),
        hits: None,
    };
    t.draw(|f| f.render_widget(Screen { ctx }, f.area()))
        .unwrap();
    t.backend().clone()
}

/// The frame as text, one quoted line per row.
/// Draw one frame of `w`×`h`; the text and where it drew what (for the mouse).
pub fn draw_with_hits(app: &App, state: &State, w: u16, h: u16) -> (String, HitMap) {
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    let ctx = Ctx {
        app,
        state,
        live: state,
        now: now(),
        hits: None,
    };
    let hits = Screen { ctx }.draw(area, &mut buf);
    let text = (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n");
    (text, hits)
}

pub fn render(app: &App, state: &State, w: u16, h: u16) -> String {
    draw(app, state, w, h).to_string()
}

/// A session timeline with a secret in it.
pub fn timeline() -> Vec<ContextEvent> {
    let base = now() - TimeDelta::seconds(200);
    vec![
        ContextEvent {
            session_id: "sess-9001".into(),
            user_id: Some(2037),
            context_type: "session_start".into(),
            data: json!({"service": "voice_guidance", "language": "en"}),
            at: base,
        },
        ContextEvent {
            session_id: "sess-9001".into(),
            user_id: Some(2037),
            context_type: "integration_call".into(),
            data: json!({"integration": "elevenlabs", "headers": {"Authorization": "Bearer abc.def"}, "voice": "calm"}),
            at: base + TimeDelta::seconds(40),
        },
        ContextEvent {
            session_id: "sess-9001".into(),
            user_id: Some(2037),
            context_type: "credits".into(),
            data: json!({"credits_used": 15, "balance": 85}),
            at: base + TimeDelta::seconds(90),
        },
    ]
}

/// Sessions per service over the window: voice_guidance completes 7 of 8
/// until minute 10, then 2 of 8; avatar_video has sessions that stop within
/// seconds; a day of history, no week.
pub fn usage() -> (UsageUpdate, UsageHistory) {
    let mut minutes = vec![];
    for m in 0..15 {
        let mut add =
            |service: &str, started: u64, done: u64, failed: u64, aband: u64, secs: i64| {
                let mut u = UsageMinute {
                    started,
                    ..Default::default()
                };
                for i in 0..done {
                    u.record_end(Outcome::Completed, secs + (i as i64 * 13 + m) % 90, 3);
                }
                for _ in 0..failed {
                    u.record_end(Outcome::Failed, secs / 2, 2);
                }
                for i in 0..aband {
                    let quick = service == "avatar_video" && i == 0;
                    u.record_end(Outcome::Abandoned, if quick { 4 } else { secs / 3 }, 1);
                }
                minutes.push((minute_of(at(m, 0)), service.to_string(), u));
            };
        add("spiritual_guidance", 9 + (m as u64 % 3), 8, 0, 1, 240);
        let late = m >= 10;
        add(
            "voice_guidance",
            8,
            if late { 2 } else { 7 },
            if late { 3 } else { 0 },
            if late { 3 } else { 1 },
            300,
        );
        add("avatar_video", 3, 2, 0, 1, 420);
        add("live_chat", 5, 4, 0, 1, 120);
    }
    let first = minute_of(now()) - 15;
    let mut day = BTreeMap::new();
    for (s, started, completed) in [
        ("spiritual_guidance", 150, 130),
        ("voice_guidance", 110, 100),
        ("avatar_video", 40, 35),
    ] {
        day.insert(
            s.to_string(),
            UsageTotals {
                started,
                completed,
                failed: 2,
                abandoned: started - completed - 2,
                credits: started * 3,
            },
        );
    }
    let hours_today = (0..24)
        .map(|h| if h <= 12 { 200 + h * 10 } else { 0 })
        .collect();
    let mut hours_week: Vec<f64> = (0..24).map(|h| 150.0 + h as f64 * 12.0).collect();
    hours_week[11] = 600.0;
    (
        UsageUpdate {
            from: first,
            minutes,
            ..Default::default()
        },
        UsageHistory {
            day_ago: Some(day),
            week_ago: None,
            hours_today: Some(hours_today),
            hours_week: Some(hours_week),
        },
    )
}

/// [`state`] with feature usage, and the sign-ups and first sessions the funnel needs.
pub fn usage_state() -> State {
    let mut b = full_batch();
    let (u, h) = usage();
    b.usage = Some(u);
    b.usage_history = Some(h);
    let extra: Vec<BusinessObs> = (0..15)
        .flat_map(|m| {
            [("signups", 2.0), ("first_sessions", 1.0)].map(|(metric, value)| BusinessObs {
                id: 1000 + m,
                at: at(m, 20),
                metric: metric.into(),
                value,
                unit: Some("count".into()),
            })
        })
        .collect();
    aggregate::add_business(&mut b, &extra);
    state_from(Some(b), Some(postgres(true, 1, None)))
}

/// A bigger platform for the wall screen: thirty endpoints and twelve
/// integrations (the usual five and four among them), same sessions,
/// alerts and business metrics.
pub fn many_batch() -> Batch {
    let mut calls = api_calls();
    let mut id: u64 = 900_000;
    for n in 0..25u64 {
        for minute in 0..15 {
            for j in 0..2 {
                id += 1;
                let base = 10.0 * (1 + n % 7) as f64 * (1 + n % 3) as f64;
                calls.push(ApiCall {
                    id: id as i64,
                    at: at(minute, j * 15 + (n % 10) as i64),
                    endpoint: format!("/api/v2/resource_{n:02}"),
                    method: if n % 4 == 0 { "POST" } else { "GET" }.to_string(),
                    status_code: Some(if n % 9 == 0 && j == 0 && minute % 5 == 0 {
                        500
                    } else {
                        200
                    }),
                    response_ms: Some((base * (0.6 + jitter(id) * 0.9)) as i32),
                    user_id: Some(100 + (id % 50) as i32),
                    error: None,
                });
            }
        }
    }
    calls.sort_by_key(|c| (c.at, c.id));
    let mut integ = integration_calls();
    let more = [
        "stripe", "sendgrid", "twilio", "s3", "redis", "vimeo", "zoom", "pinecone",
    ];
    let mut id: u64 = 800_000;
    for (n, name) in more.iter().enumerate() {
        for minute in 0..15 {
            for j in 0..3 {
                id += 1;
                integ.push(IntegrationCall {
                    id: id as i64,
                    at: at(minute, j * 10 + n as i64),
                    integration: name.to_string(),
                    operation: Some("call".to_string()),
                    success: true,
                    duration_ms: Some((50.0 * (1 + n) as f64 * (0.7 + jitter(id) * 0.8)) as i32),
                    status_code: Some(200),
                    error: None,
                    session_id: None,
                });
            }
        }
    }
    integ.sort_by_key(|c| (c.at, c.id));
    batch_of(&calls, &integ)
}

/// [`many_batch`], PostgreSQL live.
pub fn many_state() -> State {
    state_from(Some(many_batch()), Some(postgres(true, 1, None)))
}
