//! The outbox: every alert change is queued once per receiver, and one task
//! per receiver delivers its queue in order, retrying with backoff while the
//! receiver is down. Queuing never waits (the poll that judged the alert
//! must not), and a queue is bounded: beyond [`Receiver::queue`] the oldest
//! notification is dropped, and so is one undelivered for longer than
//! [`Receiver::give_up_after`]; both are counted ([`LaneStats`]) for
//! `/metrics` and the hub's JSON. An Alertmanager receiver also re-sends
//! every firing alert each [`Receiver::resend`], as Alertmanager expects.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::receiver::{Kind, Receiver};
use super::{http, payload};
use crate::alerting::{Alert, Change};

/// First retry after a failure; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A receiver's counters.
#[derive(Debug, Default)]
pub struct LaneStats {
    /// Notifications delivered.
    pub sent: AtomicU64,
    /// Delivery attempts that failed (each retry counts).
    pub failures: AtomicU64,
    /// Notifications given up on (queue full, or too old).
    pub dropped: AtomicU64,
    /// Waiting now.
    pub queued: AtomicU64,
}

/// A receiver's counters as numbers, for JSON and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaneReport {
    pub receiver: String,
    pub kind: &'static str,
    pub sent: u64,
    pub failures: u64,
    pub dropped: u64,
    pub queued: u64,
}

struct Item {
    seq: u64,
    change: Change,
    queued_at: Instant,
}

/// The item being delivered (taken from the front, still in the queue
/// unless a full queue dropped it meanwhile).
struct InFlight {
    seq: u64,
    fingerprint: String,
    /// A later resolution of the same alert was given up on (dropped)
    /// while this was in flight: a firing it delivers must not be re-sent.
    superseded: bool,
}

/// A receiver's queue, and (Alertmanager) what it was told is firing.
#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    seq: u64,
    in_flight: Option<InFlight>,
    /// Alertmanager only: delivered firing alerts not yet resolved, which
    /// are re-sent. A resolution that is dropped (queue full, too old)
    /// removes its alert here too, so it is not re-sent forever:
    /// Alertmanager resolves it itself once its last `endsAt` passes. The
    /// same holds when the firing was still in flight as its resolution was
    /// dropped: the resolution wins, whatever order they settle in.
    firing: BTreeMap<String, Alert>,
}

impl Queue {
    /// What giving up on item `seq`, `c` (dropped or delivered), means for
    /// the re-sends.
    fn settle(&mut self, seq: u64, c: &Change, delivered: bool) {
        match c {
            Change::Fired(a) if delivered => {
                let superseded = self
                    .in_flight
                    .as_ref()
                    .is_some_and(|f| f.seq == seq && f.superseded);
                if !superseded {
                    self.firing.insert(a.fingerprint.clone(), a.clone());
                }
            }
            Change::Fired(_) => {}
            Change::Resolved { alert, .. } => {
                self.firing.remove(&alert.fingerprint);
                if let Some(f) = &mut self.in_flight
                    && f.seq < seq
                    && f.fingerprint == alert.fingerprint
                {
                    f.superseded = true;
                }
            }
        }
    }
}

struct Lane {
    receiver: Receiver,
    generator_url: String,
    queue: Mutex<Queue>,
    wake: Notify,
    stats: LaneStats,
}

impl Lane {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, change: Change) {
        let mut g = self.queue();
        g.seq += 1;
        if g.items.len() >= self.receiver.queue.max(1)
            && let Some(old) = g.items.pop_front()
        {
            g.settle(old.seq, &old.change, false);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        let seq = g.seq;
        g.items.push_back(Item {
            seq,
            change,
            queued_at: Instant::now(),
        });
        self.stats
            .queued
            .store(g.items.len() as u64, Ordering::Relaxed);
        drop(g);
        self.wake.notify_one();
    }

    /// The first item, now in flight.
    fn front(&self) -> Option<(u64, Change, Instant)> {
        let mut g = self.queue();
        let (seq, change, queued_at) = g
            .items
            .front()
            .map(|i| (i.seq, i.change.clone(), i.queued_at))?;
        if g.in_flight.as_ref().is_none_or(|f| f.seq != seq) {
            g.in_flight = Some(InFlight {
                seq,
                fingerprint: change.alert().fingerprint.clone(),
                superseded: false,
            });
        }
        Some((seq, change, queued_at))
    }

    /// Done with item `seq` (`delivered`, or given up on): remove it if it
    /// is still first (a full queue may have dropped it meanwhile).
    fn pop(&self, seq: u64, change: &Change, delivered: bool) {
        let mut g = self.queue();
        if g.items.front().is_some_and(|i| i.seq == seq) {
            g.items.pop_front();
        }
        if self.receiver.kind == Kind::Alertmanager {
            g.settle(seq, change, delivered);
        }
        if g.in_flight.as_ref().is_some_and(|f| f.seq == seq) {
            g.in_flight = None;
        }
        self.stats
            .queued
            .store(g.items.len() as u64, Ordering::Relaxed);
    }

    /// Alertmanager: the firing alerts to re-send.
    fn firing(&self) -> BTreeMap<String, Alert> {
        self.queue().firing.clone()
    }

    fn report(&self) -> LaneReport {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LaneReport {
            receiver: self.receiver.name.clone(),
            kind: self.receiver.kind.word(),
            sent: n(&self.stats.sent),
            failures: n(&self.stats.failures),
            dropped: n(&self.stats.dropped),
            queued: n(&self.stats.queued),
        }
    }
}

/// The outbox; its delivery tasks stop when it is dropped.
pub struct Outbox {
    lanes: Vec<Arc<Lane>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

impl Outbox {
    /// Start one delivery task per receiver (inside a tokio runtime).
    /// `generator_url` is where a notification links to (the hub's page).
    pub fn start(receivers: Vec<Receiver>, generator_url: String) -> Outbox {
        let lanes: Vec<Arc<Lane>> = receivers
            .into_iter()
            .map(|receiver| {
                Arc::new(Lane {
                    receiver,
                    generator_url: generator_url.clone(),
                    queue: Mutex::new(Queue::default()),
                    wake: Notify::new(),
                    stats: LaneStats::default(),
                })
            })
            .collect();
        let tasks = lanes.iter().map(|l| tokio::spawn(run(l.clone()))).collect();
        Outbox { lanes, tasks }
    }

    /// Queue a change for every receiver; never waits. Texts are masked here.
    pub fn push(&self, change: &Change) {
        let masked = match change.clone() {
            Change::Fired(a) => Change::Fired(a.masked()),
            Change::Resolved { alert, at, value } => Change::Resolved {
                alert: alert.masked(),
                at,
                value,
            },
        };
        for l in &self.lanes {
            l.push(masked.clone());
        }
    }

    /// Every receiver's counters.
    pub fn report(&self) -> Vec<LaneReport> {
        self.lanes.iter().map(|l| l.report()).collect()
    }

    /// Notifications dropped, all receivers together.
    pub fn dropped(&self) -> u64 {
        self.lanes
            .iter()
            .map(|l| l.stats.dropped.load(Ordering::Relaxed))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }
}

/// One delivery of a change.
async fn deliver(lane: &Lane, c: &Change) -> Result<(), String> {
    let r = &lane.receiver;
    let (path, body) = match r.kind {
        Kind::Webhook => ("", payload::webhook(&r.name, c, &lane.generator_url)),
        Kind::Slack => ("", payload::slack(c, &lane.generator_url)),
        Kind::Alertmanager => {
            let (value, ends) = match c {
                Change::Fired(a) => (a.value, firing_ends(r)),
                Change::Resolved { at, value, .. } => (*value, *at),
            };
            (
                "/api/v2/alerts",
                serde_json::Value::Array(vec![payload::alertmanager_alert(
                    c.alert(),
                    value,
                    ends,
                    &lane.generator_url,
                )]),
            )
        }
    };
    http::post_json(&r.url, path, body.to_string().as_bytes(), r.timeout).await
}

/// A firing alert's `endsAt` for Alertmanager: four re-send periods ahead
/// (as Prometheus does), so it stays firing while re-sends keep coming.
fn firing_ends(r: &Receiver) -> chrono::DateTime<Utc> {
    Utc::now() + TimeDelta::from_std(r.resend * 4).unwrap_or(TimeDelta::minutes(4))
}

/// Re-send every firing alert to Alertmanager (no retry: the next period
/// re-sends anyway).
async fn resend(lane: &Lane, firing: &BTreeMap<String, Alert>) {
    let r = &lane.receiver;
    let ends = firing_ends(r);
    let body: Vec<serde_json::Value> = firing
        .values()
        .map(|a| payload::alertmanager_alert(a, a.value, ends, &lane.generator_url))
        .collect();
    let body = serde_json::Value::Array(body).to_string();
    if let Err(e) = http::post_json(&r.url, "/api/v2/alerts", body.as_bytes(), r.timeout).await {
        lane.stats.failures.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(receiver = %r.name, error = %e, "re-sending firing alerts failed");
    }
}

async fn run(lane: Arc<Lane>) {
    let r = &lane.receiver;
    let mut backoff = MIN_BACKOFF;
    let mut failing = false;
    let mut next_resend = Instant::now() + r.resend;
    loop {
        let Some((seq, change, queued_at)) = lane.front() else {
            let firing = if r.kind == Kind::Alertmanager {
                lane.firing()
            } else {
                BTreeMap::new()
            };
            if !firing.is_empty() {
                tokio::select! {
                    _ = lane.wake.notified() => {}
                    _ = tokio::time::sleep_until(next_resend) => {
                        resend(&lane, &firing).await;
                        next_resend = Instant::now() + r.resend;
                    }
                }
            } else {
                lane.wake.notified().await;
            }
            continue;
        };
        let delivered = match deliver(&lane, &change).await {
            Ok(()) => {
                lane.stats.sent.fetch_add(1, Ordering::Relaxed);
                if failing {
                    tracing::info!(receiver = %r.name, "notifications delivered again");
                    failing = false;
                }
                backoff = MIN_BACKOFF;
                Some(true)
            }
            Err(e) => {
                lane.stats.failures.fetch_add(1, Ordering::Relaxed);
                if !failing {
                    tracing::warn!(receiver = %r.name, error = %e,
                        "notification not delivered; retrying with backoff");
                    failing = true;
                }
                if queued_at.elapsed() >= r.give_up_after {
                    lane.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(receiver = %r.name, "a notification was dropped: undelivered for too long");
                    Some(false)
                } else {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    None
                }
            }
        };
        if let Some(delivered) = delivered {
            if r.kind == Kind::Alertmanager
                && delivered
                && matches!(change, Change::Fired(_))
                && lane.queue().firing.is_empty()
            {
                next_resend = Instant::now() + r.resend;
            }
            lane.pop(seq, &change, delivered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::Bound;

    fn alert(fp: &str) -> Alert {
        Alert {
            fingerprint: fp.into(),
            rule: "r".into(),
            labels: Default::default(),
            severity: "critical".into(),
            summary: String::new(),
            description: String::new(),
            runbook: None,
            value: Some(1.0),
            bound: Bound::None,
            since: Utc::now(),
        }
    }

    fn lane(queue: usize) -> Lane {
        let mut receiver = Receiver::new("am", Kind::Alertmanager, "http://127.0.0.1:9");
        receiver.queue = queue;
        Lane {
            receiver,
            generator_url: String::new(),
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            stats: LaneStats::default(),
        }
    }

    fn resolved(fp: &str) -> Change {
        Change::Resolved {
            alert: alert(fp),
            at: Utc::now(),
            value: None,
        }
    }

    /// The review's case: a firing in flight, its resolution queued and
    /// dropped (queue full) before the firing's delivery settles. The
    /// resolution wins: the alert is not re-sent (it was, forever).
    #[test]
    fn a_dropped_resolution_wins_over_a_firing_in_flight() {
        let l = lane(1);
        l.push(Change::Fired(alert("x")));
        let (seq, change, _) = l.front().unwrap();
        // While it is delivered: the resolution, then another change that
        // pushes it (and the in-flight item) out of the full queue.
        l.push(resolved("x"));
        l.push(Change::Fired(alert("y")));
        assert_eq!(l.stats.dropped.load(Ordering::Relaxed), 2);
        l.pop(seq, &change, true);
        assert!(l.firing().is_empty(), "x must not be re-sent");
        // y is delivered normally and re-sent while firing.
        let (seq, change, _) = l.front().unwrap();
        l.pop(seq, &change, true);
        assert_eq!(l.firing().keys().collect::<Vec<_>>(), ["y"]);
    }

    /// A resolution of another alert, or one still queued, changes nothing
    /// for the firing in flight: it is re-sent until its resolution is
    /// delivered.
    #[test]
    fn a_firing_in_flight_is_resent_until_its_resolution_settles() {
        let l = lane(2);
        l.push(Change::Fired(alert("x")));
        let (seq, change, _) = l.front().unwrap();
        l.push(resolved("x"));
        l.pop(seq, &change, true);
        assert_eq!(l.firing().keys().collect::<Vec<_>>(), ["x"]);
        let (seq, change, _) = l.front().unwrap();
        l.pop(seq, &change, true);
        assert!(l.firing().is_empty());
        // Another alert's dropped resolution does not touch x's firing.
        let l = lane(1);
        l.push(Change::Fired(alert("x")));
        let (seq, change, _) = l.front().unwrap();
        l.push(resolved("z"));
        l.push(resolved("w"));
        l.pop(seq, &change, true);
        assert_eq!(l.firing().keys().collect::<Vec<_>>(), ["x"]);
    }
}
