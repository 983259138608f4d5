//! `GET /metrics`: the hub's state in the Prometheus text exposition format
//! (version 0.0.4), written by hand. Everything is a gauge computed over the
//! window except the hub's own `_total` counters.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::HubCounters;
use crate::model::{Health, Severity};
use crate::store::State;

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
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", esc(val));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", num(v));
    }
}

const QUANTILES: [(&str, usize); 3] = [("0.5", 0), ("0.95", 1), ("0.99", 2)];

/// Render the exposition. `now` is the hub's wall clock (for ages).
pub fn render(state: &State, counters: &HubCounters, clients: usize, now: DateTime<Utc>) -> String {
    let mut o = Out(String::with_capacity(16 * 1024));
    let eps = state.endpoints();

    o.family(
        "jfmon_window_seconds",
        "gauge",
        "Length of the window the other gauges are computed over.",
    );
    o.sample("jfmon_window_seconds", &[], state.window_secs() as f64);

    o.family(
        "jfmon_endpoint_requests",
        "gauge",
        "Requests per endpoint within the window.",
    );
    for e in eps {
        let l = [
            ("endpoint", e.endpoint.as_str()),
            ("method", e.method.as_str()),
        ];
        o.sample("jfmon_endpoint_requests", &l, e.requests as f64);
    }
    o.family(
        "jfmon_endpoint_request_rate",
        "gauge",
        "Requests per second per endpoint, averaged over the window.",
    );
    for e in eps {
        let l = [
            ("endpoint", e.endpoint.as_str()),
            ("method", e.method.as_str()),
        ];
        o.sample("jfmon_endpoint_request_rate", &l, e.rps);
    }
    o.family(
        "jfmon_endpoint_error_ratio",
        "gauge",
        "Share of requests that failed (status >= 500 or an error), 0..1, over the window.",
    );
    for e in eps {
        let l = [
            ("endpoint", e.endpoint.as_str()),
            ("method", e.method.as_str()),
        ];
        o.sample("jfmon_endpoint_error_ratio", &l, e.error_rate);
    }
    o.family(
        "jfmon_endpoint_error_rate",
        "gauge",
        "Failed requests per second per endpoint, averaged over the window.",
    );
    for e in eps {
        let l = [
            ("endpoint", e.endpoint.as_str()),
            ("method", e.method.as_str()),
        ];
        o.sample(
            "jfmon_endpoint_error_rate",
            &l,
            e.errors as f64 / crate::model::window_coverage_secs(state.now(), state.window_secs()),
        );
    }
    o.family(
        "jfmon_endpoint_latency_ms",
        "gauge",
        "Response time quantiles per endpoint over the window, in milliseconds.",
    );
    for e in eps {
        let qs = [e.p50_ms, e.p95_ms, e.p99_ms];
        for (q, i) in QUANTILES {
            if let Some(v) = qs[i] {
                let l = [
                    ("endpoint", e.endpoint.as_str()),
                    ("method", e.method.as_str()),
                    ("quantile", q),
                ];
                o.sample("jfmon_endpoint_latency_ms", &l, v);
            }
        }
    }

    let ints = state.integrations();
    o.family(
        "jfmon_integration_status",
        "gauge",
        "Integration health, one-hot: 1 for the current status.",
    );
    for i in ints {
        for h in [
            Health::Healthy,
            Health::Degraded,
            Health::Down,
            Health::Unknown,
        ] {
            let l = [("integration", i.name.as_str()), ("status", h.word())];
            o.sample("jfmon_integration_status", &l, (i.status == h) as u8 as f64);
        }
    }
    o.family(
        "jfmon_integration_success_ratio",
        "gauge",
        "Share of successful integration calls, 0..1, over the window.",
    );
    for i in ints {
        if let Some(r) = i.success_rate {
            o.sample(
                "jfmon_integration_success_ratio",
                &[("integration", i.name.as_str())],
                r,
            );
        }
    }
    o.family(
        "jfmon_integration_calls",
        "gauge",
        "Integration calls within the window.",
    );
    for i in ints {
        o.sample(
            "jfmon_integration_calls",
            &[("integration", i.name.as_str())],
            i.calls as f64,
        );
    }
    o.family(
        "jfmon_integration_latency_ms",
        "gauge",
        "Integration call duration quantiles over the window, in milliseconds.",
    );
    for i in ints {
        let qs = [i.p50_ms, i.p95_ms, i.p99_ms];
        for (q, k) in QUANTILES {
            if let Some(v) = qs[k] {
                let l = [("integration", i.name.as_str()), ("quantile", q)];
                o.sample("jfmon_integration_latency_ms", &l, v);
            }
        }
    }

    o.family(
        "jfmon_active_sessions",
        "gauge",
        "Sessions active and seen within the idle timeout.",
    );
    o.sample("jfmon_active_sessions", &[], state.sessions().active as f64);

    o.family(
        "jfmon_open_alerts",
        "gauge",
        "Unacknowledged alerts by normalised severity.",
    );
    let open = state.open_alerts_by_severity();
    for s in [
        Severity::Critical,
        Severity::High,
        Severity::Warning,
        Severity::Info,
    ] {
        let n = open.get(s.word()).copied().unwrap_or(0);
        o.sample("jfmon_open_alerts", &[("severity", s.word())], n as f64);
    }

    o.family(
        "jfmon_source_up",
        "gauge",
        "Whether the hub's data source is delivering (1) or failing (0).",
    );
    for s in state.sources() {
        o.sample(
            "jfmon_source_up",
            &[("source", s.id.label()), ("target", s.target.as_str())],
            s.up as u8 as f64,
        );
    }
    o.family(
        "jfmon_source_last_poll_age_seconds",
        "gauge",
        "Seconds since the source last delivered data.",
    );
    for s in state.sources() {
        if let Some(t) = s.last_ok {
            let age = (now - t).num_milliseconds().max(0) as f64 / 1000.0;
            o.sample(
                "jfmon_source_last_poll_age_seconds",
                &[("source", s.id.label())],
                age,
            );
        }
    }
    o.family(
        "jfmon_source_poll_duration_ms",
        "gauge",
        "How long the source's last poll took, in milliseconds.",
    );
    for s in state.sources() {
        if let Some(ms) = s.poll_ms {
            o.sample(
                "jfmon_source_poll_duration_ms",
                &[("source", s.id.label())],
                ms,
            );
        }
    }

    o.family(
        "jfmon_hub_clients",
        "gauge",
        "Stream clients connected now.",
    );
    o.sample("jfmon_hub_clients", &[], clients as f64);
    let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    for (name, help, v) in [
        (
            "jfmon_hub_updates_total",
            "Updates received from the source and streamed.",
            c(&counters.updates),
        ),
        (
            "jfmon_hub_frames_sent_total",
            "Update frames queued to clients.",
            c(&counters.frames_sent),
        ),
        (
            "jfmon_hub_clients_accepted_total",
            "Stream clients accepted.",
            c(&counters.clients_accepted),
        ),
        (
            "jfmon_hub_clients_dropped_slow_total",
            "Stream clients disconnected for falling behind.",
            c(&counters.clients_dropped_slow),
        ),
    ] {
        o.family(name, "counter", help);
        o.sample(name, &[], v);
    }
    o.0
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
}
