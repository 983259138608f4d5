//! `GET /metrics`: the hub's state in the Prometheus text exposition format
//! (version 0.0.4), written by hand. Every family is one row of a table –
//! name, type, help and how to read its samples from the [`State`] – so the
//! exposition follows Prometheus's naming guide in one place: base units
//! (seconds, ratios 0..1), `_total` only on counters, and no `quantile`
//! label outside a summary (window percentiles are separate `_p50`/`_p95`/
//! `_p99` gauges). `promtool check metrics` passes on it (`tests/prometheus.rs`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::HubCounters;
use crate::model::{EndpointStats, Health, IntegrationStats, Severity};
use crate::store::State;

/// Labels and value of one sample.
type Sample = (Vec<(&'static str, String)>, f64);

/// What a family's samples are read from.
enum Read {
    /// One unlabelled value.
    One(fn(&Ctx) -> f64),
    /// One sample per endpoint (labels `endpoint`, `method`); `None` = no sample.
    Endpoint(fn(&EndpointStats, &Ctx) -> Option<f64>),
    /// One sample per integration (label `integration`).
    Integration(fn(&IntegrationStats) -> Option<f64>),
    /// Any other shape.
    Many(fn(&Ctx) -> Vec<Sample>),
}

/// A family: (name, type, help, samples).
type Family = (&'static str, &'static str, &'static str, Read);

/// What the readers see.
struct Ctx<'a> {
    state: &'a State,
    counters: &'a HubCounters,
    clients: usize,
    now: DateTime<Utc>,
}

fn secs(ms: Option<f64>) -> Option<f64> {
    ms.map(|v| v / 1000.0)
}

fn count(a: &AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

/// Every family the hub exports, in the order served.
#[rustfmt::skip]
const FAMILIES: &[Family] = &[
    ("jfmon_window_seconds", "gauge", "Length of the window the other gauges are computed over.",
        Read::One(|c| c.state.window_secs() as f64)),
    ("jfmon_endpoint_requests", "gauge", "Requests per endpoint within the window.",
        Read::Endpoint(|e, _| Some(e.requests as f64))),
    ("jfmon_endpoint_request_rate", "gauge", "Requests per second per endpoint, averaged over the window.",
        Read::Endpoint(|e, _| Some(e.rps))),
    ("jfmon_endpoint_error_ratio", "gauge", "Share of requests that failed (status >= 500 or an error), 0..1, over the window.",
        Read::Endpoint(|e, _| Some(e.error_rate))),
    ("jfmon_endpoint_error_rate", "gauge", "Failed requests per second per endpoint, averaged over the window.",
        Read::Endpoint(|e, c| Some(e.errors as f64
            / crate::model::window_coverage_secs(c.state.now(), c.state.window_secs())))),
    ("jfmon_endpoint_latency_p50_seconds", "gauge", "Median response time per endpoint over the window, in seconds.",
        Read::Endpoint(|e, _| secs(e.p50_ms))),
    ("jfmon_endpoint_latency_p95_seconds", "gauge", "95th percentile response time per endpoint over the window, in seconds.",
        Read::Endpoint(|e, _| secs(e.p95_ms))),
    ("jfmon_endpoint_latency_p99_seconds", "gauge", "99th percentile response time per endpoint over the window, in seconds.",
        Read::Endpoint(|e, _| secs(e.p99_ms))),
    ("jfmon_integration_status", "gauge", "Integration health, one-hot: 1 for the current status.",
        Read::Many(integration_status)),
    ("jfmon_integration_success_ratio", "gauge", "Share of successful integration calls, 0..1, over the window.",
        Read::Integration(|i| i.success_rate)),
    ("jfmon_integration_calls", "gauge", "Integration calls within the window.",
        Read::Integration(|i| Some(i.calls as f64))),
    ("jfmon_integration_latency_p50_seconds", "gauge", "Median integration call duration over the window, in seconds.",
        Read::Integration(|i| secs(i.p50_ms))),
    ("jfmon_integration_latency_p95_seconds", "gauge", "95th percentile integration call duration over the window, in seconds.",
        Read::Integration(|i| secs(i.p95_ms))),
    ("jfmon_integration_latency_p99_seconds", "gauge", "99th percentile integration call duration over the window, in seconds.",
        Read::Integration(|i| secs(i.p99_ms))),
    ("jfmon_active_sessions", "gauge", "Sessions active and seen within the idle timeout.",
        Read::One(|c| c.state.sessions().active as f64)),
    ("jfmon_open_alerts", "gauge", "Open alerts (neither acknowledged nor resolved) by normalised severity.",
        Read::Many(open_alerts)),
    ("jfmon_source_up", "gauge", "Whether the hub's data source is delivering (1) or failing (0).",
        Read::Many(|c| c.state.sources()
            .map(|s| (vec![("source", s.id.label().to_owned()), ("target", s.target.clone())], s.up as u8 as f64))
            .collect())),
    ("jfmon_source_last_poll_age_seconds", "gauge", "Seconds since the source last delivered data.",
        Read::Many(|c| c.state.sources()
            .filter_map(|s| s.last_ok.map(|t| (vec![("source", s.id.label().to_owned())],
                (c.now - t).num_milliseconds().max(0) as f64 / 1000.0)))
            .collect())),
    ("jfmon_source_poll_duration_seconds", "gauge", "How long the source's last poll took, in seconds.",
        Read::Many(|c| c.state.sources()
            .filter_map(|s| s.poll_ms.map(|ms| (vec![("source", s.id.label().to_owned())], ms / 1000.0)))
            .collect())),
    ("jfmon_hub_clients", "gauge", "Stream clients connected now.",
        Read::One(|c| c.clients as f64)),
    ("jfmon_hub_updates_total", "counter", "Updates received from the source and streamed.",
        Read::One(|c| count(&c.counters.updates))),
    ("jfmon_hub_frames_sent_total", "counter", "Update frames queued to clients.",
        Read::One(|c| count(&c.counters.frames_sent))),
    ("jfmon_hub_clients_accepted_total", "counter", "Stream clients accepted.",
        Read::One(|c| count(&c.counters.clients_accepted))),
    ("jfmon_hub_clients_dropped_slow_total", "counter", "Stream clients disconnected for falling behind.",
        Read::One(|c| count(&c.counters.clients_dropped_slow))),
    ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
        Read::Many(|_| crate::memory::resident_bytes().map(|b| (vec![], b as f64)).into_iter().collect())),
    ("jfmon_heap_in_use_bytes", "gauge", "Bytes in live heap allocations (glibc's mallinfo2; absent with another allocator). Growth here is a leak.",
        Read::Many(|_| crate::memory::heap().map(|h| (vec![], h.in_use as f64)).into_iter().collect())),
    ("jfmon_heap_held_bytes", "gauge", "Bytes the heap allocator holds from the system: live allocations plus free memory not yet handed back.",
        Read::Many(|_| crate::memory::heap().map(|h| (vec![], h.held as f64)).into_iter().collect())),
];

fn integration_status(c: &Ctx) -> Vec<Sample> {
    let all = [
        Health::Healthy,
        Health::Degraded,
        Health::Down,
        Health::Unknown,
    ];
    c.state
        .integrations()
        .iter()
        .flat_map(|i| {
            all.iter().map(move |h| {
                let l = vec![
                    ("integration", i.name.clone()),
                    ("status", h.word().to_owned()),
                ];
                (l, (i.status == *h) as u8 as f64)
            })
        })
        .collect()
}

fn open_alerts(c: &Ctx) -> Vec<Sample> {
    let open = c.state.open_alerts_by_severity();
    [
        Severity::Critical,
        Severity::High,
        Severity::Warning,
        Severity::Info,
    ]
    .iter()
    .map(|s| {
        let n = open.get(s.word()).copied().unwrap_or(0);
        (vec![("severity", s.word().to_owned())], n as f64)
    })
    .collect()
}

/// A notification family: name, type, help, and its reading of one receiver.
type NotifyFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::notify::LaneReport) -> u64,
);

/// The notification families: one sample per `[[notify]]` receiver.
#[rustfmt::skip]
const NOTIFY: &[NotifyFamily] = &[
    ("jfmon_notify_sent_total", "counter", "Notifications delivered, per receiver.", |l| l.sent),
    ("jfmon_notify_failures_total", "counter", "Delivery attempts that failed (each retry counts), per receiver.", |l| l.failures),
    ("jfmon_notify_dropped_total", "counter", "Notifications given up on (queue full, or undelivered too long), per receiver.", |l| l.dropped),
    ("jfmon_notify_queued", "gauge", "Notifications waiting for delivery, per receiver.", |l| l.queued),
];

/// Append the notification families (nothing without receivers).
pub fn render_notify(o: &mut String, lanes: &[crate::notify::LaneReport]) {
    if lanes.is_empty() {
        return;
    }
    for (name, kind, help, read) in NOTIFY {
        let _ = writeln!(o, "# HELP {name} {help}");
        let _ = writeln!(o, "# TYPE {name} {kind}");
        for l in lanes {
            let labels = [
                ("receiver", l.receiver.clone()),
                ("kind", l.kind.to_owned()),
            ];
            sample(o, name, &labels, read(l) as f64);
        }
    }
}

/// Append the alerting's families (nothing on a hub without alerting):
/// its role, one-hot (`leading`, `standing_by`, `read_only`; all 0 before
/// the first evaluation), and the rule alerts it holds by state.
pub fn render_alerting(o: &mut String, a: &crate::alerting::status::Status) {
    use crate::alerting::Role;
    let role = a.role();
    let _ = writeln!(
        o,
        "# HELP jfmon_alerting_role The hub's alerting role, one-hot: leading (writes and notifies), standing_by (another hub leads), read_only."
    );
    let _ = writeln!(o, "# TYPE jfmon_alerting_role gauge");
    for (r, word) in [
        (Role::Leading, "leading"),
        (Role::StandingBy, "standing_by"),
        (Role::ReadOnly, "read_only"),
    ] {
        sample(
            o,
            "jfmon_alerting_role",
            &[("role", word.to_owned())],
            (role == Some(r)) as u8 as f64,
        );
    }
    let _ = writeln!(
        o,
        "# HELP jfmon_rule_alerts Rule alerts as judged on the hub's last evaluation, by state (pending, firing, resolved within 15 minutes)."
    );
    let _ = writeln!(o, "# TYPE jfmon_rule_alerts gauge");
    let counts = a.counts();
    for state in ["pending", "firing", "resolved"] {
        let n = counts.get(state).copied().unwrap_or(0);
        sample(
            o,
            "jfmon_rule_alerts",
            &[("state", state.to_owned())],
            n as f64,
        );
    }
}

/// The names of every family the hub exports (for the Grafana dashboard test).
pub fn family_names() -> impl Iterator<Item = &'static str> {
    FAMILIES.iter().map(|f| f.0)
}

/// Render the exposition. `now` is the hub's wall clock (for ages).
pub fn render(state: &State, counters: &HubCounters, clients: usize, now: DateTime<Utc>) -> String {
    let c = Ctx {
        state,
        counters,
        clients,
        now,
    };
    let mut o = String::with_capacity(16 * 1024);
    for (name, kind, help, read) in FAMILIES {
        let _ = writeln!(o, "# HELP {name} {help}");
        let _ = writeln!(o, "# TYPE {name} {kind}");
        for (labels, v) in samples(read, &c) {
            sample(&mut o, name, &labels, v);
        }
    }
    o
}

fn samples(read: &Read, c: &Ctx) -> Vec<Sample> {
    match read {
        Read::One(f) => vec![(vec![], f(c))],
        Read::Endpoint(f) => c
            .state
            .endpoints()
            .iter()
            .filter_map(|e| {
                let l = vec![
                    ("endpoint", e.endpoint.clone()),
                    ("method", e.method.clone()),
                ];
                f(e, c).map(|v| (l, v))
            })
            .collect(),
        Read::Integration(f) => c
            .state
            .integrations()
            .iter()
            .filter_map(|i| f(i).map(|v| (vec![("integration", i.name.clone())], v)))
            .collect(),
        Read::Many(f) => f(c),
    }
}

fn sample(o: &mut String, name: &str, labels: &[(&str, String)], v: f64) {
    o.push_str(name);
    if !labels.is_empty() {
        o.push('{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "{k}=\"{}\"", esc(val));
        }
        o.push('}');
    }
    let _ = writeln!(o, " {}", num(v));
}

/// Escape a label value (backslash, double quote, newline).
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_escaping() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(num(1.5), "1.5");
    }

    #[test]
    fn names_follow_the_conventions() {
        let notify = NOTIFY.iter().map(|(n, k, _, _)| (n, k));
        for (name, kind) in FAMILIES.iter().map(|(n, k, _, _)| (n, k)).chain(notify) {
            assert!(!name.contains("_ms"), "{name}: base units, not ms");
            assert_eq!(
                name.ends_with("_total"),
                *kind == "counter",
                "{name}: _total exactly on counters"
            );
        }
    }
}
