//! Which API endpoints' errors rose together with a failing integration:
//! for each integration that is down or degraded, compare every endpoint's
//! error rate in the minutes the integration was failing with its error rate
//! in the other minutes of the window. Computed on apply, read by the
//! integration drill-down.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{EndpointStats, Health, IntegrationStats, Minute, minute_of};

/// Endpoints listed per integration.
pub const MAX_RISES: usize = 10;
/// Errors an endpoint must have in the failing minutes to be listed.
const MIN_ERRORS: u64 = 3;
/// How much higher (absolute) the error rate must be while failing.
const MIN_RISE: f64 = 0.05;

/// One endpoint whose errors rose while an integration was failing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRise {
    pub endpoint: String,
    pub method: String,
    /// Requests and errors in the minutes the integration was failing.
    pub during_requests: u64,
    pub during_errors: u64,
    /// Requests and errors in the other minutes of the window.
    pub other_requests: u64,
    pub other_errors: u64,
}

impl EndpointRise {
    pub fn key(&self) -> crate::model::EndpointKey {
        crate::model::EndpointKey::new(&self.method, &self.endpoint)
    }
    pub fn rate_during(&self) -> f64 {
        rate(self.during_errors, self.during_requests)
    }
    pub fn rate_other(&self) -> f64 {
        rate(self.other_errors, self.other_requests)
    }
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Is this integration failing (worth correlating)?
pub fn is_failing(h: Health) -> bool {
    matches!(h, Health::Down | Health::Degraded)
}

/// The minutes in which `i` was failing: minutes judged down or degraded, and
/// every minute since its current failing status began.
fn failing_minutes(i: &IntegrationStats) -> BTreeSet<Minute> {
    let since = i
        .status_since
        .filter(|_| is_failing(i.status))
        .map(minute_of);
    i.series
        .iter()
        .filter(|p| is_failing(p.status) || since.is_some_and(|s| p.minute >= s))
        .map(|p| p.minute)
        .collect()
}

/// Endpoints whose error rate rose while `integration` was failing, biggest
/// rise first. Empty when the integration is not failing.
pub fn rises(integration: &IntegrationStats, endpoints: &[EndpointStats]) -> Vec<EndpointRise> {
    if !is_failing(integration.status) {
        return Vec::new();
    }
    let failing = failing_minutes(integration);
    if failing.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<EndpointRise> = endpoints
        .iter()
        .filter_map(|e| {
            let mut r = EndpointRise {
                endpoint: e.endpoint.clone(),
                method: e.method.clone(),
                during_requests: 0,
                during_errors: 0,
                other_requests: 0,
                other_errors: 0,
            };
            for p in &e.series {
                if failing.contains(&p.minute) {
                    r.during_requests += p.requests;
                    r.during_errors += p.errors;
                } else {
                    r.other_requests += p.requests;
                    r.other_errors += p.errors;
                }
            }
            let rose = r.during_errors >= MIN_ERRORS
                && r.rate_during() >= r.rate_other() + MIN_RISE
                && r.rate_during() >= 2.0 * r.rate_other();
            rose.then_some(r)
        })
        .collect();
    out.sort_by(|a, b| {
        (b.rate_during() - b.rate_other())
            .total_cmp(&(a.rate_during() - a.rate_other()))
            .then_with(|| (&a.endpoint, &a.method).cmp(&(&b.endpoint, &b.method)))
    });
    out.truncate(MAX_RISES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IntegrationPoint, MinutePoint, minute_start};

    fn point(m: Minute, status: Health) -> IntegrationPoint {
        IntegrationPoint {
            minute: m,
            calls: 10,
            failures: if status == Health::Down { 10 } else { 0 },
            status,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
        }
    }

    fn integration(series: Vec<IntegrationPoint>, status: Health) -> IntegrationStats {
        IntegrationStats {
            name: "openai".into(),
            status,
            reason: String::new(),
            success_rate: None,
            calls: 0,
            failures: 0,
            calls_per_min: 0.0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            last_error: None,
            last_error_at: None,
            last_success_at: None,
            consecutive_failures: 0,
            status_since: Some(minute_start(3)),
            reported: None,
            series,
        }
    }

    fn endpoint(name: &str, per_minute: &[(u64, u64)]) -> EndpointStats {
        EndpointStats {
            endpoint: name.into(),
            method: "POST".into(),
            requests: 0,
            rps: 0.0,
            errors: 0,
            client_errors: 0,
            error_rate: 0.0,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            status_codes: Default::default(),
            series: per_minute
                .iter()
                .enumerate()
                .map(|(m, (requests, errors))| MinutePoint {
                    minute: m as Minute,
                    requests: *requests,
                    errors: *errors,
                    p95_ms: None,
                })
                .collect(),
        }
    }

    #[test]
    fn finds_the_endpoint_that_failed_with_the_integration() {
        let series = (0..6)
            .map(|m| {
                point(
                    m,
                    if m >= 3 {
                        Health::Down
                    } else {
                        Health::Healthy
                    },
                )
            })
            .collect();
        let i = integration(series, Health::Down);
        let guidance = endpoint(
            "/api/guidance",
            &[(10, 0), (10, 0), (10, 1), (10, 8), (10, 9), (10, 7)],
        );
        let login = endpoint(
            "/api/login",
            &[(10, 0), (10, 1), (10, 0), (10, 0), (10, 1), (10, 0)],
        );
        let r = rises(&i, &[login, guidance]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].endpoint, "/api/guidance");
        assert_eq!((r[0].during_errors, r[0].during_requests), (24, 30));
        assert!(r[0].rate_other() < 0.05);
    }

    #[test]
    fn healthy_integration_has_none() {
        let series = (0..6).map(|m| point(m, Health::Healthy)).collect();
        let i = integration(series, Health::Healthy);
        let e = endpoint("/api/x", &[(10, 9); 6]);
        assert!(rises(&i, &[e]).is_empty());
    }
}
