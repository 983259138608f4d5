//! The state store: a pure, synchronous structure that applies [`Update`]s from
//! any source, keeps bounded history (one window of slots — minutes, or
//! coarser for long windows, at most 360 per key whatever the window: see
//! [`crate::model::slot_minutes`] —, capped key counts, capped recent-call
//! rings) and recomputes the statistics views read. Minutes that arrive are
//! summed into their slot (exact: counts and histogram buckets add), so window
//! totals and percentiles are those of every row. Nothing here does I/O or
//! drawing.

mod api;
mod business;
pub mod correlate;
mod integrations;
pub mod mask;
mod rule_alerts;
mod thresholds;
mod usage;

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

pub use self::correlate::EndpointRise;
pub use self::integrations::judge;
pub use self::rule_alerts::RuleAlertBook;
pub use self::thresholds::Thresholds;
use crate::model::*;

/// Everything the dashboard knows.
#[derive(Debug, Clone)]
pub struct State {
    window_secs: u64,
    now: DateTime<Utc>,
    thresholds: Thresholds,
    api: api::ApiSeries,
    integrations: integrations::IntegrationSeries,
    business: business::BusinessSeries,
    sessions: SessionsView,
    usage: usage::UsageSeries,
    alerts: Vec<AlertView>,
    /// The rows behind `alerts`, as received (for re-export to hub clients).
    alert_rows: AlertsView,
    open_by_severity: BTreeMap<String, u64>,
    /// Rule alerts as judged (locally or by a hub), with recent resolutions.
    rule_alerts: RuleAlertBook,
    reports: BTreeMap<String, HealthReport>,
    tables_missing: Vec<String>,
    sources: BTreeMap<SourceId, SourceStatus>,
    api_errors: VecDeque<ApiCall>,
    api_slow: VecDeque<ApiCall>,
    integration_errors: VecDeque<IntegrationCall>,
    /// Whether any data batch arrived yet.
    has_data: bool,
    /// Bumped whenever anything visible changes (the UI redraws on change).
    version: u64,
    /// The seconds the window covered at the last recomputation.
    coverage: f64,
    // Derived on every batch:
    endpoints: Vec<EndpointStats>,
    integration_stats: Vec<IntegrationStats>,
    business_stats: BusinessStats,
    usage_stats: UsageStats,
    /// Per failing integration: endpoints whose errors rose with it.
    rises: BTreeMap<String, Vec<EndpointRise>>,
}

impl State {
    pub fn new(window_secs: u64, thresholds: Thresholds) -> Self {
        State {
            window_secs: window_secs.max(60),
            now: DateTime::<Utc>::UNIX_EPOCH,
            thresholds,
            api: Default::default(),
            integrations: Default::default(),
            business: Default::default(),
            sessions: Default::default(),
            usage: Default::default(),
            alerts: Vec::new(),
            alert_rows: AlertsView::default(),
            open_by_severity: BTreeMap::new(),
            rule_alerts: RuleAlertBook::default(),
            reports: BTreeMap::new(),
            tables_missing: Vec::new(),
            sources: BTreeMap::new(),
            api_errors: VecDeque::new(),
            api_slow: VecDeque::new(),
            integration_errors: VecDeque::new(),
            has_data: false,
            version: 0,
            coverage: 0.0,
            endpoints: Vec::new(),
            integration_stats: Vec::new(),
            business_stats: Default::default(),
            usage_stats: Default::default(),
            rises: BTreeMap::new(),
        }
    }

    /// Apply one update. Returns whether anything changed.
    /// Secrets are masked here ([`mask::mask_update`]): nothing the store
    /// keeps, and so nothing any view or output shows, can hold one.
    pub fn apply(&mut self, mut update: Update) -> bool {
        mask::mask_update(&mut update);
        match update {
            Update::Source(s) => {
                if self.sources.get(&s.id) == Some(&s) {
                    return false;
                }
                self.sources.insert(s.id, s);
            }
            Update::Batch(b) => {
                if self.adds_nothing(&b) {
                    // Polls with no new rows: nothing to recompute or redraw
                    // (the window moves on at the next minute or batch).
                    self.now = self.now.max(b.now);
                    return false;
                }
                self.apply_batch(*b)
            }
            Update::RuleAlerts(r) => {
                if !self.rule_alerts.set(*r, self.now) {
                    return false;
                }
            }
        }
        self.version += 1;
        true
    }

    /// Whether `b` would change nothing visible: no new rows, small tables
    /// as they are, and the window neither moved to another minute nor grew
    /// by more than 0.5 % since the last recomputation (rates are divided by
    /// the seconds it covers).
    fn adds_nothing(&self, b: &Batch) -> bool {
        let same_minute = self.has_data && minute_of(b.now) <= minute_of(self.now);
        let grown = window_coverage_secs(b.now, self.window_secs) / self.coverage.max(1.0);
        same_minute
            && grown < 1.005
            && !b.reset
            && !b.past
            && (b.window_secs == 0 || b.window_secs.max(60) == self.window_secs)
            && b.api.is_empty()
            && b.integrations.is_empty()
            && b.integration_tails.is_empty()
            && b.business.is_empty()
            && b.api_errors.is_empty()
            && b.api_slow.is_empty()
            && b.integration_errors.is_empty()
            && b.today.is_none()
            && b.today_older.is_none()
            && b.usage.is_none()
            && b.usage_history.is_none()
            && b.sessions.as_ref().is_none_or(|x| *x == self.sessions)
            && b.alerts.as_ref().is_none_or(|x| *x == self.alert_rows)
            && b.tables_missing
                .as_ref()
                .is_none_or(|x| *x == self.tables_missing)
            && b.health_reports.as_ref().is_none_or(|r| {
                r.len() == self.reports.len()
                    && r.iter()
                        .all(|x| self.reports.get(&x.integration) == Some(x))
            })
    }

    fn apply_batch(&mut self, b: Batch) {
        if b.reset {
            self.api.clear();
            self.integrations.clear();
            self.business.clear();
            self.api_errors.clear();
            self.api_slow.clear();
            self.integration_errors.clear();
            // What a reset does not carry (a table gone) must not linger.
            self.sessions = SessionsView::default();
            self.usage.clear();
            self.alerts.clear();
            self.alert_rows = AlertsView::default();
            self.open_by_severity.clear();
            self.reports.clear();
        }
        if b.window_secs > 0 && b.window_secs.max(60) != self.window_secs {
            self.window_secs = b.window_secs.max(60);
            // A new resolution without a reset (a stream): regroup what is held.
            let step = self.step();
            self.api.rebucket(step);
            self.integrations.rebucket(step);
            self.business.rebucket(step);
            self.usage.rebucket(step);
        }
        self.now = self.now.max(b.now);
        self.has_data = true;
        let first = self.first_minute();
        // Minutes after the next one are dated in the future (a skewed
        // clock): they would never expire, so they are not kept.
        let last = minute_of(self.now) + 1;
        let inside = |m: Minute| (first..=last).contains(&m);
        let step = self.step();

        for (m, key, data) in b.api {
            if inside(m) {
                self.api.merge(slot_of(m, step), key, &data);
            }
        }
        for (m, name, data) in b.integrations {
            if inside(m) {
                self.integrations
                    .merge_minute(slot_of(m, step), name, &data);
            }
        }
        for (name, tail) in &b.integration_tails {
            if b.past {
                self.integrations.merge_older_tail(name, tail);
            } else {
                self.integrations.merge_tail(name, tail);
            }
        }
        let today_given = b.today.is_some() || b.past;
        if let Some(t) = b.today {
            self.business.set_today(t);
        }
        if let Some(t) = b.today_older {
            self.business.add_older_today(&t);
        }
        for (m, metric, v) in b.business {
            if !v.is_finite() || m > last {
                continue;
            }
            // Today's totals count rows that arrive late for the window too
            // (after an outage longer than the window).
            if !today_given {
                self.business.add_today(m, &metric, v);
            }
            if m >= first {
                self.business.add(slot_of(m, step), metric, v);
            }
        }
        if b.past {
            // Older than everything held: in front, while there is room.
            push_older(&mut self.api_errors, b.api_errors);
            push_older(&mut self.api_slow, b.api_slow);
            push_older(&mut self.integration_errors, b.integration_errors);
        } else {
            push_bounded(&mut self.api_errors, b.api_errors);
            push_bounded(&mut self.api_slow, b.api_slow);
            push_bounded(&mut self.integration_errors, b.integration_errors);
        }
        if let Some(s) = b.sessions {
            self.sessions = s;
        }
        if let Some(u) = b.usage {
            if b.past {
                self.usage.add_older(u, first, last, step);
            } else {
                self.usage.apply(u, first, last, step);
            }
        }
        if let Some(h) = b.usage_history {
            self.usage.set_history(h);
        }
        if let Some(a) = b.alerts {
            self.alerts = a.items.iter().map(AlertView::from_row).collect();
            self.open_by_severity = a.open_by_severity.clone();
            self.alert_rows = a;
        }
        if let Some(r) = b.health_reports {
            self.reports = r.into_iter().map(|r| (r.integration.clone(), r)).collect();
        }
        if let Some(t) = b.tables_missing {
            self.tables_missing = t;
        }
        self.expire();
        self.recompute();
    }

    /// The first minute inside the window ending at `now` (a slot start).
    fn first_minute(&self) -> Minute {
        window_first_minute(self.now, self.window_secs)
    }

    /// Minutes per slot at this window.
    fn step(&self) -> i64 {
        slot_minutes(self.window_secs)
    }

    fn expire(&mut self) {
        let first = self.first_minute();
        self.api.expire_before(first);
        self.integrations.expire_before(first);
        self.business.expire_before(first, self.now);
        self.usage.expire_before(first);
        let cutoff = minute_start(first);
        self.api_errors.retain(|c| c.at >= cutoff);
        self.api_slow.retain(|c| c.at >= cutoff);
        self.integration_errors.retain(|c| c.at >= cutoff);
        self.rule_alerts.expire(self.now);
    }

    fn recompute(&mut self) {
        let (first, last) = (self.first_minute(), minute_of(self.now));
        let grid: Vec<Minute> = window_slots(self.now, self.window_secs).collect();
        let coverage = window_coverage_secs(self.now, self.window_secs);
        self.coverage = coverage;
        self.endpoints = self.api.stats(coverage, &grid);
        self.integration_stats =
            self.integrations
                .stats(&self.thresholds, &self.reports, coverage, &grid);
        self.business_stats = self.business.stats();
        self.usage_stats =
            self.usage
                .stats((first, last, self.step()), self.now, &self.business_stats);
        self.rises = self
            .integration_stats
            .iter()
            .filter(|i| correlate::is_failing(i.status))
            .map(|i| (i.name.clone(), correlate::rises(i, &self.endpoints)))
            .filter(|(_, r)| !r.is_empty())
            .collect();
    }

    // ---- read side ------------------------------------------------------

    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }
    pub fn has_data(&self) -> bool {
        self.has_data
    }
    pub fn window_secs(&self) -> u64 {
        self.window_secs
    }
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }
    /// Endpoints, worst error rate first, then busiest.
    pub fn endpoints(&self) -> &[EndpointStats] {
        &self.endpoints
    }
    /// Integrations, failing first.
    pub fn integrations(&self) -> &[IntegrationStats] {
        &self.integration_stats
    }
    /// The failing integrations (down or degraded), down first.
    pub fn failing_integrations(&self) -> impl Iterator<Item = &IntegrationStats> {
        self.integration_stats
            .iter()
            .filter(|i| correlate::is_failing(i.status))
    }
    pub fn integration(&self, name: &str) -> Option<&IntegrationStats> {
        self.integration_stats.iter().find(|i| i.name == name)
    }
    /// Endpoints whose errors rose while `integration` was failing (empty
    /// when it is not failing), biggest rise first.
    pub fn endpoint_rises(&self, integration: &str) -> &[EndpointRise] {
        self.rises.get(integration).map_or(&[], Vec::as_slice)
    }
    pub fn sessions(&self) -> &SessionsView {
        &self.sessions
    }
    /// Feature usage per service, findings, funnel.
    pub fn usage(&self) -> &UsageStats {
        &self.usage_stats
    }
    pub fn alerts(&self) -> &[AlertView] {
        &self.alerts
    }
    pub fn open_alerts_by_severity(&self) -> &BTreeMap<String, u64> {
        &self.open_by_severity
    }
    /// Rule alerts: pending, firing, flapping, resolved recently; most
    /// important first.
    pub fn rule_alerts(&self) -> &[RuleAlert] {
        self.rule_alerts.alerts()
    }
    /// The rule alerts' book (the newest set as received, with its origin
    /// and notes).
    pub fn rule_alert_book(&self) -> &RuleAlertBook {
        &self.rule_alerts
    }
    /// Whose rule alerts are shown: this dashboard's, a connected hub's,
    /// or a hub's last known states once its stream is down (they are kept,
    /// marked, until a hub or the dashboard's own judgement replaces them).
    /// `None`: nothing judged yet.
    pub fn rule_judge(&self) -> Option<RuleJudge> {
        let last = self.rule_alerts.last()?;
        Some(match last.origin {
            RuleOrigin::Local => RuleJudge::Local,
            RuleOrigin::Hub => match self.sources.get(&SourceId::Stream) {
                Some(s) if !s.up => RuleJudge::HubLastKnown { at: last.at },
                _ => RuleJudge::Hub,
            },
        })
    }
    /// Rule alerts firing now (flapping included).
    pub fn firing_rule_alerts(&self) -> usize {
        self.rule_alerts.firing()
    }
    pub fn business(&self) -> &BusinessStats {
        &self.business_stats
    }
    pub fn tables_missing(&self) -> &[String] {
        &self.tables_missing
    }
    pub fn sources(&self) -> impl Iterator<Item = &SourceStatus> {
        self.sources.values()
    }
    pub fn source(&self, id: SourceId) -> Option<&SourceStatus> {
        self.sources.get(&id)
    }
    /// Recent failing API calls, newest first.
    pub fn api_errors(&self) -> impl Iterator<Item = &ApiCall> {
        self.api_errors.iter().rev()
    }
    /// Recent slow API calls, newest first.
    pub fn api_slow(&self) -> impl Iterator<Item = &ApiCall> {
        self.api_slow.iter().rev()
    }
    /// Recent failing integration calls, newest first.
    pub fn integration_errors(&self) -> impl Iterator<Item = &IntegrationCall> {
        self.integration_errors.iter().rev()
    }

    /// Everything, in the `snapshot --json` shape.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            taken_at: self.now,
            window_secs: self.window_secs,
            sources: self.sources.values().cloned().collect(),
            endpoints: self.endpoints.clone(),
            integrations: self.integration_stats.clone(),
            sessions: SessionsSnapshot {
                active: self.sessions.active,
                items: self.sessions.items.clone(),
                started_per_minute: self.sessions.started_per_minute.clone(),
            },
            alerts: self.alerts.clone(),
            open_alerts_by_severity: self.open_by_severity.clone(),
            business: self.business_stats.clone(),
            tables_missing: self.tables_missing.clone(),
            usage: self.usage_stats.clone(),
        }
    }

    /// Everything held, as one reset batch: applied to an empty store it
    /// reproduces this one (the hub sends it to each client on connect).
    pub fn to_batch(&self) -> Batch {
        Batch {
            reset: true,
            past: false,
            now: self.now,
            window_secs: self.window_secs,
            api: self.api.export(),
            integrations: self.integrations.export_minutes(),
            integration_tails: self.integrations.export_tails(),
            integration_errors: self.integration_errors.iter().cloned().collect(),
            api_errors: self.api_errors.iter().cloned().collect(),
            api_slow: self.api_slow.iter().cloned().collect(),
            business: self.business.export_minutes(),
            today: self.business.today().cloned(),
            today_older: None,
            sessions: Some(self.sessions.clone()),
            alerts: Some(self.alert_rows.clone()),
            health_reports: Some(self.reports.values().cloned().collect()),
            tables_missing: Some(self.tables_missing.clone()),
            usage: Some(self.usage.export(self.first_minute())),
            usage_history: Some(self.usage.history().clone()),
        }
    }

    /// The newest set of rule alerts as an update, for a hub to send a
    /// client after the reset batch (`None`: nothing judged yet).
    pub fn rule_alerts_update(&self) -> Option<Update> {
        self.rule_alerts
            .last()
            .map(|r| Update::RuleAlerts(Box::new(r.clone())))
    }

    /// Minutes per slot of the series ([`EndpointStats::series`] and the
    /// others): 1 up to a 6 h window, coarser beyond.
    pub fn slot_minutes(&self) -> i64 {
        self.step()
    }

    /// Slots held over all keys (endpoints, integrations, business minutes),
    /// for the memory-bound tests.
    pub fn slots(&self) -> usize {
        self.api.slots() + self.integrations.slots() + self.business.slots()
    }

    /// Rough count of retained records, for the memory-bound tests.
    pub fn retained(&self) -> usize {
        self.api.retained()
            + self.integrations.retained()
            + self.business.retained()
            + self.usage.retained()
            + self.api_errors.len()
            + self.api_slow.len()
            + self.integration_errors.len()
    }
}

/// Put `older` (oldest first) in front of `ring`, the newest of them first,
/// while the ring has room.
fn push_older<T>(ring: &mut VecDeque<T>, older: Vec<T>) {
    for item in older.into_iter().rev() {
        if ring.len() == RECENT_CAP {
            break;
        }
        ring.push_front(item);
    }
}

fn push_bounded<T>(ring: &mut VecDeque<T>, new: Vec<T>) {
    for item in new {
        if ring.len() == RECENT_CAP {
            ring.pop_front();
        }
        ring.push_back(item);
    }
}

#[cfg(test)]
mod tests;
