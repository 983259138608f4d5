//! Property tests of the stream's message parser: arbitrary bytes, arbitrary
//! JSON and corrupted frames never panic; whatever parses as an update is
//! made safe and applied to a store without panicking (debug build: integer
//! overflow would panic); every valid update survives encode → parse
//! unchanged, and every `system_health` shape maps to a batch.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jfmon::hist::SparseHist;
use jfmon::model::*;
use jfmon::store::State;
use jfmon::store::Thresholds;
use jfmon::wire::platform;
use jfmon::wire::protocol::{self, Frame};
use proptest::prelude::*;
use serde_json::Value;

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::String),
        prop_oneof![
            Just("healthy"),
            Just("warning"),
            Just("error"),
            Just("no_data"),
            Just("database_error"),
            Just("system_health"),
            Just("update"),
            Just("hello"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,12}",
                    Just("type".to_string()),
                    Just("v".to_string()),
                    Just("data".to_string()),
                    Just("status".to_string()),
                    Just("integration_points".to_string()),
                    Just("recent_issues".to_string()),
                    Just("update".to_string()),
                    Just("Batch".to_string()),
                    Just("Source".to_string()),
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Parse, and if it is an update, sanitise and apply it: nothing may panic.
fn digest(text: &str, state: &mut State) {
    digest_at(text, state, Utc::now());
}

/// [`digest`] with the client's clock given; `true` when something was applied.
fn digest_at(text: &str, state: &mut State, client_now: DateTime<Utc>) -> bool {
    match protocol::parse(text) {
        Frame::Update(u) => {
            let mut u = *u;
            if protocol::sanitize(&mut u, client_now) {
                state.apply(u);
                let _ = state.snapshot();
                let _ = state.to_batch();
                true
            } else {
                false
            }
        }
        Frame::SystemHealth(h) => {
            state.apply(Update::Batch(Box::new(platform::to_batch(&h, client_now))));
            let _ = state.snapshot();
            true
        }
        _ => false,
    }
}

/// What `sanitize` documents: only a batch (or a set of rule alerts) dated
/// more than a day ahead of the client, or claiming a window over 31 days,
/// is refused.
fn acceptable(u: &Update, client_now: DateTime<Utc>) -> bool {
    match u {
        Update::Source(_) => true,
        Update::Batch(b) => {
            b.now <= client_now + chrono::TimeDelta::days(1) && b.window_secs <= 31 * 86_400
        }
        Update::RuleAlerts(r) => r.at <= client_now + chrono::TimeDelta::days(1),
    }
}

fn store() -> State {
    State::new(900, Thresholds::default())
}

fn dt() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_000_000_000, 0u32..1_000_000_000)
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn hist() -> impl Strategy<Value = SparseHist> {
    prop::collection::vec((any::<u32>(), any::<u64>()), 0..6).prop_map(SparseHist)
}

fn api_minute() -> impl Strategy<Value = ApiMinute> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        prop::collection::btree_map(any::<u16>(), any::<u64>(), 0..4),
        hist(),
    )
        .prop_map(
            |(requests, errors, client_errors, status, latency)| ApiMinute {
                requests,
                errors,
                client_errors,
                status,
                latency,
            },
        )
}

fn api_call() -> impl Strategy<Value = ApiCall> {
    (
        any::<i64>(),
        dt(),
        text(),
        text(),
        any::<Option<i32>>(),
        any::<Option<i32>>(),
        proptest::option::of(text()),
    )
        .prop_map(
            |(id, at, endpoint, method, status_code, response_ms, error)| ApiCall {
                id,
                at,
                endpoint,
                method,
                status_code,
                response_ms,
                user_id: None,
                error,
            },
        )
}

fn alert() -> impl Strategy<Value = AlertRow> {
    (
        any::<i64>(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(json()),
        any::<bool>(),
        dt(),
    )
        .prop_map(
            |(id, severity_raw, title, context, acknowledged, created_at)| AlertRow {
                id,
                alert_type: None,
                severity_raw,
                title,
                description: None,
                // JSON cannot tell `Some(null)` from `None`: both are `null`.
                context: context.filter(|c| !c.is_null()),
                acknowledged,
                acknowledged_by: None,
                acknowledged_at: None,
                created_at,
            },
        )
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        (any::<bool>(), dt(), any::<u64>()),
        prop::collection::vec(
            (
                any::<i64>(),
                (text(), text()).prop_map(|(endpoint, method)| EndpointKey { endpoint, method }),
                api_minute(),
            ),
            0..4,
        ),
        prop::collection::vec(
            (
                any::<i64>(),
                text(),
                (any::<u64>(), any::<u64>(), hist()).prop_map(|(calls, failures, latency)| {
                    IntegrationMinute {
                        calls,
                        failures,
                        latency,
                    }
                }),
            ),
            0..3,
        ),
        prop::collection::vec(
            (
                text(),
                (
                    proptest::option::of((dt(), text())),
                    proptest::option::of(dt()),
                    any::<u32>(),
                    any::<bool>(),
                )
                    .prop_map(
                        |(last_error, last_success, trailing_failures, any_success)| {
                            IntegrationTail {
                                last_error,
                                last_success,
                                trailing_failures,
                                any_success,
                            }
                        },
                    ),
            ),
            0..3,
        ),
        prop::collection::vec(api_call(), 0..3),
        prop::collection::vec((any::<i64>(), text(), finite()), 0..3),
        proptest::option::of(
            (dt(), prop::collection::btree_map(text(), finite(), 0..3)).prop_map(
                |(day_start, totals)| Today {
                    day_start,
                    totals,
                    ..Default::default()
                },
            ),
        ),
        proptest::option::of(
            (
                any::<u64>(),
                prop::collection::vec((any::<i64>(), any::<u64>()), 0..3),
            )
                .prop_map(|(active, started_per_minute)| SessionsView {
                    active,
                    items: Vec::new(),
                    started_per_minute,
                }),
        ),
        proptest::option::of(
            (
                prop::collection::vec(alert(), 0..3),
                prop::collection::btree_map(text(), any::<u64>(), 0..3),
            )
                .prop_map(|(items, open_by_severity)| AlertsView {
                    items,
                    open_by_severity,
                }),
        ),
        proptest::option::of(prop::collection::vec(
            (text(), text(), proptest::option::of(text()), dt()).prop_map(
                |(integration, status, message, checked_at)| HealthReport {
                    integration,
                    status,
                    message,
                    checked_at,
                },
            ),
            0..3,
        )),
        proptest::option::of(prop::collection::vec(text(), 0..3)),
    )
        .prop_map(
            |(
                (reset, now, window_secs),
                api,
                integrations,
                integration_tails,
                api_errors,
                business,
                today,
                sessions,
                alerts,
                health_reports,
                tables_missing,
            )| Batch {
                reset,
                past: false,
                now,
                window_secs,
                api,
                integrations,
                integration_tails,
                integration_errors: Vec::new(),
                api_errors: api_errors.clone(),
                api_slow: api_errors,
                business,
                today,
                today_older: None,
                sessions,
                alerts,
                health_reports,
                tables_missing,
                usage: None,
                usage_history: None,
            },
        )
}

fn status() -> impl Strategy<Value = SourceStatus> {
    (
        prop_oneof![
            Just(SourceId::Postgres),
            Just(SourceId::Stream),
            Just(SourceId::Demo)
        ],
        any::<bool>(),
        proptest::option::of(dt()),
        proptest::option::of(text()),
        proptest::option::of(finite()),
        text(),
        any::<u64>(),
    )
        .prop_map(
            |(id, up, last_ok, last_error, poll_ms, target, skipped)| SourceStatus {
                id,
                up,
                last_ok,
                last_error,
                poll_ms,
                target,
                skipped,
                history: None,
            },
        )
}

fn update() -> impl Strategy<Value = Update> {
    prop_oneof![
        batch().prop_map(|b| Update::Batch(Box::new(b))),
        status().prop_map(Update::Source),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let mut s = store();
        digest(&String::from_utf8_lossy(&bytes), &mut s);
    }

    #[test]
    fn arbitrary_json_never_panics(v in json(), wrap in 0u8..5) {
        let framed = match wrap {
            0 => v,
            1 => serde_json::json!({"type": "system_health", "data": v}),
            2 => serde_json::json!({"v": 2, "type": "update", "update": v}),
            3 => serde_json::json!({"v": 2, "type": "update", "update": {"Batch": v}}),
            _ => serde_json::json!({"type": "system_health",
                                    "data": {"integration_points": {"x": v.clone()},
                                             "recent_issues": [v]}}),
        };
        let mut s = store();
        digest(&framed.to_string(), &mut s);
    }

    #[test]
    fn valid_updates_round_trip(u in update()) {
        let text = protocol::encode_update(&u);
        prop_assert_eq!(protocol::parse(&text), Frame::Update(Box::new(u)));
    }

    #[test]
    fn wild_updates_are_made_safe_to_apply(
        us in prop::collection::vec((update(), any::<bool>()), 1..4)
    ) {
        let mut s = store();
        let client_now = Utc::now();
        for (mut u, plausible) in us {
            if plausible {
                // Half of them dated and windowed as a real hub would: these
                // must be applied, not merely survived.
                if let Update::Batch(b) = &mut u {
                    b.now = b.now.min(client_now);
                    b.window_secs %= 8 * 86_400;
                }
            }
            let expected = acceptable(&u, client_now);
            prop_assert!(expected || !plausible);
            let applied = digest_at(&protocol::encode_update(&u), &mut s, client_now);
            prop_assert_eq!(applied, expected, "applied vs the documented rule: {:?}", u);
            match &u {
                Update::Source(st) if applied => prop_assert_eq!(s.source(st.id), Some(st)),
                Update::Batch(b) if applied => {
                    prop_assert!(s.has_data());
                    prop_assert!(s.now() >= b.now, "the store's clock follows the batch");
                }
                _ => {}
            }
        }
    }

    /// Wild values in minutes that fall inside the window (so they are kept):
    /// huge counts, odd buckets, random windows.
    #[test]
    fn wild_values_inside_the_window_apply(
        bs in prop::collection::vec((batch(), 0i64..3000), 1..5)
    ) {
        let mut s = store();
        for (mut b, ago) in bs {
            b.now = Utc::now() - chrono::TimeDelta::seconds(ago);
            b.window_secs %= 8 * 86_400;
            let m = minute_of(b.now);
            for (x, _, _) in &mut b.api { *x = m - x.rem_euclid(30); }
            for (x, _, _) in &mut b.integrations { *x = m - x.rem_euclid(30); }
            for (x, _, _) in &mut b.business { *x = m - x.rem_euclid(30); }
            digest(&protocol::encode_update(&Update::Batch(Box::new(b))), &mut s);
        }
        prop_assert!(s.retained() < 100_000);
    }

    #[test]
    fn corrupted_frames_never_panic(
        u in update(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = protocol::encode_update(&u).into_bytes();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep);
        let mut s = store();
        digest(&String::from_utf8_lossy(&bytes), &mut s);
    }
}

#[test]
fn hello_round_trips_and_versions_are_checked() {
    assert_eq!(
        protocol::parse(&protocol::encode_hello(3600)),
        Frame::Hello {
            server: protocol::server_name(),
            window_secs: 3600
        }
    );
    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
    m.insert("v", 3.into());
    m.insert("type", "hello".into());
    assert!(matches!(
        protocol::parse(&serde_json::to_string(&m).unwrap()),
        Frame::Unsupported {
            version: 3,
            hello: true
        }
    ));
}
