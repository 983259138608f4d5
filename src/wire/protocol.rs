//! The wire formats a stream client understands, and the hub's encoder.
//!
//! 1. **jfmon hub protocol v1** (see `docs/PROTOCOL.md`): JSON text frames
//!    `{"v":2,"type":"hello",...}` and `{"v":2,"type":"update","update":<Update>}`
//!    where `<Update>` is [`crate::model::Update`] exactly as serde writes it.
//! 2. **The platform's own stream** (`/api/monitoring/ws`): frames
//!    `{"type":"system_health","data":{...}}` without a version, mapped onto a
//!    [`crate::model::Batch`] by [`super::platform`].
//!
//! [`parse`] never panics and never allocates much more than the frame it is
//! given: anything it does not understand comes back as [`Frame::Unknown`] or
//! [`Frame::Malformed`], for the caller to count and skip.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::platform::{self, SystemHealth};
use crate::model::{Batch, RuleBound, Update};

/// The protocol's major version. A client refuses a hub that says hello with
/// another one; minor, compatible additions (new optional fields, new message
/// types that old clients skip) keep the number.
pub const VERSION: u64 = 2;

/// Default soft limit on one incoming message (a hub's full-state reset of a
/// long window is the largest thing a client receives).
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// The longest unknown `type` string kept for logs.
const MAX_KIND_LEN: usize = 64;

/// What one text frame turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A hub's greeting (protocol version already checked).
    Hello { server: String, window_secs: u64 },
    /// A hub's update, to apply as it is.
    Update(Box<Update>),
    /// The platform's `system_health` report.
    SystemHealth(Box<SystemHealth>),
    /// A hub message of a major version this client does not speak; `hello`
    /// tells whether it was the greeting (then the client must give up).
    Unsupported { version: u64, hello: bool },
    /// Well-formed JSON of a type this client does not know.
    Unknown { kind: String },
    /// Not JSON, not an object, or a known type with the wrong shape.
    Malformed(String),
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(default)]
    v: Option<u64>,
    #[serde(default, rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct HelloIn {
    #[serde(default)]
    server: String,
    #[serde(default)]
    window_secs: u64,
}

#[derive(Deserialize)]
struct UpdateIn {
    update: Update,
}

#[derive(Deserialize)]
struct PlatformIn {
    #[serde(default)]
    data: serde_json::Value,
}

fn short(s: &str) -> String {
    let mut end = s.len().min(MAX_KIND_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Errors from serde_json quote bits of the input; keep them short.
fn malformed(e: serde_json::Error) -> Frame {
    Frame::Malformed(short(&e.to_string()))
}

/// Classify and decode one text frame.
pub fn parse(text: &str) -> Frame {
    let head: Head = match serde_json::from_str(text) {
        Ok(h) => h,
        Err(e) => return malformed(e),
    };
    let kind = head.kind.as_deref().unwrap_or("");
    match head.v {
        Some(v) if v != VERSION => Frame::Unsupported {
            version: v,
            hello: kind == "hello",
        },
        Some(_) => match kind {
            "hello" => match serde_json::from_str::<HelloIn>(text) {
                Ok(h) => Frame::Hello {
                    server: short(&h.server),
                    window_secs: h.window_secs,
                },
                Err(e) => malformed(e),
            },
            "update" => match serde_json::from_str::<UpdateIn>(text) {
                Ok(u) => Frame::Update(Box::new(u.update)),
                Err(e) => malformed(e),
            },
            other => Frame::Unknown { kind: short(other) },
        },
        None => match kind {
            "system_health" => match serde_json::from_str::<PlatformIn>(text) {
                Ok(p) => match platform::from_value(&p.data) {
                    Some(h) => Frame::SystemHealth(Box::new(h)),
                    None => Frame::Malformed("system_health without a data object".into()),
                },
                Err(e) => malformed(e),
            },
            other => Frame::Unknown { kind: short(other) },
        },
    }
}

#[derive(Serialize)]
struct HelloOut<'a> {
    v: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    server: &'a str,
    window_secs: u64,
}

#[derive(Serialize)]
struct UpdateOut<'a> {
    v: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    update: &'a Update,
}

/// The server string a hub announces.
pub fn server_name() -> String {
    format!("jfmon/{}", env!("CARGO_PKG_VERSION"))
}

/// The hub's greeting.
pub fn encode_hello(window_secs: u64) -> String {
    serde_json::to_string(&HelloOut {
        v: VERSION,
        kind: "hello",
        server: &server_name(),
        window_secs,
    })
    .unwrap_or_default()
}

/// One update frame. Non-finite numbers must be removed first
/// ([`make_finite`]): JSON has no NaN and a client could not read the frame.
pub fn encode_update(u: &Update) -> String {
    serde_json::to_string(&UpdateOut {
        v: VERSION,
        kind: "update",
        update: u,
    })
    .unwrap_or_default()
}

fn fix(v: &mut f64) -> bool {
    if v.is_finite() {
        false
    } else {
        *v = 0.0;
        true
    }
}

/// Replace NaN and infinities (a `DOUBLE PRECISION` column can hold them) by
/// 0 so the update survives JSON; returns whether anything changed. The hub
/// applies the fixed update to its own state too, so clients stay identical.
pub fn make_finite(u: &mut Update) -> bool {
    let mut changed = false;
    match u {
        Update::Batch(b) => {
            for (_, _, v) in &mut b.business {
                changed |= fix(v);
            }
            for t in [&mut b.today, &mut b.today_older].into_iter().flatten() {
                for v in t.totals.values_mut() {
                    changed |= fix(v);
                }
            }
        }
        Update::Source(s) => {
            if s.poll_ms.is_some_and(|p| !p.is_finite()) {
                s.poll_ms = None;
                changed = true;
            }
        }
        Update::RuleAlerts(r) => {
            for a in &mut r.alerts {
                if a.value.is_some_and(|v| !v.is_finite()) {
                    a.value = None;
                    changed = true;
                }
                match &mut a.bound {
                    RuleBound::Threshold {
                        threshold, recover, ..
                    } => {
                        changed |= fix(threshold);
                        changed |= fix(recover);
                    }
                    RuleBound::Band { low, high, median } => {
                        changed |= fix(low);
                        changed |= fix(high);
                        changed |= fix(median);
                    }
                    RuleBound::None => {}
                }
            }
        }
    }
    changed
}

/// Counts above this from a server are clamped (no real window holds more).
const MAX_COUNT: u64 = 1 << 40;
/// Rows of a list (sessions, alerts) kept from a server.
const MAX_LIST: usize = 1_000;
/// The longest window a server may claim (the configuration allows 7 days).
const MAX_WINDOW_SECS: u64 = 31 * 86_400;

/// Make an update from a server safe to apply to a store, whatever the server
/// is: a batch must not be dated more than a day ahead of `client_now`;
/// minute buckets outside its window are dropped (they would never expire),
/// counts are clamped. Returns `false` when the update must be skipped.
/// An honest hub's updates pass unchanged.
pub fn sanitize(u: &mut Update, client_now: chrono::DateTime<chrono::Utc>) -> bool {
    let b = match u {
        Update::Batch(b) => b,
        Update::Source(_) => return true,
        Update::RuleAlerts(r) => {
            if r.at > client_now + chrono::TimeDelta::days(1) {
                return false;
            }
            r.alerts.truncate(crate::model::MAX_RULE_ALERTS);
            while r.notes.len() > crate::model::MAX_KEYS {
                r.notes.pop_last();
            }
            return true;
        }
    };
    // A date in the past is harmless (a store's clock never goes back; an
    // empty hub's state is dated 1970); one in the future would expire
    // everything the store holds.
    if b.now > client_now + chrono::TimeDelta::days(1) {
        return false;
    }
    if b.window_secs > MAX_WINDOW_SECS {
        return false;
    }
    let window = if b.window_secs > 0 {
        b.window_secs
    } else {
        MAX_WINDOW_SECS
    };
    let last = crate::model::minute_of(b.now) + 1;
    let first = last - (window.div_ceil(60) as i64) - 2;
    let ok = |m: &i64| (first..=last).contains(m);
    b.api.retain(|(m, _, _)| ok(m));
    b.integrations.retain(|(m, _, _)| ok(m));
    b.business.retain(|(m, _, v)| ok(m) && v.is_finite());
    let clamp = |x: &mut u64| *x = (*x).min(MAX_COUNT);
    // Buckets re-normalised (sorted, merged, on bucket boundaries), so the
    // window histogram's add and subtract see exactly the same values.
    let hist = |h: &mut crate::hist::SparseHist| {
        let mut clean = crate::hist::SparseHist::default();
        for &(b, n) in &h.0 {
            clean.record_bucket(b, n.min(MAX_COUNT));
        }
        *h = clean;
    };
    for (_, _, a) in &mut b.api {
        clamp(&mut a.requests);
        a.errors = a.errors.min(a.requests);
        a.client_errors = a.client_errors.min(a.requests);
        a.status.values_mut().for_each(clamp);
        hist(&mut a.latency);
    }
    for (_, _, i) in &mut b.integrations {
        clamp(&mut i.calls);
        i.failures = i.failures.min(i.calls);
        hist(&mut i.latency);
    }
    for (_, t) in &mut b.integration_tails {
        t.trailing_failures = t.trailing_failures.min(1_000_000);
    }
    if let Some(s) = &mut b.sessions {
        s.started_per_minute.retain(|(m, _)| ok(m));
        s.started_per_minute.iter_mut().for_each(|(_, n)| clamp(n));
        clamp(&mut s.active);
    }
    if let Some(a) = &mut b.alerts {
        a.open_by_severity.values_mut().for_each(clamp);
        a.items.truncate(MAX_LIST);
        for item in &mut a.items {
            item.context = item.context.as_ref().map(crate::redact::mask_json);
        }
    }
    if let Some(u) = &mut b.usage {
        u.minutes.retain(|(m, _, _)| ok(m));
        u.minutes.truncate(MAX_LIST * 100);
        for (_, _, x) in &mut u.minutes {
            for n in [
                &mut x.started,
                &mut x.completed,
                &mut x.failed,
                &mut x.abandoned,
                &mut x.credits,
            ] {
                clamp(n);
            }
            x.quick_ends = x.quick_ends.min(x.completed + x.failed + x.abandoned);
            x.credits_unfinished = x.credits_unfinished.min(x.credits);
            hist(&mut x.duration);
        }
    }
    if let Some(h) = &mut b.usage_history {
        for past in [&mut h.day_ago, &mut h.week_ago].into_iter().flatten() {
            while past.len() > crate::model::MAX_KEYS {
                past.pop_last();
            }
        }
        if h.hours_today.as_ref().is_some_and(|v| v.len() != 24) {
            h.hours_today = None;
        }
        if h.hours_week
            .as_ref()
            .is_some_and(|v| v.len() != 24 || v.iter().any(|x| !x.is_finite()))
        {
            h.hours_week = None;
        }
    }
    // Lists a store keeps are bounded here too, whatever a server sends.
    if let Some(s) = &mut b.sessions {
        s.items.truncate(MAX_LIST);
    }
    if let Some(r) = &mut b.health_reports {
        r.truncate(crate::model::MAX_KEYS);
    }
    b.integration_tails.truncate(crate::model::MAX_KEYS);
    for ring in [&mut b.api_errors, &mut b.api_slow] {
        let extra = ring.len().saturating_sub(crate::model::RECENT_CAP);
        ring.drain(..extra);
    }
    let extra = b
        .integration_errors
        .len()
        .saturating_sub(crate::model::RECENT_CAP);
    b.integration_errors.drain(..extra);
    for t in [&mut b.today, &mut b.today_older].into_iter().flatten() {
        t.totals.retain(|_, v| v.is_finite());
    }
    true
}

/// Rough serialised size of a batch part, for splitting a reset.
fn api_cost(m: &crate::model::ApiMinute) -> usize {
    96 + 24 * m.latency.0.len() + 16 * m.status.len()
}

fn integration_cost(m: &crate::model::IntegrationMinute) -> usize {
    80 + 24 * m.latency.0.len()
}

/// Split a full-state reset batch into parts of about `chunk_bytes` each that,
/// applied in order to any store, leave it exactly as the one batch would: the
/// first part has `reset` and everything but the minute buckets; the minute
/// buckets (which merge by addition into empty slots) follow; the integration
/// tails come last, once their integrations exist.
pub fn split_reset(mut b: Batch, chunk_bytes: usize) -> Vec<Batch> {
    let chunk_bytes = chunk_bytes.max(4096);
    let api = std::mem::take(&mut b.api);
    let integrations = std::mem::take(&mut b.integrations);
    let tails = std::mem::take(&mut b.integration_tails);
    let shell = |reset: bool| Batch {
        reset,
        now: b.now,
        window_secs: b.window_secs,
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut cur = b.clone();
    let mut size = 4096;
    for item in api {
        let c = api_cost(&item.2);
        if size + c > chunk_bytes && !(cur.api.is_empty() && cur.integrations.is_empty()) {
            out.push(std::mem::replace(&mut cur, shell(false)));
            size = 0;
        }
        size += c;
        cur.api.push(item);
    }
    for item in integrations {
        let c = integration_cost(&item.2);
        if size + c > chunk_bytes && !(cur.api.is_empty() && cur.integrations.is_empty()) {
            out.push(std::mem::replace(&mut cur, shell(false)));
            size = 0;
        }
        size += c;
        cur.integrations.push(item);
    }
    cur.integration_tails = tails;
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiMinute, EndpointKey, SourceId, SourceStatus};

    #[test]
    fn classifies_frames() {
        assert!(matches!(
            parse(&encode_hello(900)),
            Frame::Hello {
                window_secs: 900,
                ..
            }
        ));
        let u = Update::Source(SourceStatus::new(SourceId::Postgres, "db:5432/x"));
        assert_eq!(parse(&encode_update(&u)), Frame::Update(Box::new(u)));
        assert!(matches!(parse("nope"), Frame::Malformed(_)));
        assert!(matches!(parse("[1,2]"), Frame::Malformed(_)));
        assert!(matches!(
            parse(r#"{"v":3,"type":"hello"}"#),
            Frame::Unsupported {
                version: 3,
                hello: true
            }
        ));
        assert!(matches!(
            parse(r#"{"v":2,"type":"gossip","x":1}"#),
            Frame::Unknown { .. }
        ));
        assert!(matches!(
            parse(r#"{"type":"metrics_update","data":{}}"#),
            Frame::Unknown { .. }
        ));
        assert!(matches!(
            parse(r#"{"v":2,"type":"update","update":{"Nope":1}}"#),
            Frame::Malformed(_)
        ));
        assert!(matches!(
            parse(r#"{"type":"system_health","data":{"active_sessions":3}}"#),
            Frame::SystemHealth(_)
        ));
    }

    #[test]
    fn non_finite_numbers_are_zeroed() {
        let mut b = Batch::default();
        b.business.push((1, "revenue".into(), f64::NAN));
        let mut u = Update::Batch(Box::new(b));
        assert!(make_finite(&mut u));
        let Frame::Update(back) = parse(&encode_update(&u)) else {
            panic!()
        };
        assert_eq!(*back, u);
    }

    fn rule_alerts() -> Update {
        use crate::model::{RuleAlert, RuleAlertState, RuleAlerts, RuleOrigin, Severity};
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let alert = |fp: &str, state, bound| RuleAlert {
            fingerprint: fp.into(),
            rule: "integration-down".into(),
            labels: [
                ("alertname".to_string(), "integration-down".to_string()),
                ("integration".to_string(), "openai".to_string()),
            ]
            .into(),
            state,
            severity: Severity::Critical,
            metric: "status".into(),
            value: Some(2.0),
            bound,
            since: Some(at),
            resolved_at: None,
            summary: "openai is down".into(),
            why: "9 of 10 calls failed (90 %)".into(),
            baseline: None,
        };
        Update::RuleAlerts(Box::new(RuleAlerts {
            origin: RuleOrigin::Hub,
            at,
            alerts: vec![
                alert(
                    "0123456789abcdef",
                    RuleAlertState::Flapping,
                    RuleBound::Threshold {
                        op: ">=".into(),
                        threshold: 2.0,
                        recover: 1.0,
                    },
                ),
                alert(
                    "fedcba9876543210",
                    RuleAlertState::Pending,
                    RuleBound::Band {
                        low: 120.0,
                        high: 480.0,
                        median: 250.0,
                    },
                ),
                alert(
                    "00000000000000ff",
                    RuleAlertState::Resolved,
                    RuleBound::None,
                ),
            ],
            notes: [(
                "p95-anomaly".to_string(),
                "not enough history yet".to_string(),
            )]
            .into(),
        }))
    }

    #[test]
    fn rule_alerts_round_trip_and_read_as_documented() {
        let u = rule_alerts();
        let text = encode_update(&u);
        assert_eq!(parse(&text), Frame::Update(Box::new(u.clone())));
        // The shape docs/PROTOCOL.md shows.
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let r = &v["update"]["RuleAlerts"];
        assert_eq!(r["origin"], "hub");
        assert_eq!(r["alerts"][0]["state"], "flapping");
        assert_eq!(r["alerts"][0]["bound"]["kind"], "threshold");
        assert_eq!(r["alerts"][1]["bound"]["kind"], "band");
        assert_eq!(r["alerts"][2]["bound"], serde_json::json!({"kind": "none"}));
        assert_eq!(r["alerts"][0]["severity"], "critical");
        // Non-finite values survive as no data / 0, and a future set is refused.
        let mut bad = u.clone();
        if let Update::RuleAlerts(r) = &mut bad {
            r.alerts[0].value = Some(f64::NAN);
            r.alerts[1].bound = RuleBound::Band {
                low: f64::INFINITY,
                high: 1.0,
                median: 1.0,
            };
        }
        assert!(make_finite(&mut bad));
        assert!(matches!(parse(&encode_update(&bad)), Frame::Update(_)));
        let Update::RuleAlerts(r) = &u else { panic!() };
        let mut future = u.clone();
        assert!(!sanitize(&mut future, r.at - chrono::TimeDelta::days(2)));
        let mut fine = u.clone();
        assert!(sanitize(&mut fine, r.at));
        assert_eq!(fine, u);
    }

    #[test]
    fn split_reset_keeps_everything_in_order() {
        let mut b = Batch {
            reset: true,
            window_secs: 900,
            ..Default::default()
        };
        for m in 0..50 {
            let mut a = ApiMinute::default();
            for v in 0..200 {
                a.latency.record(v * 7);
            }
            b.api.push((
                m,
                EndpointKey {
                    endpoint: format!("/e{m}"),
                    method: "GET".into(),
                },
                a,
            ));
        }
        b.integration_tails.push(("x".into(), Default::default()));
        let parts = split_reset(b.clone(), 64 * 1024);
        assert!(parts.len() > 1);
        assert!(parts[0].reset && parts[1..].iter().all(|p| !p.reset));
        let api: Vec<_> = parts.iter().flat_map(|p| p.api.clone()).collect();
        assert_eq!(api, b.api);
        assert_eq!(parts.last().unwrap().integration_tails.len(), 1);
        assert!(
            parts[..parts.len() - 1]
                .iter()
                .all(|p| p.integration_tails.is_empty())
        );
    }
}
