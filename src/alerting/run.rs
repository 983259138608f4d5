//! One evaluation per poll in `jfmon serve`: take (or keep) the lease,
//! judge the state the hub already holds, write each change to the table
//! and queue its notification. A change is notified only when its row was
//! actually written (a fingerprint already open, or already resolved, was
//! handled by an earlier run), so a restart neither repeats a firing nor
//! misses a resolution. Without the lease (another hub leads) or read-only,
//! the rules are still judged, for display, but nothing is written or sent.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::alert::Change;
use super::lease::Lease;
use super::table::{self, OpenAlert};
use crate::notify::Outbox;

/// What judges the state: the rule engine, seen from here.
pub trait Judge: Send {
    /// The changes since the last call, judging the state as of `now`.
    fn judge(&mut self, state: &crate::store::State, now: DateTime<Utc>) -> Vec<Change>;
    /// Resume from the alerts the table holds open (on taking the lease):
    /// they count as firing, so they are not fired again and are resolved
    /// when their condition clears.
    fn restore(&mut self, open: &[OpenAlert], now: DateTime<Utc>);
}

/// Whether this hub writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `--read-only`: judges for display, never writes nor notifies.
    ReadOnly,
    /// Holds the lease: writes and notifies.
    Leading,
    /// Another hub holds the lease.
    StandingBy,
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Role::ReadOnly => "read-only",
            Role::Leading => "leading",
            Role::StandingBy => "standing by",
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Rows inserted (fired).
    pub fired: usize,
    /// Rows resolved.
    pub resolved: usize,
    /// Changes already in the table (not written, not notified again).
    pub already: usize,
}

/// The alerting of one hub.
pub struct Alerting<J> {
    judge: J,
    /// `None`: read-only.
    lease: Option<Lease>,
    outbox: Option<Arc<Outbox>>,
    role: Option<Role>,
}

impl<J: Judge> Alerting<J> {
    /// `pool` `None`: read-only (no lease, no writes, no notifications).
    pub fn new(judge: J, pool: Option<PgPool>, outbox: Option<Arc<Outbox>>) -> Self {
        Alerting {
            judge,
            lease: pool.map(Lease::new),
            outbox,
            role: None,
        }
    }

    pub fn judge(&self) -> &J {
        &self.judge
    }

    /// The role as of the last step (`None` before the first).
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn outbox(&self) -> Option<&Arc<Outbox>> {
        self.outbox.as_ref()
    }

    /// One poll: `judge_now` runs the judge on the current state (under the
    /// hub's lock, so it must not wait) and returns its changes.
    pub async fn step(
        &mut self,
        now: DateTime<Utc>,
        judge_now: impl FnOnce(&mut J) -> Vec<Change>,
    ) -> StepReport {
        let role = self.take_lease(now).await;
        if self.role != Some(role) {
            tracing::info!(role = role.word(), "alerting");
            self.role = Some(role);
        }
        let changes = judge_now(&mut self.judge);
        let mut report = StepReport::default();
        if role != Role::Leading {
            return report;
        }
        for c in changes {
            match self.write(&c).await {
                Ok(true) => {
                    match c {
                        Change::Fired(_) => report.fired += 1,
                        Change::Resolved { .. } => report.resolved += 1,
                    }
                    if let Some(o) = &self.outbox {
                        o.push(&c);
                    }
                }
                Ok(false) => report.already += 1,
                Err(e) => {
                    // The connection (and with it the lease) is given up;
                    // the next step takes the lease again and resumes from
                    // the table, where the judge finds this change again.
                    tracing::warn!(error = %e, "writing an alert failed; resuming from the table");
                    if let Some(l) = &mut self.lease {
                        l.release();
                    }
                    break;
                }
            }
        }
        report
    }

    /// Keep or take the lease; on taking it, resume from the table.
    async fn take_lease(&mut self, now: DateTime<Utc>) -> Role {
        let Some(lease) = &mut self.lease else {
            return Role::ReadOnly;
        };
        if lease.held() && lease.confirm().await {
            return Role::Leading;
        }
        match lease.try_take().await {
            Ok(true) => {}
            Ok(false) => return Role::StandingBy,
            Err(e) => {
                tracing::debug!(error = %e, "cannot take the alerting lease");
                return Role::StandingBy;
            }
        }
        let conn = lease.conn().expect("held");
        match table::open(conn).await {
            Ok(open) => {
                tracing::info!(open = open.len(), "alerting resumes from monitoring_alerts");
                self.judge.restore(&open, now);
                Role::Leading
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the open alerts; standing by");
                lease.release();
                Role::StandingBy
            }
        }
    }

    /// Write one change through the lease's connection; `false`: the table
    /// already had it.
    async fn write(&mut self, c: &Change) -> Result<bool, sqlx::Error> {
        let conn = self
            .lease
            .as_mut()
            .and_then(|l| l.conn())
            .ok_or(sqlx::Error::PoolClosed)?;
        match c {
            Change::Fired(a) => Ok(table::fire(conn, a).await?.is_some()),
            Change::Resolved { alert, at, value } => {
                table::resolve(conn, &alert.fingerprint, *at, *value).await
            }
        }
    }
}
