//! The demo source: the traffic simulator run in memory, no database. It fills
//! the window with simulated history at start, then advances once a second,
//! sending the same batches a PostgreSQL poller would. An `openai` outage is
//! in progress when the demo starts, so a first look shows what failure looks
//! like; later incidents come at random.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{SESSION_CONTEXT_LIMIT, SourceCommand, SourceLink, wait_or_command};
use crate::aggregate;
use crate::model::RECENT_CAP;
use crate::model::*;
use crate::redact::mask_json;
use crate::sim::generator::{Generator, IncidentKind, SimConfig, SimEvent};

/// Sessions listed, alerts kept (as the poller's LIMITs).
const SESSIONS_LIMIT: usize = 100;
const ALERTS_LIMIT: usize = 200;
/// Minutes of simulated time generated at once.
const SLICE_MINUTES: i64 = 5;

/// Keep the newest `n` items.
fn keep_last<T>(v: &mut Vec<T>, n: usize) {
    if v.len() > n {
        v.drain(..v.len() - n);
    }
}

/// Sessions whose context timeline is kept (oldest evicted first).
const CONTEXT_SESSIONS: usize = 500;

#[derive(Debug, Clone)]
pub struct DemoSettings {
    pub seed: u64,
    pub rate: f64,
    pub window: Duration,
    pub idle_timeout: Duration,
    pub tick: Duration,
}

/// In-memory copies of the small tables, as the simulator writes them.
pub struct Demo {
    settings: DemoSettings,
    generator: Generator,
    sessions: HashMap<String, Session>,
    started: BTreeMap<Minute, u64>,
    /// Sessions per minute × service, as the usage poll reads them.
    usage: BTreeMap<Minute, BTreeMap<String, UsageMinute>>,
    /// The earliest minute of `usage` changed since the last batch.
    usage_touched: Option<Minute>,
    alerts: Vec<AlertRow>,
    health: BTreeMap<String, HealthReport>,
    /// Context timelines by session, bounded in sessions and records.
    context: HashMap<String, VecDeque<ContextEvent>>,
    /// Sessions in `context`, in the order they first appeared.
    context_order: VecDeque<String>,
}

impl Demo {
    /// A demo whose simulated history starts one window before `now`.
    pub fn new(settings: DemoSettings, now: DateTime<Utc>) -> Self {
        let window = TimeDelta::from_std(settings.window).unwrap_or(TimeDelta::minutes(15));
        let cfg = SimConfig {
            seed: settings.seed,
            rate: settings.rate,
            incidents: true,
        };
        let mut generator = Generator::new(cfg, now - window);
        generator.force_incident(
            "openai",
            IncidentKind::Down,
            now - TimeDelta::minutes(3),
            now + TimeDelta::minutes(5),
        );
        Demo {
            settings,
            generator,
            sessions: HashMap::new(),
            started: BTreeMap::new(),
            usage: BTreeMap::new(),
            usage_touched: None,
            alerts: Vec::new(),
            health: BTreeMap::new(),
            context: HashMap::new(),
            context_order: VecDeque::new(),
        }
    }

    /// Advance the simulation to `now`; the first call returns the full window.
    /// The simulation runs in slices of [`SLICE_MINUTES`] so that a long
    /// window (24 h) never holds more than a slice of raw events in memory.
    pub fn step(&mut self, now: DateTime<Utc>, reset: bool) -> Batch {
        let window_secs = self.settings.window.as_secs().max(60);
        let day_start = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let mut today: BTreeMap<String, f64> = BTreeMap::new();
        let mut b = Batch {
            reset,
            now,
            window_secs,
            tables_missing: Some(Vec::new()),
            ..Default::default()
        };
        loop {
            let from = self.generator.now();
            let until = minute_start(minute_of(from) + SLICE_MINUTES).min(now);
            let events = self.generator.advance_to(until);
            let mut api = Vec::new();
            let mut integrations = Vec::new();
            let mut business = Vec::new();
            for e in events {
                match e {
                    SimEvent::Api(c) => api.push(c),
                    SimEvent::Integration(c) => integrations.push(c),
                    SimEvent::Business(o) => business.push(o),
                    SimEvent::Session(s) => self.session(s),
                    SimEvent::Alert(mut a) => {
                        a.context = a.context.as_ref().map(crate::redact::mask_json);
                        self.alerts.push(a)
                    }
                    SimEvent::Health(h) => {
                        self.health.insert(h.integration.clone(), h);
                    }
                    SimEvent::Context(c) => self.remember_context(c),
                }
            }
            if reset {
                for o in business.iter().filter(|o| o.at >= day_start) {
                    *today.entry(o.metric.clone()).or_default() += o.value;
                }
            }
            aggregate::add_api_calls(&mut b, &api);
            aggregate::add_integration_calls(&mut b, &integrations);
            aggregate::add_business(&mut b, &business);
            // The store keeps only the newest of these anyway.
            keep_last(&mut b.api_errors, RECENT_CAP);
            keep_last(&mut b.api_slow, RECENT_CAP);
            keep_last(&mut b.integration_errors, RECENT_CAP);
            if until >= now || self.generator.now() <= from {
                break;
            }
        }
        let first = window_first_minute(now, window_secs);
        self.started = self.started.split_off(&first);
        self.usage = self.usage.split_off(&first);
        if let Some(from) = self.usage_touched.take().map(|m| m.max(first)) {
            // From a slot start: the store replaces whole slots.
            let from = if reset {
                first
            } else {
                slot_of(from, slot_minutes(window_secs)).max(first)
            };
            b.usage = Some(UsageUpdate {
                from,
                minutes: self
                    .usage
                    .range(from..)
                    .flat_map(|(m, by)| by.iter().map(|(s, u)| (*m, s.clone(), u.clone())))
                    .collect(),
                ..Default::default()
            });
        } else if reset {
            b.usage = Some(UsageUpdate {
                from: first,
                ..Default::default()
            });
        }
        b.sessions = Some(self.sessions_view(now, slot_minutes(window_secs)));
        b.alerts = Some(self.alerts_view());
        b.health_reports = Some(self.health.values().cloned().collect());
        if reset {
            b.today = Some(Today {
                day_start,
                totals: today,
                ..Default::default()
            });
        }
        b
    }

    fn session(&mut self, s: Session) {
        match Outcome::of_status(&s.status) {
            None => {
                if !self.sessions.contains_key(&s.session_id) {
                    let m = minute_of(s.started_at);
                    *self.started.entry(m).or_default() += 1;
                    self.usage_at(m, &s.service).started += 1;
                }
                self.sessions.insert(s.session_id.clone(), s);
            }
            Some(outcome) => {
                self.sessions.remove(&s.session_id);
                let end = s.ended_at.unwrap_or(s.last_activity_at);
                let secs = (end - s.started_at).num_seconds();
                self.usage_at(minute_of(end), &s.service).record_end(
                    outcome,
                    secs,
                    s.credits_used as i64,
                );
            }
        }
    }

    fn usage_at(&mut self, m: Minute, service: &str) -> &mut UsageMinute {
        self.usage_touched = Some(self.usage_touched.map_or(m, |t| t.min(m)));
        self.usage
            .entry(m)
            .or_default()
            .entry(service.to_string())
            .or_default()
    }

    fn sessions_view(&mut self, now: DateTime<Utc>, step: i64) -> SessionsView {
        let idle =
            TimeDelta::from_std(self.settings.idle_timeout).unwrap_or(TimeDelta::minutes(30));
        self.sessions
            .retain(|_, s| s.last_activity_at >= now - idle);
        let mut items: Vec<Session> = self.sessions.values().cloned().collect();
        items.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then(a.session_id.cmp(&b.session_id))
        });
        items.truncate(SESSIONS_LIMIT);
        SessionsView {
            active: self.sessions.len() as u64,
            items,
            started_per_minute: {
                let mut slots = std::collections::BTreeMap::<Minute, u64>::new();
                for (m, n) in &self.started {
                    *slots.entry(slot_of(*m, step)).or_default() += n;
                }
                slots.into_iter().collect()
            },
        }
    }

    fn alerts_view(&mut self) -> AlertsView {
        self.alerts.sort_by(|a, b| {
            (
                a.acknowledged,
                Severity::from_raw(a.severity_raw.as_deref()),
            )
                .cmp(&(
                    b.acknowledged,
                    Severity::from_raw(b.severity_raw.as_deref()),
                ))
                .then(b.created_at.cmp(&a.created_at))
        });
        self.alerts.truncate(ALERTS_LIMIT);
        let mut open_by_severity = BTreeMap::new();
        for a in self.alerts.iter().filter(|a| !a.acknowledged) {
            *open_by_severity
                .entry(
                    Severity::from_raw(a.severity_raw.as_deref())
                        .word()
                        .to_owned(),
                )
                .or_default() += 1;
        }
        AlertsView {
            items: self.alerts.clone(),
            open_by_severity,
        }
    }

    fn remember_context(&mut self, c: ContextEvent) {
        if !self.context.contains_key(&c.session_id) {
            if self.context_order.len() >= CONTEXT_SESSIONS
                && let Some(old) = self.context_order.pop_front()
            {
                self.context.remove(&old);
            }
            self.context_order.push_back(c.session_id.clone());
        }
        let events = self.context.entry(c.session_id.clone()).or_default();
        if events.len() >= SESSION_CONTEXT_LIMIT {
            events.pop_front();
        }
        events.push_back(c);
    }

    /// One session's context timeline, oldest first, secrets masked.
    pub fn session_context(&self, session_id: &str) -> Result<Vec<ContextEvent>, String> {
        let events = self.context.get(session_id).ok_or_else(|| {
            format!("no context recorded for session {session_id} (the demo keeps the last {CONTEXT_SESSIONS} sessions)")
        })?;
        Ok(events
            .iter()
            .map(|e| ContextEvent {
                data: mask_json(&e.data),
                ..e.clone()
            })
            .collect())
    }

    fn acknowledge(&mut self, id: i64, now: DateTime<Utc>) -> Result<(), String> {
        let a = self
            .alerts
            .iter_mut()
            .find(|a| a.id == id)
            .ok_or_else(|| format!("alert {id} not found"))?;
        a.acknowledged = true;
        a.acknowledged_at = Some(now);
        Ok(())
    }
}

/// Run the demo until the update channel closes.
pub async fn run(settings: DemoSettings, link: SourceLink) {
    let SourceLink { updates, commands } = link;
    let mut commands = Some(commands);
    let tick = settings.tick;
    let mut demo = Demo::new(settings, Utc::now());
    let mut reset = true;
    let mut status = SourceStatus::new(SourceId::Demo, "built-in simulator");
    status.up = true;
    loop {
        let now = Utc::now();
        let batch = demo.step(now, reset);
        reset = false;
        status.last_ok = Some(now);
        if updates.send(Update::Batch(Box::new(batch))).await.is_err()
            || updates.send(Update::Source(status.clone())).await.is_err()
        {
            return;
        }
        let mut next = wait_or_command(tick, &mut commands).await;
        while let Some(cmd) = next.take() {
            match cmd {
                SourceCommand::RefreshNow => {}
                SourceCommand::SetWindow(w) => {
                    let mut s = demo.settings.clone();
                    s.window = w;
                    demo = Demo::new(s, Utc::now());
                    reset = true;
                }
                SourceCommand::Acknowledge { id, reply } => {
                    let _ = reply.send(demo.acknowledge(id, Utc::now()));
                }
                SourceCommand::SessionContext { session_id, reply } => {
                    let _ = reply.send(demo.session_context(&session_id));
                }
            }
            next = commands.as_mut().and_then(|c| c.try_recv().ok());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{State, Thresholds};

    /// An hour of demo traffic without random incidents; `drop` makes
    /// elevenlabs (needed by voice_guidance and avatar_video) go down for
    /// the last 15 minutes.
    fn hour(drop: bool) -> State {
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let settings = DemoSettings {
            seed: 9,
            rate: 30.0,
            window: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(1800),
            tick: Duration::from_secs(1),
        };
        let mut demo = Demo::new(settings, now);
        let cfg = SimConfig {
            seed: 9,
            rate: 30.0,
            incidents: false,
        };
        demo.generator = Generator::new(cfg, now - TimeDelta::hours(1));
        if drop {
            assert!(demo.generator.force_incident(
                "elevenlabs",
                IncidentKind::Down,
                now - TimeDelta::minutes(15),
                now + TimeDelta::minutes(5),
            ));
        }
        let mut state = State::new(3600, Thresholds::default());
        state.apply(Update::Batch(Box::new(demo.step(now, true))));
        state
    }

    fn fell(state: &State) -> Vec<String> {
        state
            .usage()
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::CompletionFell)
            .filter_map(|f| f.service.clone())
            .collect()
    }

    #[test]
    fn a_completion_drop_the_simulator_injects_is_found() {
        let calm = hour(false);
        assert!(calm.usage().services.len() >= 4, "{:?}", calm.usage());
        assert_eq!(
            fell(&calm),
            Vec::<String>::new(),
            "{:?}",
            calm.usage().findings
        );
        let hit = hour(true);
        let services = fell(&hit);
        assert!(
            services.iter().any(|s| s == "voice_guidance"),
            "{:?}",
            hit.usage().findings
        );
        assert!(
            !services
                .iter()
                .any(|s| s == "live_chat" || s == "spiritual_guidance"),
            "only the services needing elevenlabs: {services:?}"
        );
        // The services' figures add up to the whole.
        let u = hit.usage();
        let started: u64 = u.services.iter().map(|s| s.started).sum();
        assert_eq!(started, u.total.started);
        // Sessions that start and stop within seconds are there to be found.
        assert!(u.services.iter().any(|s| s.quick_ends > 0));
    }
}
