//! Turning raw records into the per-minute buckets of a [`Batch`]. Used by the
//! PostgreSQL poller for rows read since the last poll and by the in-memory
//! demo source for simulated records, so both produce identical batches.

use std::collections::{BTreeMap, HashMap};

use crate::model::*;

/// Failing calls kept per batch for drill-downs.
const ERRORS_PER_BATCH: usize = 100;
/// Slowest calls kept per endpoint per batch.
const SLOW_PER_ENDPOINT: usize = 3;

/// Add API calls (in id order) to `batch`.
pub fn add_api_calls(batch: &mut Batch, calls: &[ApiCall]) {
    let mut buckets: HashMap<(Minute, EndpointKey), ApiMinute> = HashMap::new();
    let mut slow: BTreeMap<EndpointKey, Vec<&ApiCall>> = BTreeMap::new();
    for c in calls {
        let key = EndpointKey {
            endpoint: c.endpoint.clone(),
            method: c.method.clone(),
        };
        if c.response_ms.is_some() {
            let top = slow.entry(key.clone()).or_default();
            top.push(c);
            top.sort_by_key(|c| std::cmp::Reverse(c.response_ms));
            top.truncate(SLOW_PER_ENDPOINT);
        }
        buckets.entry((minute_of(c.at), key)).or_default().record(c);
    }
    let mut api: Vec<_> = buckets.into_iter().map(|((m, k), v)| (m, k, v)).collect();
    api.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    batch.api.extend(api);
    let errors: Vec<&ApiCall> = calls.iter().filter(|c| c.is_error()).collect();
    let skip = errors.len().saturating_sub(ERRORS_PER_BATCH);
    batch
        .api_errors
        .extend(errors.into_iter().skip(skip).cloned());
    let mut slow: Vec<ApiCall> = slow.into_values().flatten().cloned().collect();
    slow.sort_by_key(|c| (c.at, c.id));
    batch.api_slow.extend(slow);
}

/// Add integration calls (in id order) to `batch`: minute buckets and tails.
pub fn add_integration_calls(batch: &mut Batch, calls: &[IntegrationCall]) {
    let mut buckets: HashMap<(Minute, &str), IntegrationMinute> = HashMap::new();
    let mut tails: BTreeMap<&str, IntegrationTail> = BTreeMap::new();
    for c in calls {
        buckets
            .entry((minute_of(c.at), c.integration.as_str()))
            .or_default()
            .record(c);
        tails.entry(c.integration.as_str()).or_default().record(c);
    }
    let mut minutes: Vec<_> = buckets
        .into_iter()
        .map(|((m, n), v)| (m, n.to_owned(), v))
        .collect();
    minutes.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    batch.integrations.extend(minutes);
    batch
        .integration_tails
        .extend(tails.into_iter().map(|(n, t)| (n.to_owned(), t)));
    let errors: Vec<&IntegrationCall> = calls.iter().filter(|c| !c.success).collect();
    let skip = errors.len().saturating_sub(ERRORS_PER_BATCH);
    batch
        .integration_errors
        .extend(errors.into_iter().skip(skip).cloned());
}

/// Add business observations to `batch` as per-minute sums.
pub fn add_business(batch: &mut Batch, obs: &[BusinessObs]) {
    let mut sums: BTreeMap<(Minute, &str), f64> = BTreeMap::new();
    for o in obs {
        *sums
            .entry((minute_of(o.at), o.metric.as_str()))
            .or_default() += o.value;
    }
    batch
        .business
        .extend(sums.into_iter().map(|((m, k), v)| (m, k.to_owned(), v)));
}
