//! Deterministic generator of JyotiFlow.ai monitoring traffic. Pure: no I/O,
//! no clock, no global randomness. The same [`SimConfig::seed`], start instant
//! and sequence of [`Generator::advance_to`] calls always give the same events.
//!
//! Model: API requests arrive as a Poisson process at [`SimConfig::rate`]; each
//! picks a weighted endpoint with its own log-normal latency. Guidance and
//! avatar requests call the external integrations (prokerala, rag, openai,
//! elevenlabs, did) one after the other; a failing integration fails the
//! request. Session-start requests open sessions that report activity and end
//! a few minutes later; purchases, guidance and signups produce business
//! observations; every integration reports its health every ~30 s. With
//! [`SimConfig::incidents`], one integration degrades or goes down for 2-6
//! minutes every 10-20 minutes, raising an alert (and a recovery alert).
//!
//! Internally everything is scheduled on a min-heap keyed by (time in
//! microseconds since start, sequence number); ids are assigned when events
//! leave the heap, so they increase in time order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, LogNormal};
use serde_json::json;

use crate::model::events::{
    AlertRow, ApiCall, BusinessObs, ContextEvent, HealthReport, IntegrationCall, Session,
};

/// One generated record.
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    Api(ApiCall),
    Integration(IntegrationCall),
    /// An upsert of the session's current state (start, activity, end).
    Session(Session),
    Alert(AlertRow),
    Business(BusinessObs),
    Context(ContextEvent),
    Health(HealthReport),
}

impl SimEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            SimEvent::Api(e) => e.at,
            SimEvent::Integration(e) => e.at,
            SimEvent::Session(e) => e.last_activity_at,
            SimEvent::Alert(e) => e.created_at,
            SimEvent::Business(e) => e.at,
            SimEvent::Context(e) => e.at,
            SimEvent::Health(e) => e.checked_at,
        }
    }
}

/// Generator settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    /// API requests per second (mean of a Poisson process).
    pub rate: f64,
    /// Inject random integration incidents every 10-20 minutes.
    pub incidents: bool,
}

/// How badly an integration is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentKind {
    /// ~25% failures, latency x3.
    Degraded,
    /// ~90-100% failures (503s and connect timeouts).
    Down,
}

impl IncidentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Degraded => "degraded",
            IncidentKind::Down => "down",
        }
    }
}

/// An integration incident (planned at random or forced).
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub integration: String,
    pub kind: IncidentKind,
    pub started: DateTime<Utc>,
    pub ends: DateTime<Utc>,
}

/// An incident the generator injected (random or forced), on an
/// integration or an endpoint: what `jfmon simulate` lists at the end, and
/// what a precision/recall measurement of the alert rules compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The integration's name, or the endpoint's path.
    pub target: String,
    pub on_endpoint: bool,
    pub kind: IncidentKind,
    pub started: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    pub forced: bool,
}

/// The most injected incidents remembered (the oldest are forgotten).
const INJECTED_CAP: usize = 10_000;

/// An incident forced on an endpoint.
struct EndpointIncident {
    endpoint: usize,
    kind: IncidentKind,
    start_us: i64,
    end_us: i64,
}

impl std::fmt::Display for Incident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.integration, self.kind.as_str())
    }
}

// ---------------------------------------------------------------------------
// Static traffic model

struct IntegrationSpec {
    name: &'static str,
    display: &'static str,
    median_ms: f64,
    sigma: f64,
    base_fail: f64,
    /// Relative chance of being the one hit by a random incident.
    incident_weight: f64,
}

const PROKERALA: usize = 0;
const OPENAI: usize = 1;
const ELEVENLABS: usize = 2;
const DID: usize = 3;
const RAG: usize = 4;

const INTEGRATIONS: [IntegrationSpec; 5] = [
    IntegrationSpec {
        name: "prokerala",
        display: "Prokerala",
        median_ms: 260.0,
        sigma: 0.45,
        base_fail: 0.004,
        incident_weight: 0.2,
    },
    IntegrationSpec {
        name: "openai",
        display: "OpenAI",
        median_ms: 600.0,
        sigma: 0.55,
        base_fail: 0.006,
        incident_weight: 0.35,
    },
    IntegrationSpec {
        name: "elevenlabs",
        display: "ElevenLabs",
        median_ms: 850.0,
        sigma: 0.5,
        base_fail: 0.005,
        incident_weight: 0.2,
    },
    IntegrationSpec {
        name: "did",
        display: "D-ID",
        median_ms: 2400.0,
        sigma: 0.5,
        base_fail: 0.008,
        incident_weight: 0.15,
    },
    IntegrationSpec {
        name: "rag",
        display: "RAG",
        median_ms: 55.0,
        sigma: 0.5,
        base_fail: 0.002,
        incident_weight: 0.1,
    },
];

/// What an endpoint does, which decides its integration calls, failures and business events.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EndpointKind {
    Guidance,
    SessionStart,
    Purchase,
    Login,
    Signup,
    Profile,
    Balance,
    History,
    Avatar,
    Health,
}

struct EndpointSpec {
    method: &'static str,
    path: &'static str,
    weight: f64,
    /// Median of the handler's own time (integration calls come on top).
    median_ms: f64,
    sigma: f64,
    kind: EndpointKind,
    /// Requests carry a user id (others: half of the time).
    authed: bool,
    ok_status: i32,
}

const ENDPOINTS: [EndpointSpec; 10] = [
    EndpointSpec {
        method: "POST",
        path: "/api/spiritual/guidance",
        weight: 22.0,
        median_ms: 45.0,
        sigma: 0.5,
        kind: EndpointKind::Guidance,
        authed: true,
        ok_status: 200,
    },
    EndpointSpec {
        method: "POST",
        path: "/api/sessions/start",
        weight: 6.0,
        median_ms: 110.0,
        sigma: 0.5,
        kind: EndpointKind::SessionStart,
        authed: true,
        ok_status: 201,
    },
    EndpointSpec {
        method: "POST",
        path: "/api/credits/purchase",
        weight: 3.0,
        median_ms: 380.0,
        sigma: 0.45,
        kind: EndpointKind::Purchase,
        authed: true,
        ok_status: 200,
    },
    EndpointSpec {
        method: "POST",
        path: "/api/auth/login",
        weight: 10.0,
        median_ms: 80.0,
        sigma: 0.4,
        kind: EndpointKind::Login,
        authed: false,
        ok_status: 200,
    },
    EndpointSpec {
        method: "POST",
        path: "/api/auth/register",
        weight: 1.5,
        median_ms: 160.0,
        sigma: 0.4,
        kind: EndpointKind::Signup,
        authed: false,
        ok_status: 201,
    },
    EndpointSpec {
        method: "GET",
        path: "/api/user/profile",
        weight: 15.0,
        median_ms: 35.0,
        sigma: 0.45,
        kind: EndpointKind::Profile,
        authed: true,
        ok_status: 200,
    },
    EndpointSpec {
        method: "GET",
        path: "/api/credits/balance",
        weight: 18.0,
        median_ms: 22.0,
        sigma: 0.45,
        kind: EndpointKind::Balance,
        authed: true,
        ok_status: 200,
    },
    EndpointSpec {
        method: "GET",
        path: "/api/sessions/history",
        weight: 6.0,
        median_ms: 65.0,
        sigma: 0.5,
        kind: EndpointKind::History,
        authed: true,
        ok_status: 200,
    },
    EndpointSpec {
        method: "POST",
        path: "/api/avatar/generate",
        weight: 2.0,
        median_ms: 150.0,
        sigma: 0.5,
        kind: EndpointKind::Avatar,
        authed: true,
        ok_status: 202,
    },
    EndpointSpec {
        method: "GET",
        path: "/api/health",
        weight: 12.0,
        median_ms: 5.0,
        sigma: 0.35,
        kind: EndpointKind::Health,
        authed: false,
        ok_status: 200,
    },
];

const GUIDANCE_CHAIN: [(usize, &str); 3] = [
    (PROKERALA, "birth_chart"),
    (RAG, "retrieve_context"),
    (OPENAI, "chat_completion"),
];
const AVATAR_CHAIN: [(usize, &str); 3] = [
    (OPENAI, "avatar_script"),
    (ELEVENLABS, "text_to_speech"),
    (DID, "create_talk"),
];

/// A service users start sessions of: how often, how its sessions end when
/// nothing is wrong, and the integrations it needs (an incident on one of
/// them makes its sessions fail and be abandoned more, in proportion to the
/// incident's failure rate).
struct ServiceSpec {
    name: &'static str,
    weight: f64,
    failed: f64,
    abandoned: f64,
    /// Sessions abandoned within seconds of starting.
    quick: f64,
    depends: &'static [usize],
}

const SERVICES: [ServiceSpec; 4] = [
    ServiceSpec {
        name: "spiritual_guidance",
        weight: 0.5,
        failed: 0.03,
        abandoned: 0.08,
        quick: 0.01,
        depends: &[OPENAI, PROKERALA],
    },
    ServiceSpec {
        name: "voice_guidance",
        weight: 0.2,
        failed: 0.06,
        abandoned: 0.12,
        quick: 0.05,
        depends: &[OPENAI, ELEVENLABS],
    },
    ServiceSpec {
        name: "live_chat",
        weight: 0.2,
        failed: 0.02,
        abandoned: 0.15,
        quick: 0.02,
        depends: &[RAG],
    },
    ServiceSpec {
        name: "avatar_video",
        weight: 0.1,
        failed: 0.10,
        abandoned: 0.10,
        quick: 0.03,
        depends: &[ELEVENLABS, DID],
    },
];

const QUESTIONS: [&str; 8] = [
    "What does my career look like this year?",
    "When is a good time to start a new business?",
    "How can I find peace after the loss of my father?",
    "Is this a favourable period for marriage?",
    "Which mantra should I chant for Saturn's transit?",
    "How will my health be in the coming months?",
    "Should I move abroad for my studies?",
    "Why do I feel so restless lately?",
];

const PLACES: [&str; 8] = [
    "Chennai, India",
    "Mumbai, India",
    "Bengaluru, India",
    "Madurai, India",
    "London, UK",
    "Toronto, Canada",
    "Singapore",
    "Colombo, Sri Lanka",
];

const CREDIT_PACKS_USD: [f64; 4] = [4.99, 9.99, 19.99, 49.99];
const INITIAL_USERS: u32 = 5000;
const SEC: i64 = 1_000_000;
const MIN: i64 = 60 * SEC;

// ---------------------------------------------------------------------------
// Scheduling

enum Item {
    /// Boxed: keeps heap entries small (sift moves are the hot path).
    Emit(Box<SimEvent>),
    SessionStart(u32),
    SessionActivity {
        slot: u32,
        serial: u64,
    },
    SessionEnd {
        slot: u32,
        serial: u64,
    },
    Health(usize),
    IncidentAlert(u64),
    IncidentEnd(u64),
}

struct Scheduled {
    at: i64,
    seq: u64,
    item: Item,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap, we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct IncidentState {
    serial: u64,
    public: Incident,
    integration: usize,
    start_us: i64,
    end_us: i64,
    fail_rate: f64,
    forced: bool,
    calls: u64,
    failures: u64,
}

struct SessionState {
    serial: u64,
    session: Session,
    end_us: i64,
    /// Abandoned within seconds of starting.
    quick: bool,
}

struct CallOutcome {
    dur_us: i64,
    ok: bool,
    timeout: bool,
    error: Option<String>,
}

/// The traffic generator. See the module documentation.
pub struct Generator {
    cfg: SimConfig,
    start: DateTime<Utc>,
    /// Part of session ids, so runs started at different instants do not collide.
    tag: i64,
    rng: StdRng,
    now_us: i64,
    next_arrival_us: i64,
    gap: Option<Exp<f64>>,
    heap: BinaryHeap<Scheduled>,
    seq: u64,
    next_api_id: i64,
    next_integration_id: i64,
    next_alert_id: i64,
    next_business_id: i64,
    ep_cum: [f64; ENDPOINTS.len()],
    ep_latency: Vec<LogNormal<f64>>,
    int_latency: Vec<LogNormal<f64>>,
    session_life: LogNormal<f64>,
    users: u32,
    purchased: Vec<bool>,
    /// Whether each user has started a session (the funnel's first sessions).
    had_session: Vec<bool>,
    sessions: Vec<Option<SessionState>>,
    free_slots: Vec<u32>,
    active: Vec<u32>,
    session_serial: u64,
    incidents: Vec<IncidentState>,
    incident_serial: u64,
    endpoint_incidents: Vec<EndpointIncident>,
    injected: Vec<Injected>,
}

fn lognormal(median: f64, sigma: f64) -> LogNormal<f64> {
    LogNormal::new(median.ln(), sigma).expect("valid log-normal parameters")
}

impl Generator {
    pub fn new(cfg: SimConfig, start: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let gap = (cfg.rate.is_finite() && cfg.rate > 0.0)
            .then(|| Exp::new(cfg.rate).expect("positive rate"));
        let mut ep_cum = [0.0; ENDPOINTS.len()];
        let mut acc = 0.0;
        for (c, e) in ep_cum.iter_mut().zip(ENDPOINTS.iter()) {
            acc += e.weight;
            *c = acc;
        }
        let next_arrival_us = match &gap {
            Some(g) => 1 + (g.sample(&mut rng) * 1e6) as i64,
            None => i64::MAX,
        };
        let mut g = Generator {
            tag: start.timestamp(),
            start,
            rng,
            now_us: 0,
            next_arrival_us,
            gap,
            heap: BinaryHeap::new(),
            seq: 0,
            next_api_id: 1,
            next_integration_id: 1,
            next_alert_id: 1,
            next_business_id: 1,
            ep_cum,
            ep_latency: ENDPOINTS
                .iter()
                .map(|e| lognormal(e.median_ms, e.sigma))
                .collect(),
            int_latency: INTEGRATIONS
                .iter()
                .map(|i| lognormal(i.median_ms, i.sigma))
                .collect(),
            session_life: lognormal(240.0, 0.6),
            users: INITIAL_USERS,
            purchased: vec![false; INITIAL_USERS as usize + 1],
            // Users from before the simulation have had sessions.
            had_session: vec![true; INITIAL_USERS as usize + 1],
            sessions: Vec::new(),
            free_slots: Vec::new(),
            active: Vec::new(),
            session_serial: 0,
            incidents: Vec::new(),
            incident_serial: 0,
            endpoint_incidents: Vec::new(),
            injected: Vec::new(),
            cfg,
        };
        // Health reports, staggered over the first 30 s.
        for i in 0..INTEGRATIONS.len() {
            let at = 1 + g.rng.random_range(0..30 * SEC);
            g.schedule(at, Item::Health(i));
        }
        if g.cfg.incidents {
            let first = g.rng.random_range(2 * MIN..5 * MIN);
            g.plan_incident(first);
        }
        g
    }

    /// The configuration this generator was built with.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The generator's current time (the last `advance_to` instant, or the start).
    pub fn now(&self) -> DateTime<Utc> {
        self.time(self.now_us)
    }

    /// All events with timestamp in (previous point, until], in time order.
    /// Called repeatedly with increasing `until`; an `until` not after the
    /// current time returns nothing.
    pub fn advance_to(&mut self, until: DateTime<Utc>) -> Vec<SimEvent> {
        let until_us = self.offset_us(until);
        if until_us <= self.now_us {
            return Vec::new();
        }
        // ~2.9 events per API request on average.
        let expect = (until_us - self.now_us) as f64 / 1e6 * self.cfg.rate.max(0.0) * 3.0;
        let mut out = Vec::with_capacity((expect as usize).min(1 << 22) + 16);
        loop {
            let heap_next = self.heap.peek().map_or(i64::MAX, |s| s.at);
            if self.next_arrival_us <= heap_next && self.next_arrival_us <= until_us {
                let t = self.next_arrival_us;
                self.request(t);
                let gap = match &self.gap {
                    Some(g) => (g.sample(&mut self.rng) * 1e6) as i64,
                    None => i64::MAX / 2,
                };
                self.next_arrival_us = t.saturating_add(gap.max(1));
            } else if heap_next <= until_us {
                let Some(s) = self.heap.pop() else { break };
                self.handle(s.at, s.item, &mut out);
            } else {
                break;
            }
        }
        self.now_us = until_us;
        out
    }

    /// The incident in progress at the generator's current time, if any.
    pub fn incident(&self) -> Option<&Incident> {
        let now = self.now_us;
        self.incidents
            .iter()
            .find(|x| x.start_us <= now && now < x.end_us)
            .map(|x| &x.public)
    }

    /// Make `integration` degraded or down over [from, until), independently of
    /// random incidents. Raises the alert ~30 s after `from` (or right away if
    /// that is already past) and a recovery alert at `until`. Returns false
    /// (and does nothing) for an unknown integration or an interval already over.
    pub fn force_incident(
        &mut self,
        integration: &str,
        kind: IncidentKind,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> bool {
        let Some(idx) = INTEGRATIONS.iter().position(|i| i.name == integration) else {
            return false;
        };
        let start_us = self.offset_us(from);
        let end_us = self.offset_us(until);
        if end_us <= self.now_us || end_us <= start_us {
            return false;
        }
        let fail_rate = match kind {
            IncidentKind::Down => 0.95,
            IncidentKind::Degraded => 0.25,
        };
        let alert_at = (start_us + 30 * SEC).min(end_us - 1).max(self.now_us + 1);
        self.add_incident(idx, kind, start_us, end_us, fail_rate, true, alert_at);
        true
    }

    /// Make the endpoint at `path` fail (down: ~95 % 503s) or slow down
    /// (degraded: 3× its own time, ~25 % 500s) over [from, until). Returns
    /// false (and does nothing) for an unknown path or an interval already over.
    pub fn force_endpoint_incident(
        &mut self,
        path: &str,
        kind: IncidentKind,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> bool {
        let Some(idx) = ENDPOINTS.iter().position(|e| e.path == path) else {
            return false;
        };
        let (start_us, end_us) = (self.offset_us(from), self.offset_us(until));
        if end_us <= self.now_us || end_us <= start_us {
            return false;
        }
        self.endpoint_incidents.push(EndpointIncident {
            endpoint: idx,
            kind,
            start_us,
            end_us,
        });
        self.remember(Injected {
            target: path.to_string(),
            on_endpoint: true,
            kind,
            started: from,
            ends: until,
            forced: true,
        });
        true
    }

    /// Every incident injected so far (random and forced), oldest first.
    pub fn injected(&self) -> &[Injected] {
        &self.injected
    }

    /// The integration names and endpoint paths incidents can target.
    pub fn targets() -> (Vec<&'static str>, Vec<&'static str>) {
        (
            INTEGRATIONS.iter().map(|i| i.name).collect(),
            ENDPOINTS.iter().map(|e| e.path).collect(),
        )
    }

    fn remember(&mut self, i: Injected) {
        if self.injected.len() == INJECTED_CAP {
            self.injected.remove(0);
        }
        self.injected.push(i);
    }

    fn endpoint_incident(&self, endpoint: usize, at_us: i64) -> Option<IncidentKind> {
        self.endpoint_incidents
            .iter()
            .find(|x| x.endpoint == endpoint && x.start_us <= at_us && at_us < x.end_us)
            .map(|x| x.kind)
    }

    // -- helpers ------------------------------------------------------------

    fn offset_us(&self, t: DateTime<Utc>) -> i64 {
        (t - self.start).num_microseconds().unwrap_or(i64::MAX / 2)
    }

    fn time(&self, us: i64) -> DateTime<Utc> {
        self.start + TimeDelta::microseconds(us)
    }

    fn schedule(&mut self, at: i64, item: Item) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            item,
        });
    }

    fn emit_later(&mut self, at: i64, e: SimEvent) {
        self.schedule(at, Item::Emit(Box::new(e)));
    }

    /// Assign the table id and hand the event out.
    fn emit(&mut self, mut e: SimEvent, out: &mut Vec<SimEvent>) {
        fn next(c: &mut i64) -> i64 {
            let v = *c;
            *c += 1;
            v
        }
        match &mut e {
            SimEvent::Api(a) => a.id = next(&mut self.next_api_id),
            SimEvent::Integration(i) => i.id = next(&mut self.next_integration_id),
            SimEvent::Alert(a) => a.id = next(&mut self.next_alert_id),
            SimEvent::Business(b) => b.id = next(&mut self.next_business_id),
            SimEvent::Session(_) | SimEvent::Context(_) | SimEvent::Health(_) => {}
        }
        out.push(e);
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    fn random_user(&mut self) -> u32 {
        self.rng.random_range(1..=self.users)
    }

    fn pick_endpoint(&mut self) -> usize {
        let total = self.ep_cum[ENDPOINTS.len() - 1];
        let x = self.rng.random::<f64>() * total;
        self.ep_cum
            .iter()
            .position(|&c| x < c)
            .unwrap_or(ENDPOINTS.len() - 1)
    }

    fn business(&mut self, at: i64, metric: &str, value: f64, unit: &str) {
        let e = SimEvent::Business(BusinessObs {
            id: 0,
            at: self.time(at),
            metric: metric.to_string(),
            value,
            unit: Some(unit.to_string()),
        });
        self.emit_later(at, e);
    }

    fn context(&mut self, at: i64, session: &Session, context_type: &str, data: serde_json::Value) {
        let e = SimEvent::Context(ContextEvent {
            session_id: session.session_id.clone(),
            user_id: session.user_id,
            context_type: context_type.to_string(),
            data,
            at: self.time(at),
        });
        self.emit_later(at, e);
    }

    // -- requests -----------------------------------------------------------

    fn integration_call(&mut self, i: usize, at_us: i64) -> CallOutcome {
        let spec = &INTEGRATIONS[i];
        let mut ms = self.int_latency[i].sample(&mut self.rng);
        let incident = self
            .incidents
            .iter_mut()
            .find(|x| x.integration == i && x.start_us <= at_us && at_us < x.end_us);
        let (mut ok, mut timeout, mut error) = (true, false, None);
        match incident {
            Some(x) => {
                x.calls += 1;
                match x.public.kind {
                    IncidentKind::Degraded => {
                        ms *= 3.0;
                        if self.rng.random::<f64>() < x.fail_rate {
                            ok = false;
                            error = Some(if self.rng.random::<f64>() < 0.5 {
                                format!("{}: 500 Internal Server Error", spec.name)
                            } else {
                                format!("{}: 429 Too Many Requests", spec.name)
                            });
                        }
                    }
                    IncidentKind::Down => {
                        if self.rng.random::<f64>() < x.fail_rate {
                            ok = false;
                            if self.rng.random::<f64>() < 0.4 {
                                timeout = true;
                                ms = 30_000.0;
                                error = Some("ConnectTimeout after 30000 ms".to_string());
                            } else {
                                ms = self.rng.random_range(20.0..120.0);
                                error = Some(format!("{}: 503 Service Unavailable", spec.name));
                            }
                        }
                    }
                }
                if !ok {
                    x.failures += 1;
                }
            }
            None => {
                if self.rng.random::<f64>() < spec.base_fail {
                    ok = false;
                    error = Some(if self.rng.random::<f64>() < 0.5 {
                        format!("{}: 500 Internal Server Error", spec.name)
                    } else {
                        format!("{}: 429 Too Many Requests", spec.name)
                    });
                }
            }
        }
        CallOutcome {
            dur_us: (ms * 1000.0) as i64 + 1,
            ok,
            timeout,
            error,
        }
    }

    fn pick_active_session(&mut self) -> Option<u32> {
        if self.active.is_empty() {
            return None;
        }
        let k = self.rng.random_range(0..self.active.len());
        Some(self.active[k])
    }

    fn request(&mut self, t: i64) {
        let ep_idx = self.pick_endpoint();
        let ep = &ENDPOINTS[ep_idx];
        let mut own_ms = self.ep_latency[ep_idx].sample(&mut self.rng);
        if self.chance(0.0008) {
            own_ms *= self.rng.random_range(8.0..40.0);
        }
        let ep_incident = self.endpoint_incident(ep_idx, t);
        if ep_incident == Some(IncidentKind::Degraded) {
            own_ms *= 3.0;
        }
        let own_us = (own_ms * 1000.0) as i64 + 1;

        // Guidance requests mostly belong to an open session.
        let slot = if ep.kind == EndpointKind::Guidance && self.chance(0.6) {
            self.pick_active_session()
        } else {
            None
        };
        let session_id = slot.and_then(|s| {
            self.sessions[s as usize]
                .as_ref()
                .map(|st| st.session.session_id.clone())
        });
        let session_user = slot
            .and_then(|s| self.sessions[s as usize].as_ref())
            .map(|st| st.session.user_id.map(|u| u as u32));
        let user: Option<u32> = match session_user {
            Some(u) => u,
            None if ep.authed || self.chance(0.5) => Some(self.random_user()),
            None => None,
        };

        // The request's context record (the question asked) at arrival.
        if let (Some(s), EndpointKind::Guidance) = (slot, ep.kind) {
            let data = self.guidance_context();
            if let Some(st) = self.sessions[s as usize].as_ref() {
                let session = st.session.clone();
                self.context(t, &session, "guidance_request", data);
            }
        }

        // Integration calls, one after the other, after a part of the handler's own time.
        let chain: &[(usize, &str)] = match ep.kind {
            EndpointKind::Guidance => &GUIDANCE_CHAIN,
            EndpointKind::Avatar => &AVATAR_CHAIN,
            _ => &[],
        };
        let mut cursor = t + own_us / 3;
        let mut failed: Option<(usize, CallOutcome)> = None;
        let tts = ep.kind == EndpointKind::Guidance && self.chance(0.2);
        let extra: &[(usize, &str)] = if tts {
            &[(ELEVENLABS, "text_to_speech")]
        } else {
            &[]
        };
        for &(i, op) in chain.iter().chain(extra.iter()) {
            let out = self.integration_call(i, cursor);
            let end = cursor + out.dur_us;
            let status = if out.ok {
                Some(200)
            } else if out.timeout {
                None
            } else {
                out.error
                    .as_deref()
                    .and_then(|e| e.split(": ").nth(1))
                    .and_then(|s| s.get(..3))
                    .and_then(|s| s.parse().ok())
            };
            let call = SimEvent::Integration(IntegrationCall {
                id: 0,
                at: self.time(end),
                integration: INTEGRATIONS[i].name.to_string(),
                operation: Some(op.to_string()),
                success: out.ok,
                duration_ms: Some((out.dur_us / 1000) as i32),
                status_code: status,
                error: out.error.clone(),
                session_id: session_id.clone(),
            });
            self.emit_later(end, call);
            cursor = end;
            if !out.ok {
                // RAG failures degrade gracefully most of the time.
                if i == RAG && self.chance(0.7) {
                    continue;
                }
                failed = Some((i, out));
                break;
            }
        }
        let done = cursor + own_us - own_us / 3;

        let (status, error): (Option<i32>, Option<String>) = match failed {
            Some((i, out)) if out.timeout => (
                None,
                Some(format!(
                    "TimeoutError: {} did not respond within 30 s",
                    INTEGRATIONS[i].name
                )),
            ),
            Some((i, out)) => (
                Some(if self.chance(0.5) { 502 } else { 503 }),
                Some(format!(
                    "UpstreamError: {} call failed ({})",
                    INTEGRATIONS[i].name,
                    out.error.as_deref().unwrap_or("error")
                )),
            ),
            None if ep_incident.is_some() && {
                let rate = match ep_incident {
                    Some(IncidentKind::Down) => 0.95,
                    _ => 0.25,
                };
                self.rng.random::<f64>() < rate
            } =>
            {
                match ep_incident {
                    Some(IncidentKind::Down) => (
                        Some(503),
                        Some("ServiceUnavailable: handler unavailable".to_string()),
                    ),
                    _ => (
                        Some(500),
                        Some("InternalServerError: unexpected error in handler".to_string()),
                    ),
                }
            }
            None => {
                let r = self.rng.random::<f64>();
                if r < 0.001 {
                    (
                        None,
                        Some(format!("TimeoutError: handler for {} timed out", ep.path)),
                    )
                } else if r < 0.006 {
                    let code = [500, 500, 502, 503][self.rng.random_range(0..4)];
                    let msg = match code {
                        500 => "InternalServerError: unexpected error in handler",
                        502 => "BadGateway: upstream connection reset",
                        _ => "ServiceUnavailable: database pool exhausted",
                    };
                    (Some(code), Some(msg.to_string()))
                } else if r < 0.026 {
                    let code = match ep.kind {
                        EndpointKind::Login => [401, 401, 401, 429][self.rng.random_range(0..4)],
                        EndpointKind::Purchase => [402, 400, 422, 409][self.rng.random_range(0..4)],
                        _ => [400, 401, 403, 404, 422, 429][self.rng.random_range(0..6)],
                    };
                    (Some(code), None)
                } else {
                    (Some(ep.ok_status), None)
                }
            }
        };
        let success = status.is_some_and(|s| s < 400);

        let api = SimEvent::Api(ApiCall {
            id: 0,
            at: self.time(done),
            endpoint: ep.path.to_string(),
            method: ep.method.to_string(),
            status_code: status,
            response_ms: Some(((done - t) / 1000) as i32),
            user_id: user.map(|u| u as i32),
            error,
        });
        self.emit_later(done, api);

        if !success {
            return;
        }
        match ep.kind {
            EndpointKind::Guidance => {
                let credits = [1.0, 1.0, 1.0, 3.0, 5.0][self.rng.random_range(0..5)];
                self.business(done, "credits_used", credits, "credits");
                if let Some(s) = slot
                    && let Some(st) = self.sessions[s as usize].as_mut()
                {
                    st.session.credits_used += credits as i32;
                }
            }
            EndpointKind::Avatar => self.business(done, "credits_used", 10.0, "credits"),
            EndpointKind::Purchase => {
                let price = CREDIT_PACKS_USD[self.rng.random_range(0..CREDIT_PACKS_USD.len())];
                self.business(done, "revenue", price, "USD");
                if let Some(u) = user {
                    let first = !self.purchased[u as usize];
                    self.purchased[u as usize] = true;
                    if first {
                        // Any user's first purchase (the business KPI).
                        self.business(done, "conversions", 1.0, "count");
                        // The funnel's last step: the first purchase of a user
                        // who signed up in this run and has had a first
                        // session, the same users the funnel's earlier
                        // steps count ("conversions" also counts the
                        // initial users, who never write a first session).
                        if u > INITIAL_USERS && self.had_session[u as usize] {
                            self.business(done, "first_purchases", 1.0, "count");
                        }
                    }
                }
            }
            EndpointKind::Signup => {
                self.users += 1;
                self.purchased.push(false);
                self.had_session.push(false);
                self.business(done, "signups", 1.0, "count");
            }
            EndpointKind::SessionStart => {
                // The session exists (and can be picked) only once the request completed.
                if let Some(u) = user {
                    self.schedule(done, Item::SessionStart(u));
                }
            }
            EndpointKind::Login
            | EndpointKind::Profile
            | EndpointKind::Balance
            | EndpointKind::History
            | EndpointKind::Health => {}
        }
    }

    fn guidance_context(&mut self) -> serde_json::Value {
        let q = QUESTIONS[self.rng.random_range(0..QUESTIONS.len())];
        let place = PLACES[self.rng.random_range(0..PLACES.len())];
        let (y, m, d) = (
            self.rng.random_range(1955..2006),
            self.rng.random_range(1..13),
            self.rng.random_range(1..29),
        );
        let (h, min) = (self.rng.random_range(0..24), self.rng.random_range(0..60));
        json!({
            "question": q,
            "birth_details": {
                "date": format!("{y:04}-{m:02}-{d:02}"),
                "time": format!("{h:02}:{min:02}"),
                "place": place,
            },
            "language": if self.rng.random::<f64>() < 0.3 { "ta" } else { "en" },
        })
    }

    // -- sessions -----------------------------------------------------------

    fn start_session(&mut self, at: i64, user: u32) {
        self.session_serial += 1;
        let serial = self.session_serial;
        let x = self.rng.random::<f64>();
        let mut acc = 0.0;
        let mut spec = &SERVICES[0];
        for s in &SERVICES {
            acc += s.weight;
            if x < acc {
                spec = s;
                break;
            }
        }
        let service = spec.name;
        let quick = self.chance(spec.quick);
        let life_s = if quick {
            self.rng.random_range(1.0..9.0)
        } else {
            self.session_life.sample(&mut self.rng).clamp(30.0, 1800.0)
        };
        if let Some(had) = self.had_session.get_mut(user as usize)
            && !*had
        {
            *had = true;
            self.business(at, "first_sessions", 1.0, "count");
        }
        let end_us = at + (life_s * 1e6) as i64;
        let ts = self.time(at);
        let session = Session {
            session_id: format!("sim-{:x}-{:07}", self.tag, serial),
            user_id: Some(user as i64),
            service: service.to_string(),
            status: "active".to_string(),
            started_at: ts,
            last_activity_at: ts,
            ended_at: None,
            credits_used: 0,
        };
        let device = ["ios", "android", "web"][self.rng.random_range(0..3)];
        self.emit_later(at, SimEvent::Session(session.clone()));
        self.context(
            at,
            &session,
            "session_start",
            json!({ "service": service, "device": device, "app_version": "2.4.1" }),
        );
        // Some clients log credentials into the context: masking must catch them.
        if self.chance(0.1) {
            let n: u64 = self.rng.random();
            self.context(
                at + SEC,
                &session,
                "integration_request",
                json!({
                    "provider": "openai",
                    "api_key": format!("sk-sim-{n:016x}"),
                    "headers": { "token": format!("eyJhbGciOiJIUzI1NiJ9.sim.{n:x}") },
                }),
            );
        }
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.sessions[s as usize] = Some(SessionState {
                    serial,
                    session,
                    end_us,
                    quick,
                });
                s
            }
            None => {
                self.sessions.push(Some(SessionState {
                    serial,
                    session,
                    end_us,
                    quick,
                }));
                (self.sessions.len() - 1) as u32
            }
        };
        self.active.push(slot);
        let next = at + self.rng.random_range(20 * SEC..60 * SEC);
        if next < end_us {
            self.schedule(next, Item::SessionActivity { slot, serial });
        }
        self.schedule(end_us, Item::SessionEnd { slot, serial });
    }

    /// How a session of `service` ending at `t` ends: by the service's
    /// profile, worse while an integration it needs has an incident.
    fn session_outcome(&mut self, service: &str, t: i64, quick: bool) -> &'static str {
        let x = self.rng.random::<f64>();
        if quick {
            return "abandoned";
        }
        let spec = SERVICES
            .iter()
            .find(|s| s.name == service)
            .unwrap_or(&SERVICES[0]);
        let hit = self
            .incidents
            .iter()
            .filter(|i| spec.depends.contains(&i.integration) && i.start_us <= t && t < i.end_us)
            .map(|i| i.fail_rate)
            .fold(0.0, f64::max);
        let failed = spec.failed + hit * 0.5;
        let abandoned = spec.abandoned + hit * 0.3;
        if x < failed {
            "failed"
        } else if x < failed + abandoned {
            "abandoned"
        } else {
            "completed"
        }
    }

    fn session_mut(&mut self, slot: u32, serial: u64) -> Option<&mut SessionState> {
        self.sessions
            .get_mut(slot as usize)
            .and_then(|s| s.as_mut())
            .filter(|s| s.serial == serial)
    }

    // -- incidents ----------------------------------------------------------

    /// Plan a random incident starting at `start_us`.
    fn plan_incident(&mut self, start_us: i64) {
        let total: f64 = INTEGRATIONS.iter().map(|i| i.incident_weight).sum();
        let x = self.rng.random::<f64>() * total;
        let mut acc = 0.0;
        let mut idx = 0;
        for (k, i) in INTEGRATIONS.iter().enumerate() {
            acc += i.incident_weight;
            if x < acc {
                idx = k;
                break;
            }
        }
        let kind = if self.chance(0.4) {
            IncidentKind::Down
        } else {
            IncidentKind::Degraded
        };
        let fail_rate = match kind {
            IncidentKind::Down => self.rng.random_range(0.9..1.0),
            IncidentKind::Degraded => self.rng.random_range(0.2..0.3),
        };
        let end_us = start_us + self.rng.random_range(2 * MIN..6 * MIN);
        let alert_at = start_us + self.rng.random_range(20 * SEC..60 * SEC);
        self.add_incident(idx, kind, start_us, end_us, fail_rate, false, alert_at);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_incident(
        &mut self,
        idx: usize,
        kind: IncidentKind,
        start_us: i64,
        end_us: i64,
        fail_rate: f64,
        forced: bool,
        alert_at: i64,
    ) {
        self.incident_serial += 1;
        let serial = self.incident_serial;
        self.remember(Injected {
            target: INTEGRATIONS[idx].name.to_string(),
            on_endpoint: false,
            kind,
            started: self.time(start_us),
            ends: self.time(end_us),
            forced,
        });
        self.incidents.push(IncidentState {
            serial,
            public: Incident {
                integration: INTEGRATIONS[idx].name.to_string(),
                kind,
                started: self.time(start_us),
                ends: self.time(end_us),
            },
            integration: idx,
            start_us,
            end_us,
            fail_rate,
            forced,
            calls: 0,
            failures: 0,
        });
        self.schedule(alert_at, Item::IncidentAlert(serial));
        self.schedule(end_us.max(self.now_us + 1), Item::IncidentEnd(serial));
    }

    fn incident_alert(&mut self, t: i64, serial: u64) -> Option<AlertRow> {
        let x = self.incidents.iter().find(|x| x.serial == serial)?;
        let spec = &INTEGRATIONS[x.integration];
        let observed = x.calls >= 5;
        let rate = if observed {
            x.failures as f64 / x.calls as f64
        } else {
            x.fail_rate
        };
        let rate = (rate * 100.0).round() / 100.0;
        let secs = ((t - x.start_us).max(0) / SEC) as u64;
        let (alert_type, severity, title, what) = match x.public.kind {
            IncidentKind::Down => (
                "integration_down",
                "critical",
                format!("{} integration down", spec.display),
                "503 Service Unavailable / ConnectTimeout after 30000 ms",
            ),
            IncidentKind::Degraded => (
                "integration_degraded",
                if rate >= 0.25 { "high" } else { "warning" },
                format!("{} integration degraded", spec.display),
                "elevated errors and latency about 3x normal",
            ),
        };
        let description = format!(
            "{} calls failing: {:.0}% of {} calls in the last {} s ({}).",
            spec.display,
            rate * 100.0,
            x.calls,
            secs,
            what
        );
        let context = json!({
            "integration": spec.name,
            "status": x.public.kind.as_str(),
            "error_rate": rate,
            "calls": x.calls,
            "failures": x.failures,
            "since": x.public.started.to_rfc3339(),
            "affected_endpoints": affected_endpoints(x.integration),
        });
        Some(AlertRow {
            id: 0,
            alert_type: Some(alert_type.to_string()),
            severity_raw: Some(severity.to_string()),
            title: Some(title),
            description: Some(description),
            context: Some(context),
            acknowledged: false,
            acknowledged_by: None,
            acknowledged_at: None,
            created_at: self.time(t),
        })
    }

    // -- timers -------------------------------------------------------------

    fn handle(&mut self, t: i64, item: Item, out: &mut Vec<SimEvent>) {
        match item {
            Item::Emit(e) => self.emit(*e, out),
            Item::SessionStart(user) => self.start_session(t, user),
            Item::SessionActivity { slot, serial } => {
                let ts = self.time(t);
                let gap = self.rng.random_range(20 * SEC..60 * SEC);
                let Some(st) = self.session_mut(slot, serial) else {
                    return;
                };
                st.session.last_activity_at = ts;
                let e = SimEvent::Session(st.session.clone());
                let end_us = st.end_us;
                self.emit(e, out);
                if t + gap < end_us {
                    self.schedule(t + gap, Item::SessionActivity { slot, serial });
                }
            }
            Item::SessionEnd { slot, serial } => {
                let ts = self.time(t);
                let Some(st) = self.session_mut(slot, serial) else {
                    return;
                };
                let (service, quick) = (st.session.service.clone(), st.quick);
                let status = self.session_outcome(&service, t, quick);
                let Some(st) = self.session_mut(slot, serial) else {
                    return;
                };
                st.session.status = status.to_string();
                st.session.last_activity_at = ts;
                st.session.ended_at = Some(ts);
                let session = st.session.clone();
                self.sessions[slot as usize] = None;
                self.free_slots.push(slot);
                if let Some(p) = self.active.iter().position(|&s| s == slot) {
                    self.active.swap_remove(p);
                }
                let duration_s = (ts - session.started_at).num_seconds();
                let ctx = ContextEvent {
                    session_id: session.session_id.clone(),
                    user_id: session.user_id,
                    context_type: "session_end".to_string(),
                    data: json!({
                        "status": status,
                        "credits_used": session.credits_used,
                        "duration_s": duration_s,
                    }),
                    at: ts,
                };
                self.emit(SimEvent::Session(session), out);
                self.emit(SimEvent::Context(ctx), out);
            }
            Item::Health(i) => {
                let state = self
                    .incidents
                    .iter()
                    .find(|x| x.integration == i && x.start_us <= t && t < x.end_us)
                    .map(|x| x.public.kind);
                let name = INTEGRATIONS[i].name;
                let (status, message) = match state {
                    None => ("healthy", "OK".to_string()),
                    Some(IncidentKind::Degraded) => (
                        "degraded",
                        format!("{name}: elevated error rate and latency"),
                    ),
                    Some(IncidentKind::Down) => (
                        "down",
                        format!("{name}: 503 Service Unavailable / ConnectTimeout after 30000 ms"),
                    ),
                };
                let e = SimEvent::Health(HealthReport {
                    integration: name.to_string(),
                    status: status.to_string(),
                    message: Some(message),
                    checked_at: self.time(t),
                });
                self.emit(e, out);
                let next = t + 30 * SEC + self.rng.random_range(-2 * SEC..2 * SEC);
                self.schedule(next, Item::Health(i));
            }
            Item::IncidentAlert(serial) => {
                if let Some(a) = self.incident_alert(t, serial) {
                    self.emit(SimEvent::Alert(a), out);
                }
            }
            Item::IncidentEnd(serial) => {
                let Some(p) = self.incidents.iter().position(|x| x.serial == serial) else {
                    return;
                };
                let x = self.incidents.remove(p);
                let spec = &INTEGRATIONS[x.integration];
                let minutes = (x.end_us - x.start_us) as f64 / MIN as f64;
                let alert = AlertRow {
                    id: 0,
                    alert_type: Some("integration_recovered".to_string()),
                    severity_raw: Some("info".to_string()),
                    title: Some(format!("{} integration recovered", spec.display)),
                    description: Some(format!(
                        "{} is healthy again after {:.1} minutes {} ({} of {} calls failed).",
                        spec.display,
                        minutes,
                        x.public.kind.as_str(),
                        x.failures,
                        x.calls
                    )),
                    context: Some(json!({
                        "integration": spec.name,
                        "status": "healthy",
                        "calls": x.calls,
                        "failures": x.failures,
                        "duration_s": ((x.end_us - x.start_us) / SEC),
                    })),
                    acknowledged: false,
                    acknowledged_by: None,
                    acknowledged_at: None,
                    created_at: self.time(t),
                };
                self.emit(SimEvent::Alert(alert), out);
                if !x.forced && self.cfg.incidents {
                    let next = t + self.rng.random_range(10 * MIN..20 * MIN);
                    self.plan_incident(next);
                }
            }
        }
    }
}

fn affected_endpoints(integration: usize) -> Vec<&'static str> {
    let mut v = Vec::new();
    if GUIDANCE_CHAIN.iter().any(|&(i, _)| i == integration) || integration == ELEVENLABS {
        v.push("POST /api/spiritual/guidance");
    }
    if AVATAR_CHAIN.iter().any(|&(i, _)| i == integration) {
        v.push("POST /api/avatar/generate");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn cfg(seed: u64, rate: f64, incidents: bool) -> SimConfig {
        SimConfig {
            seed,
            rate,
            incidents,
        }
    }

    #[test]
    fn same_seed_same_events() {
        let run = |step_ms: i64| {
            let mut g = Generator::new(cfg(7, 40.0, true), t0());
            let mut all = Vec::new();
            let mut t = t0();
            for _ in 0..(30 * 60 * 1000 / step_ms) {
                t += TimeDelta::milliseconds(step_ms);
                all.extend(g.advance_to(t));
            }
            all
        };
        let a = run(200);
        let b = run(200);
        assert!(a.len() > 50_000);
        assert_eq!(a, b);
        // Event times depend only on the seed, not on how time is sliced.
        assert_eq!(a, run(6_000));
        // Time order and ids increasing.
        assert!(a.windows(2).all(|w| w[0].at() <= w[1].at()));
        let ids: Vec<i64> = a
            .iter()
            .filter_map(|e| {
                if let SimEvent::Api(x) = e {
                    Some(x.id)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>());
        // A different seed differs.
        let mut g = Generator::new(cfg(8, 40.0, true), t0());
        assert_ne!(g.advance_to(t0() + TimeDelta::minutes(30)), a);
    }

    #[test]
    fn all_kinds_produced_within_window() {
        let mut g = Generator::new(cfg(1, 20.0, true), t0());
        let start = t0();
        let end = start + TimeDelta::minutes(20);
        let ev = g.advance_to(end);
        assert!(ev.iter().all(|e| e.at() > start && e.at() <= end));
        for (name, pred) in [
            (
                "api",
                (|e: &SimEvent| matches!(e, SimEvent::Api(_))) as fn(&SimEvent) -> bool,
            ),
            ("integration", |e| matches!(e, SimEvent::Integration(_))),
            ("session", |e| matches!(e, SimEvent::Session(_))),
            ("alert", |e| matches!(e, SimEvent::Alert(_))),
            ("business", |e| matches!(e, SimEvent::Business(_))),
            ("context", |e| matches!(e, SimEvent::Context(_))),
            ("health", |e| matches!(e, SimEvent::Health(_))),
        ] {
            assert!(ev.iter().any(pred), "no {name} events");
        }
        let mut started = std::collections::HashSet::new();
        for e in &ev {
            match e {
                SimEvent::Session(s) => {
                    started.insert(s.session_id.clone());
                }
                SimEvent::Context(c) => {
                    assert!(started.contains(&c.session_id), "{c:?} before its session")
                }
                SimEvent::Integration(IntegrationCall {
                    session_id: Some(id),
                    ..
                }) => {
                    assert!(started.contains(id))
                }
                _ => {}
            }
        }
        let sessions_ended = ev
            .iter()
            .filter(|e| matches!(e, SimEvent::Session(s) if s.ended_at.is_some()))
            .count();
        assert!(sessions_ended > 0);
        let secret = ev
            .iter()
            .any(|e| matches!(e, SimEvent::Context(c) if c.data.get("api_key").is_some()));
        assert!(
            secret,
            "some context should carry an api_key for masking tests"
        );
    }

    #[test]
    fn rate_is_roughly_honoured() {
        let mut g = Generator::new(cfg(42, 50.0, false), t0());
        let ev = g.advance_to(t0() + TimeDelta::seconds(60));
        let n = ev.iter().filter(|e| matches!(e, SimEvent::Api(_))).count() as f64;
        assert!(
            (2400.0..=3600.0).contains(&n),
            "{n} api calls in 60 s at rate 50"
        );
        let errors = ev
            .iter()
            .filter(|e| matches!(e, SimEvent::Api(a) if a.is_error()))
            .count() as f64;
        assert!(
            errors / n < 0.05,
            "baseline error rate too high: {errors}/{n}"
        );
    }

    #[test]
    fn forced_incident_makes_calls_fail() {
        let mut g = Generator::new(cfg(3, 50.0, false), t0());
        let from = t0() + TimeDelta::seconds(10);
        let until = t0() + TimeDelta::minutes(4);
        assert!(g.force_incident("openai", IncidentKind::Down, from, until));
        assert!(!g.force_incident("nope", IncidentKind::Down, from, until));
        let mut ev = g.advance_to(t0() + TimeDelta::minutes(2));
        let inc = g.incident().expect("incident in progress").clone();
        assert_eq!(inc.integration, "openai");
        assert_eq!(inc.kind, IncidentKind::Down);
        ev.extend(g.advance_to(t0() + TimeDelta::minutes(5)));
        assert!(g.incident().is_none());

        let openai: Vec<&IntegrationCall> = ev
            .iter()
            .filter_map(|e| match e {
                SimEvent::Integration(c)
                    if c.integration == "openai"
                        && c.at > from + TimeDelta::seconds(31)
                        && c.at < until =>
                {
                    Some(c)
                }
                _ => None,
            })
            .collect();
        assert!(openai.len() > 50);
        let failed = openai.iter().filter(|c| !c.success).count() as f64;
        assert!(
            failed / openai.len() as f64 > 0.8,
            "{failed} of {}",
            openai.len()
        );
        // Other integrations stay healthy.
        let others = ev
            .iter()
            .filter(|e| matches!(e, SimEvent::Integration(c) if c.integration == "prokerala"))
            .count();
        let others_failed = ev
            .iter()
            .filter(|e| matches!(e, SimEvent::Integration(c) if c.integration == "prokerala" && !c.success))
            .count();
        assert!((others_failed as f64) < 0.05 * others as f64);
        // Critical alert, then recovery.
        let alerts: Vec<&AlertRow> = ev
            .iter()
            .filter_map(|e| {
                if let SimEvent::Alert(a) = e {
                    Some(a)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].severity_raw.as_deref(), Some("critical"));
        assert_eq!(alerts[0].title.as_deref(), Some("OpenAI integration down"));
        assert!(
            alerts[0].context.as_ref().unwrap()["error_rate"]
                .as_f64()
                .unwrap()
                > 0.8
        );
        assert_eq!(alerts[1].severity_raw.as_deref(), Some("info"));
        // Health reported down during, healthy after.
        let health = |e: &&SimEvent, st: &str| matches!(e, SimEvent::Health(h) if h.integration == "openai" && h.status == st);
        assert!(ev.iter().any(|e| health(&e, "down")));
        assert!(ev.iter().any(|e| health(&e, "healthy") && e.at() > until));
        // Guidance requests failed with 5xx / timeouts during the incident.
        let guidance_err = ev
            .iter()
            .filter(|e| matches!(e, SimEvent::Api(a) if a.endpoint == "/api/spiritual/guidance" && a.is_error() && a.at > from + TimeDelta::seconds(40) && a.at < until))
            .count();
        assert!(guidance_err > 30);
    }
}
