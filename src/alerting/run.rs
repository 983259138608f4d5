//! One evaluation per poll in `jfmon serve`: take (or keep) the lease,
//! judge the state the hub already holds, write each change to the table
//! and queue its notification. A change is notified only when its row was
//! actually written (a fingerprint already open, or already resolved, was
//! handled by an earlier run), so a restart neither repeats a firing nor
//! misses a resolution. Without the lease (another hub leads) or read-only,
//! the rules are still judged, for display, but nothing is written or sent.
//!
//! A write that fails gives the lease up; the change (and those after it
//! in that step) is kept and settled first thing when the lease is taken
//! again, on the next poll, before re-syncing the judge with the table:
//! if the failed attempt did commit (only its reply was lost) its row is
//! found and the change is notified, once; otherwise it is written now. So
//! a firing is written once and notified once, and a resolution is retried
//! at once, not after the rule's `keep_firing_for` again.

use std::collections::VecDeque;
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

/// The most changes kept for settling after failed writes; beyond it the
/// oldest is left to the re-sync with the table (written again if it was a
/// firing, resolved after `keep_firing_for` if a resolution).
pub const MAX_UNSETTLED: usize = 1000;

/// The alerting of one hub.
pub struct Alerting<J> {
    judge: J,
    /// `None`: read-only.
    lease: Option<Lease>,
    outbox: Option<Arc<Outbox>>,
    role: Option<Role>,
    /// Changes whose write failed (or was not tried after one that did),
    /// oldest first: settled when the lease is taken again.
    unsettled: VecDeque<Change>,
}

impl<J: Judge> Alerting<J> {
    /// `pool` `None`: read-only (no lease, no writes, no notifications).
    pub fn new(judge: J, pool: Option<PgPool>, outbox: Option<Arc<Outbox>>) -> Self {
        Alerting {
            judge,
            lease: pool.map(Lease::new),
            outbox,
            role: None,
            unsettled: VecDeque::new(),
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
        let mut report = StepReport::default();
        let role = self.take_lease(now, &mut report).await;
        if self.role != Some(role) {
            tracing::info!(role = role.word(), "alerting");
            self.role = Some(role);
        }
        let changes = judge_now(&mut self.judge);
        if role != Role::Leading {
            return report;
        }
        let mut changes = changes.into_iter();
        while let Some(c) = changes.next() {
            match self.write(&c, false).await {
                Ok(true) => self.notify(&c, &mut report),
                Ok(false) => report.already += 1,
                Err(e) => {
                    // The connection (and with it the lease) is given up;
                    // this change and the rest are settled when the next
                    // step takes the lease again.
                    tracing::warn!(error = %e, "writing an alert failed; retrying on the next poll");
                    if let Some(l) = &mut self.lease {
                        l.release();
                    }
                    self.unsettled.push_back(c);
                    self.unsettled.extend(changes);
                    while self.unsettled.len() > MAX_UNSETTLED {
                        self.unsettled.pop_front();
                    }
                    break;
                }
            }
        }
        report
    }

    /// Count a written change and queue its notification.
    fn notify(&self, c: &Change, report: &mut StepReport) {
        match c {
            Change::Fired(_) => report.fired += 1,
            Change::Resolved { .. } => report.resolved += 1,
        }
        if let Some(o) = &self.outbox {
            o.push(c);
        }
    }

    /// Settle the changes whose write failed, oldest first; an error stops
    /// (the rest wait for the next time the lease is taken).
    async fn settle(&mut self, report: &mut StepReport) -> Result<(), sqlx::Error> {
        while let Some(c) = self.unsettled.front().cloned() {
            match self.write(&c, true).await? {
                true => self.notify(&c, report),
                false => report.already += 1,
            }
            self.unsettled.pop_front();
        }
        Ok(())
    }

    /// Keep or take the lease; on taking it, settle the failed writes and
    /// resume from the table.
    async fn take_lease(&mut self, now: DateTime<Utc>, report: &mut StepReport) -> Role {
        let Some(lease) = &mut self.lease else {
            return Role::ReadOnly;
        };
        if lease.held() && lease.confirm().await {
            return Role::Leading;
        }
        match lease.try_take().await {
            Ok(true) => {}
            Ok(false) => {
                // Another hub leads: it resumed from the table and judges
                // the same data, so the writes that failed here are its
                // business now. Replayed later, they would page about an
                // old incident or close a newer one's row.
                if !self.unsettled.is_empty() {
                    tracing::info!(
                        dropped = self.unsettled.len(),
                        "another hub leads; the alert writes that failed here are left to it"
                    );
                    self.unsettled.clear();
                }
                return Role::StandingBy;
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot take the alerting lease");
                return Role::StandingBy;
            }
        }
        if let Err(e) = self.settle(report).await {
            tracing::warn!(error = %e, "writing an alert failed again; standing by");
            if let Some(l) = &mut self.lease {
                l.release();
            }
            return Role::StandingBy;
        }
        let lease = self.lease.as_mut().expect("taken above");
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
    /// already had it. A `retry` also counts as written a row an earlier
    /// attempt committed for this very change (its reply was lost).
    async fn write(&mut self, c: &Change, retry: bool) -> Result<bool, sqlx::Error> {
        let conn = self
            .lease
            .as_mut()
            .and_then(|l| l.conn())
            .ok_or(sqlx::Error::PoolClosed)?;
        match c {
            Change::Fired(a) => {
                if table::fire(conn, a).await?.is_some() {
                    return Ok(true);
                }
                Ok(retry && table::fired_row(conn, a).await?)
            }
            Change::Resolved { alert, at, value } => {
                if table::resolve(conn, &alert.fingerprint, *at, *value).await? {
                    return Ok(true);
                }
                Ok(retry && table::resolved_row(conn, &alert.fingerprint, *at).await?)
            }
        }
    }
}
