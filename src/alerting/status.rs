//! What the hub tells about its alerting (`/monitoring/api/alerts`,
//! `/metrics`): its role (leading, standing by, read-only), the rule alerts
//! as it judged them on the last poll, and each receiver's counters. Written
//! by the alerting after each step, read by the hub's handlers.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::run::Role;
use crate::notify::{LaneReport, Outbox};

#[derive(Default)]
struct Inner {
    role: Option<Role>,
    alerts: Vec<serde_json::Value>,
}

/// Shared between the alerting task and the hub.
#[derive(Default)]
pub struct Status {
    inner: Mutex<Inner>,
    outbox: Option<Arc<Outbox>>,
}

/// The status as served in JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// leading | standing by | read-only (`None` before the first poll).
    pub role: Option<&'static str>,
    /// The rule alerts as judged on the last poll (pending, firing,
    /// resolved recently).
    pub alerts: Vec<serde_json::Value>,
    pub notify: Vec<LaneReport>,
    /// Notifications dropped, all receivers together.
    pub notify_dropped: u64,
}

impl Status {
    pub fn new(outbox: Option<Arc<Outbox>>) -> Self {
        Status {
            inner: Mutex::default(),
            outbox,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a step's outcome.
    pub fn set(&self, role: Role, alerts: Vec<serde_json::Value>) {
        let mut g = self.lock();
        g.role = Some(role);
        g.alerts = alerts;
    }

    pub fn role(&self) -> Option<Role> {
        self.lock().role
    }

    /// The rule alerts by `phase` (pending, firing, resolved).
    pub fn counts(&self) -> std::collections::BTreeMap<String, u64> {
        let mut m = std::collections::BTreeMap::new();
        for a in &self.lock().alerts {
            if let Some(p) = a.get("phase").and_then(|p| p.as_str()) {
                *m.entry(p.to_owned()).or_default() += 1;
            }
        }
        m
    }

    /// Every receiver's counters.
    pub fn notify(&self) -> Vec<LaneReport> {
        self.outbox.as_ref().map(|o| o.report()).unwrap_or_default()
    }

    pub fn report(&self) -> Report {
        let g = self.lock();
        let notify = self.notify();
        Report {
            role: g.role.map(Role::word),
            alerts: g.alerts.clone(),
            notify_dropped: notify.iter().map(|l| l.dropped).sum(),
            notify,
        }
    }
}
