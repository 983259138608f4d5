//! The view model the web page (`/monitoring/dashboard`) reads: the hub's
//! store, already aggregated, as one `view` message of the stream protocol.
//!
//! The page could apply the raw batches itself, but then it would need a
//! JavaScript copy of the store (HdrHistogram buckets, the health judgement,
//! the thresholds, the error correlation) that could drift from the Rust one.
//! Instead a page subscribes with `/monitoring/ws?view=1` and the hub sends,
//! after `hello`, the figures its own store computed – the very structs that
//! `/monitoring/api/*` and `jfmon snapshot --json` serialise – so the page's
//! numbers equal theirs by construction. One view is encoded per update and
//! shared by every page, so tabs cost the hub a queue each, not a computation.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{IntegrationCall, Snapshot};
use crate::store::State;
use crate::store::correlate::EndpointRise;
use crate::wire::protocol::VERSION;

/// Sessions listed in a view (the count `active` is always exact).
const SESSION_ROWS: usize = 100;
/// Recent failing calls listed per integration.
const ERRORS_PER_INTEGRATION: usize = 10;

/// What the integration detail view needs beyond the integration's stats.
#[derive(Serialize)]
struct Detail<'a> {
    /// Newest first.
    errors: Vec<&'a IntegrationCall>,
    /// Endpoints whose errors rose while the integration was failing.
    rises: &'a [EndpointRise],
}

#[derive(Serialize)]
struct PageView<'a> {
    #[serde(flatten)]
    snapshot: Snapshot,
    /// True while the hub's source is down or has not delivered yet.
    stale: bool,
    /// The hub's wall clock when the view was made (for the page's ages).
    hub_time: DateTime<Utc>,
    /// Whether acknowledging through the hub is allowed (`--read-only` not set).
    writable: bool,
    details: BTreeMap<&'a str, Detail<'a>>,
}

#[derive(Serialize)]
struct ViewFrame<'a> {
    v: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    view: PageView<'a>,
}

/// Encode the `view` message for `state`.
pub fn encode(state: &State, writable: bool) -> String {
    let mut snapshot = state.snapshot();
    snapshot.sessions.items.truncate(SESSION_ROWS);
    let details = state
        .integrations()
        .iter()
        .map(|i| {
            let errors = state
                .integration_errors()
                .filter(|c| c.integration == i.name)
                .take(ERRORS_PER_INTEGRATION)
                .collect();
            let rises = state.endpoint_rises(&i.name);
            (i.name.as_str(), Detail { errors, rises })
        })
        .collect();
    let frame = ViewFrame {
        v: VERSION,
        kind: "view",
        view: PageView {
            snapshot,
            stale: super::Hub::stale(state),
            hub_time: Utc::now(),
            writable,
            details,
        },
    };
    serde_json::to_string(&frame).unwrap_or_default()
}
