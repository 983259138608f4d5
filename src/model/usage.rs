//! Feature usage: what a source sends about sessions per service (per-minute
//! buckets of starts and outcomes, and the comparisons read from the rollups)
//! and what the store computes from them for the Usage view, `snapshot
//! --json`, the hub API and the web page (per-service figures, findings,
//! funnel, hour-of-day profile).
//!
//! A session is counted twice: once at the minute it started (`started`) and
//! once at the minute it ended (its outcome, duration and credits), where
//! "ended" is `coalesce(ended_at, last_activity_at)` of a session whose
//! status is no longer `active`. Outcomes are `completed`, `failed`, and
//! everything else that is not active (`abandoned`, and any other word the
//! platform uses for a session that stopped).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::update::Minute;
use crate::hist::SparseHist;

/// A session that ends, not completed, within this many seconds of its
/// start was "started then abandoned".
pub const QUICK_END_SECS: i64 = 10;

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Completed,
    Failed,
    Abandoned,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Completed, Outcome::Failed, Outcome::Abandoned];

    /// The outcome of a session whose status is `status`; `None` while active.
    pub fn of_status(status: &str) -> Option<Outcome> {
        match status {
            "active" => None,
            "completed" => Some(Outcome::Completed),
            "failed" => Some(Outcome::Failed),
            _ => Some(Outcome::Abandoned),
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// One minute of one service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageMinute {
    /// Sessions started in this minute.
    pub started: u64,
    /// Sessions that ended in this minute, by outcome.
    pub completed: u64,
    pub failed: u64,
    pub abandoned: u64,
    /// Of those ended, how many ended not completed within [`QUICK_END_SECS`].
    pub quick_ends: u64,
    /// Credits used by the sessions that ended in this minute.
    pub credits: u64,
    /// Of those, the credits of sessions that did not complete.
    pub credits_unfinished: u64,
    /// Durations of the sessions that ended in this minute, in seconds.
    pub duration: SparseHist,
}

impl UsageMinute {
    pub fn ended(&self) -> u64 {
        self.completed + self.failed + self.abandoned
    }

    /// Count one ended session.
    pub fn record_end(&mut self, outcome: Outcome, duration_secs: i64, credits: i64) {
        let credits = credits.max(0) as u64;
        match outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Abandoned => self.abandoned += 1,
        }
        self.credits += credits;
        if outcome != Outcome::Completed {
            self.credits_unfinished += credits;
            if duration_secs < QUICK_END_SECS {
                self.quick_ends += 1;
            }
        }
        self.duration.record(duration_secs.max(0));
    }

    pub fn merge(&mut self, o: &UsageMinute) {
        self.started += o.started;
        self.completed += o.completed;
        self.failed += o.failed;
        self.abandoned += o.abandoned;
        self.quick_ends += o.quick_ends;
        self.credits += o.credits;
        self.credits_unfinished += o.credits_unfinished;
        self.duration.merge(&o.duration);
    }
}

/// Per-minute usage that replaces what the store holds from minute `from`
/// on (sessions change status after they start, so a source re-reads its
/// last minutes and sends them whole rather than adding to them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageUpdate {
    pub from: Minute,
    pub minutes: Vec<(Minute, String, UsageMinute)>,
    /// Ends found late (written after the source had read past their end
    /// time), each in a minute before `from`: added to what is held, once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late: Vec<(Minute, String, UsageMinute)>,
}

impl UsageUpdate {
    /// Add the sessions started in its minutes to `per_slot`, summed into
    /// slots of `step` minutes.
    pub fn add_starts(&self, step: i64, per_slot: &mut std::collections::BTreeMap<Minute, u64>) {
        for (m, _, u) in &self.minutes {
            if u.started > 0 {
                *per_slot.entry(super::slot_of(*m, step)).or_default() += u.started;
            }
        }
    }
}

/// Sessions of one service over a past window, from the rollups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub abandoned: u64,
    /// Credits of the sessions that ended.
    pub credits: u64,
}

impl UsageTotals {
    pub fn ended(&self) -> u64 {
        self.completed + self.failed + self.abandoned
    }
}

/// What the rollups say about the past, re-read about once a minute.
/// `None` parts: the rollups do not reach back that far ("no history").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageHistory {
    /// Per service over the same window one day earlier.
    pub day_ago: Option<BTreeMap<String, UsageTotals>>,
    /// Per service over the same window one week earlier.
    pub week_ago: Option<BTreeMap<String, UsageTotals>>,
    /// Sessions started per hour of the day (UTC) today, hours 0..24.
    pub hours_today: Option<Vec<u64>>,
    /// Sessions started per hour of the day, averaged over the 7 days before today.
    pub hours_week: Option<Vec<f64>>,
}

/// A past window's figures for one service, next to the current ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageComparison {
    pub started: u64,
    pub completion_rate: Option<f64>,
    pub credits_per_session: Option<f64>,
    pub share: Option<f64>,
}

/// One service over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceUsage {
    pub service: String,
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub abandoned: u64,
    /// completed / ended (sessions that ended in the window).
    pub completion_rate: Option<f64>,
    pub median_secs: Option<f64>,
    pub p95_secs: Option<f64>,
    pub credits: u64,
    /// Credits per ended session.
    pub credits_per_session: Option<f64>,
    /// This service's part of all sessions started in the window.
    pub share: Option<f64>,
    /// Sessions that ended, not completed, within [`QUICK_END_SECS`].
    pub quick_ends: u64,
    /// Credits of sessions that ended without completing.
    pub credits_unfinished: u64,
    /// Sessions started per minute, oldest first, one entry per minute of the window.
    pub starts_per_minute: Vec<u64>,
    /// The same window a day earlier (`None`: no history).
    pub day_ago: Option<UsageComparison>,
    /// The same window a week earlier (`None`: no history).
    pub week_ago: Option<UsageComparison>,
}

impl ServiceUsage {
    pub fn ended(&self) -> u64 {
        self.completed + self.failed + self.abandoned
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A service's completion rate fell against its baseline.
    CompletionFell,
    /// A service's share of sessions started moved.
    ShareMoved,
    /// Sessions that ended, not completed, within seconds of starting.
    QuickEnds,
    /// Credits spent in sessions that never completed.
    UnfinishedCredits,
    /// Starts in the last complete hour against the same hour of the last 7 days.
    HourProfile,
}

impl FindingKind {
    pub fn word(self) -> &'static str {
        match self {
            FindingKind::CompletionFell => "completion fell",
            FindingKind::ShareMoved => "share moved",
            FindingKind::QuickEnds => "quick ends",
            FindingKind::UnfinishedCredits => "credits, no completion",
            FindingKind::HourProfile => "hour of day",
        }
    }
}

/// A behaviour insight, with the numbers behind it. A rule can watch these
/// by kind and service (`value` against `baseline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The service it is about (`None`: all sessions).
    pub service: Option<String>,
    /// The figure now (a rate 0..1, a count or credits).
    pub value: f64,
    /// What it is compared with, when it is a comparison.
    pub baseline: Option<f64>,
    /// Where the baseline comes from ("earlier in the window", "a day earlier", ...).
    pub against: Option<String>,
    /// One line with the numbers.
    pub text: String,
}

/// One step of the conversion funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelStep {
    pub name: String,
    /// The business metric it is read from.
    pub metric: String,
    /// Its total over the window.
    pub count: f64,
    /// count / the previous step's count (`None` for the first step or a zero).
    pub rate: Option<f64>,
}

/// The hour-of-day profile of starts: today against the last 7 days (UTC hours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourProfile {
    pub today: Vec<u64>,
    pub week_avg: Vec<f64>,
    /// The hour now (today's later hours are still to come).
    pub current_hour: u32,
}

/// Everything the Usage view shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageStats {
    /// Services, most sessions started first.
    pub services: Vec<ServiceUsage>,
    /// All services together.
    pub total: ServiceUsage,
    pub findings: Vec<Finding>,
    /// Sign-ups → first sessions → purchases over the window, when the
    /// business metrics hold at least two of the steps.
    pub funnel: Vec<FunnelStep>,
    pub hours: Option<HourProfile>,
}
