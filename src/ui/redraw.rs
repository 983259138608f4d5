//! When the dashboard redraws without new data or input. A frame depends on
//! the clock only through a few things: the header clock (to the minute),
//! each source's state as the header words it ("live", "stale for 12s",
//! "down: …"), how fresh the panes' data is, a notice until it expires, and
//! the ages the overview's lists show ("45s", "3m"; the rule alerts' "since"
//! and "resolved … ago" among them). [`TimeFace`] is those,
//! computed without drawing; the event loop wakes once a second, compares,
//! and draws only when the face moved (or data, input or a resize arrived).
//! A source's status update that only moves its last-poll time or its poll
//! duration changes no face, so an idle dashboard draws about once a minute.
//! Drill-down views show second-precise spans: there every second counts.

use crate::model::SourceStatus;

use super::{Ctx, fmt, header};

/// What a frame shows that changes with the clock or a source's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFace {
    /// The header clock's minute (Unix minutes).
    minute: i64,
    /// The current second, on views that show second-precise times.
    second: Option<i64>,
    /// Per source, what the header says (with the age when stale or down).
    sources: Vec<String>,
    /// The sources' fields a frame shows, apart from the last poll's time
    /// and duration.
    statuses: Vec<Shown>,
    /// The panes' freshness marker.
    freshness: String,
    /// Whether a notice shows in the footer.
    notice: bool,
    /// The ages the overview's lists show.
    ages: Vec<String>,
}

/// A [`SourceStatus`] without `last_ok` and `poll_ms` (which move with
/// every poll; what they show is in the header text and the freshness).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    up: bool,
    last_error: Option<String>,
    target: String,
    skipped: u64,
    history: Option<String>,
}

impl From<&SourceStatus> for Shown {
    fn from(s: &SourceStatus) -> Self {
        Shown {
            up: s.up,
            last_error: s.last_error.clone(),
            target: s.target.clone(),
            skipped: s.skipped,
            history: s.history.clone(),
        }
    }
}

/// The face of the frame `ctx` would draw.
pub fn time_face(ctx: &Ctx) -> TimeFace {
    let now = ctx.now;
    let overview = ctx.app.nav.is_overview();
    let sources = header::source_spans(ctx, 60)
        .iter()
        .map(|s| s.content.to_string())
        .collect();
    let freshness = match ctx.freshness() {
        super::Freshness::Live { .. } => "live".to_string(),
        f => format!("{f:?}"),
    };
    let state = ctx.state;
    let mut ages: Vec<String> = Vec::new();
    if overview {
        ages.extend(
            state
                .sessions()
                .items
                .iter()
                .map(|s| fmt::age(now, s.started_at)),
        );
        ages.extend(state.alerts().iter().map(|a| fmt::age(now, a.created_at)));
        // The rule alerts' "since" (pending, firing) or "resolved … ago".
        ages.extend(
            state
                .rule_alerts()
                .iter()
                .filter_map(|a| a.since.or(a.resolved_at))
                .map(|at| fmt::age(now, at)),
        );
        ages.extend(
            state
                .integrations()
                .iter()
                .filter_map(|i| i.last_error_at)
                .map(|at| fmt::age(now, at)),
        );
    }
    TimeFace {
        minute: now.timestamp().div_euclid(60),
        second: (!overview).then(|| now.timestamp()),
        sources,
        statuses: ctx.live.sources().map(Shown::from).collect(),
        freshness,
        notice: ctx.app.notices.visible(now).is_some(),
        ages,
    }
}
