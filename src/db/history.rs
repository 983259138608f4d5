//! The rest of a long window, loaded after the first screen when no rollups
//! serve it: the poller's load reads only the most recent slice and hands
//! back a [`HistoryJob`] for the older part. The job runs as its own task,
//! on two connections of the pool (which holds enough for a poll beside
//! it), so live polling never waits for it; it
//! reads the window backwards in slices (each a streamed server-side
//! aggregate, summed into the window's slots) and sends each as an ordinary
//! batch through the source's channel. Rows are those the load's snapshot
//! saw (ids up to its high-water mark, outside its gaps), so the live tail
//! and the job never count a row twice. Each slice also brings what the
//! drill-downs show row by row ([`super::recent`]: integration tails, recent
//! failing and slow calls) while what is held so far could still change by
//! it. A window change aborts the job.
//!
//! The first screen also reads sessions and feature usage only from its
//! slice on, and today's business totals only from there (when today began
//! earlier): each older slice brings its usage minutes and its part of
//! today, its sessions started go to the poller ([`OlderStarts`], which
//! sends the whole series each poll), and the part of today older than the
//! window comes last. So the first screen reads one slice of every table,
//! whatever the window or the hour of the day.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{StreamExt, TryStreamExt};
use sqlx::PgPool;
use tokio::sync::mpsc;

use std::collections::BTreeMap;

use super::load::{
    RawRows, STARTUP_GAP_SCAN, Slice, api_minutes, business_minutes, integration_minutes,
};
use super::recent::{ERRORS, api_recent, integration_recent};
use super::today::older_today;
use super::usage::read_usage_until;
use crate::duration::format_duration;
use crate::model::IntegrationTail;
use crate::model::{Batch, Minute, Today, Update, minute_of, minute_start, slot_of};

/// The first screen shows this much of the window (the newest part): a
/// quarter of an hour, so that it comes in well under a second and a half
/// even at a hundred calls a second (an hour of `hist_24h`, 417,000 API
/// calls and 335,000 integration calls, took most of that budget).
pub const FIRST_SLICE: TimeDelta = TimeDelta::minutes(15);
/// Older slices double in length up to this.
const MAX_SLICE: TimeDelta = TimeDelta::hours(6);
/// Statement timeout for one slice.
const SLICE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections a slice reads its parts on at once: the tables' aggregates
/// are each one process's work (hash aggregates, see `load::hashed`), so two
/// use both cores of a small box. The live poll keeps the rest of the pool.
const SLICE_CONNECTIONS: usize = 2;
/// Attempts per slice before the job gives up (the header then says so).
const ATTEMPTS: u32 = 3;

/// `load` up to [`ATTEMPTS`] times, waiting 1 s, 2 s, … between tries;
/// `None` once the last one has failed (each failure logged, `what` naming it).
async fn retrying<T, Fut>(what: &str, load: impl Fn() -> Fut) -> Option<T>
where
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    for attempt in 1..=ATTEMPTS {
        match load().await {
            Ok(b) => return Some(b),
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, "loading {} failed; retrying", what);
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
            Err(e) => tracing::warn!(error = %e, "loading {} failed; giving up", what),
        }
    }
    None
}

/// What one connection reads of a slice: a tailed table, or the rest (sessions, usage, today's part).
#[derive(Debug, Clone, Copy)]
enum Part {
    /// The job's `tables[i]`.
    Table(usize),
    Rest,
}

/// Which tailed table a job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryTable {
    Api,
    Integrations,
    Business,
}

/// How far back a window's history has been loaded; shared between the job
/// (which advances it) and the poller (which reports it in the header).
#[derive(Debug)]
pub struct Progress {
    window_start: DateTime<Utc>,
    window: Duration,
    /// Unix seconds of the oldest instant loaded so far.
    loaded_from: AtomicI64,
    /// Whether the part of today older than the window is still to come.
    today_pending: AtomicBool,
    failed: AtomicBool,
}

impl Progress {
    /// A load of the window of `window` starting at `window_start`, whose
    /// first screen holds what is newer than `until`.
    pub fn new(window_start: DateTime<Utc>, window: Duration, until: DateTime<Utc>) -> Self {
        Progress {
            window_start,
            window,
            loaded_from: AtomicI64::new(until.timestamp()),
            today_pending: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        }
    }

    /// Today's totals lack a part older than the window until
    /// its job sends it.
    pub(super) fn expect_today(&self) {
        self.today_pending.store(true, Ordering::Relaxed);
    }

    fn today_done(&self) {
        self.today_pending.store(false, Ordering::Relaxed);
    }

    /// Whether the whole window is loaded (and today's totals complete).
    pub fn done(&self) -> bool {
        self.loaded_from.load(Ordering::Relaxed) <= self.window_start.timestamp()
            && !self.today_pending.load(Ordering::Relaxed)
    }

    /// `raw rows 6h of 24h…` while loading; `raw rows, partial: 6h of 24h
    /// (loading older history failed)` when the job gave up; `raw rows`
    /// when complete. Durations are rounded to the hour from an hour on.
    pub fn label(&self, now: DateTime<Utc>) -> String {
        if self.done() {
            return "raw rows".into();
        }
        let loaded = (now.timestamp() - self.loaded_from.load(Ordering::Relaxed)).max(0) as u64;
        let unit = if loaded >= 3600 { 3600 } else { 60 };
        let loaded = Duration::from_secs((loaded + unit / 2) / unit * unit).min(self.window);
        let (loaded, window) = (format_duration(loaded), format_duration(self.window));
        if self.failed.load(Ordering::Relaxed) {
            format!("raw rows, partial: {loaded} of {window} (loading older history failed)")
        } else {
            format!("raw rows {loaded} of {window}…")
        }
    }
}

/// The older part of a window, to be loaded after the first screen.
#[derive(Debug)]
pub struct HistoryJob {
    pub(super) pool: PgPool,
    /// Load from here (the window start) ...
    pub(super) window_start: DateTime<Utc>,
    /// ... up to here (where the first screen started).
    pub(super) until: DateTime<Utc>,
    /// The database clock of the load.
    pub(super) now: DateTime<Utc>,
    /// Minutes per slot of the window.
    pub(super) step: i64,
    /// Per table: the load's high-water mark and gaps (`lo`, `hi` arrays).
    pub(super) tables: Vec<(HistoryTable, i64, Vec<i64>, Vec<i64>)>,
    pub(super) progress: Arc<Progress>,
    /// A pause after each slice (see [`super::poller::Poller::set_history_pace`]).
    pub(super) pace: Duration,
    /// What the rows read so far hold of the drill-downs' rows.
    pub(super) seen: Seen,
    /// Sessions and usage of the older slices, when the sessions table exists.
    pub(super) sessions: Option<OlderSessions>,
    /// The part of today the first screen did not count, if any.
    pub(super) today: Option<OlderToday>,
}

/// Sessions started per minute of the older slices, for the poller to merge
/// into the series it sends (a new one per load: a stopped job's minutes
/// never reach the next load's series).
pub type OlderStarts = Arc<Mutex<Vec<(Minute, u64)>>>;

/// What a job reads of the sessions table per slice.
#[derive(Debug)]
pub struct OlderSessions {
    /// Where their sessions started per minute go.
    pub(super) starts: OlderStarts,
    /// The sessions the load saw active: the poller counts their ends.
    pub(super) followed: Vec<i64>,
}

/// The part of today before the first screen's slice: the business rows of
/// `[today.day_start, until)` the load's snapshot saw.
#[derive(Debug)]
pub struct OlderToday {
    /// The day (its totals empty).
    pub(super) today: Today,
    pub(super) hwm: i64,
    pub(super) gaps: (Vec<i64>, Vec<i64>),
}

/// The row-by-row parts delivered so far: whether an older slice could
/// still add to them.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    tails: BTreeMap<String, IntegrationTail>,
    integration_errors: usize,
    api_errors: usize,
}

impl Seen {
    /// What a batch (the first screen) delivered.
    pub fn of(b: &Batch) -> Seen {
        Seen {
            tails: b.integration_tails.iter().cloned().collect(),
            integration_errors: b.integration_errors.len(),
            api_errors: b.api_errors.len(),
        }
    }

    /// Add an older slice's batch, keeping of its failing calls only the
    /// newest that still fit the [`ERRORS`] a complete load shows.
    fn add(&mut self, b: &mut Batch) {
        for (name, t) in &b.integration_tails {
            self.tails.entry(name.clone()).or_default().after(t);
        }
        keep_newest(&mut b.integration_errors, ERRORS - self.integration_errors);
        keep_newest(&mut b.api_errors, ERRORS - self.api_errors);
        self.integration_errors += b.integration_errors.len();
        self.api_errors += b.api_errors.len();
    }

    /// Whether integration rows of an older slice could change what is held:
    /// an integration in it without a full tail yet, or room for errors.
    fn wants_integrations(&self, b: &Batch) -> bool {
        self.integration_errors < ERRORS
            || b.integrations
                .iter()
                .any(|(_, name, _)| self.tails.get(name).is_none_or(|t| t.wants_older()))
    }

    fn wants_api(&self) -> bool {
        self.api_errors < ERRORS
    }
}

/// Keep the last `n` of `v` (oldest first).
fn keep_newest<T>(v: &mut Vec<T>, n: usize) {
    let extra = v.len().saturating_sub(n);
    v.drain(..extra);
}

impl HistoryJob {
    /// Load the slices, newest first, sending each as a batch; returns when
    /// the window is complete, the channel closed, or the job gave up.
    pub async fn run(mut self, updates: mpsc::Sender<Update>) {
        let mut span = FIRST_SLICE;
        let mut hi = self.until;
        let today_before_window = self.today_before_window();
        while hi > self.window_start {
            let lo = minute_start(slot_of(minute_of(hi - span), self.step)).max(self.window_start);
            let batch = retrying("older history", || self.slice(lo, hi)).await;
            let Some(mut batch) = batch else {
                self.progress.failed.store(true, Ordering::Relaxed);
                return;
            };
            self.seen.add(&mut batch);
            if updates.send(Update::Batch(Box::new(batch))).await.is_err() {
                return;
            }
            self.progress
                .loaded_from
                .store(lo.timestamp(), Ordering::Relaxed);
            hi = lo;
            span = (span * 2).min(MAX_SLICE);
            if !self.pace.is_zero() && hi > self.window_start {
                tokio::time::sleep(self.pace).await;
            }
        }
        if today_before_window {
            // Today began before the window: the rest of it, last.
            let batch = retrying("today's totals", || self.today_only(self.window_start)).await;
            let Some(batch) = batch else {
                self.progress.failed.store(true, Ordering::Relaxed);
                return;
            };
            if updates.send(Update::Batch(Box::new(batch))).await.is_err() {
                return;
            }
            self.progress.today_done();
        }
    }

    /// Whether today began before the window (its older part then comes
    /// after the window's slices).
    pub(super) fn today_before_window(&self) -> bool {
        self.today
            .as_ref()
            .is_some_and(|t| t.today.day_start < self.window_start)
    }

    /// Whether today reaches into `[lo, hi)`.
    fn today_reaches(&self, lo: DateTime<Utc>, hi: DateTime<Utc>) -> bool {
        self.today
            .as_ref()
            .is_some_and(|t| lo.max(t.today.day_start) < hi)
    }

    /// Today's totals over `[max(lo, day start), hi)` (the load's snapshot's
    /// rows), if today reaches into that span.
    async fn today_part(
        &self,
        conn: &mut sqlx::PgConnection,
        lo: DateTime<Utc>,
        hi: DateTime<Utc>,
    ) -> Result<Option<Today>, sqlx::Error> {
        let Some(t) = self.today.as_ref().filter(|_| self.today_reaches(lo, hi)) else {
            return Ok(None);
        };
        let from = lo.max(t.today.day_start);
        let totals = older_today(conn, (from, hi), t.hwm, t.gaps.clone()).await?;
        Ok(Some(Today {
            totals,
            ..t.today.clone()
        }))
    }

    /// The part of today before `hi` (the window start), as a batch.
    async fn today_only(&self, hi: DateTime<Utc>) -> Result<Batch, sqlx::Error> {
        let mut tx = self.begin().await?;
        let today_older = self
            .today_part(&mut tx, DateTime::<Utc>::MIN_UTC, hi)
            .await?;
        tx.commit().await?;
        Ok(Batch {
            now: self.now,
            past: true,
            today_older,
            ..Default::default()
        })
    }

    /// Whether the newest [`STARTUP_GAP_SCAN`] API call ids below `hwm`
    /// (where recent calls are looked for) reach back before `hi`, judged by
    /// the oldest of them (ids follow time closely): one index probe.
    async fn api_floor_before(
        &self,
        conn: &mut sqlx::PgConnection,
        hwm: i64,
        hi: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT timestamp::timestamptz FROM monitoring_api_calls \
             WHERE id > $1 AND id <= $2 ORDER BY id LIMIT 1",
        )
        .bind(hwm - STARTUP_GAP_SCAN)
        .bind(hwm)
        .fetch_optional(&mut *conn)
        .await?
        .flatten();
        Ok(oldest.is_some_and(|t| t < hi))
    }

    /// A transaction on a connection of the pool, with the slice's statement
    /// timeout.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('statement_timeout', $1, true)")
            .bind(format!("{}ms", SLICE_STATEMENT_TIMEOUT.as_millis()))
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// The rows of `[lo, hi)` the load's snapshot saw, as one batch: each
    /// tailed table, and the sessions with today's part, read on its own
    /// connection, [`SLICE_CONNECTIONS`] at a time (rows are those of the
    /// load's high-water marks and gaps, not of a snapshot, so the parts need
    /// no common one). Each part fills its own fields of the batch.
    async fn slice(&self, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Result<Batch, sqlx::Error> {
        let rest = self.sessions.is_some() || self.today_reaches(lo, hi);
        let parts: Vec<_> = (0..self.tables.len())
            .map(Part::Table)
            .chain(rest.then_some(Part::Rest))
            .map(|p| self.part(p, lo, hi))
            .collect();
        let mut reads = futures_util::stream::iter(parts).buffer_unordered(SLICE_CONNECTIONS);
        let mut b = Batch {
            now: self.now,
            past: true,
            ..Default::default()
        };
        let mut starts = BTreeMap::new();
        while let Some((p, s)) = reads.try_next().await? {
            b.api.extend(p.api);
            b.api_errors.extend(p.api_errors);
            b.api_slow.extend(p.api_slow);
            b.integrations.extend(p.integrations);
            b.integration_tails.extend(p.integration_tails);
            b.integration_errors.extend(p.integration_errors);
            b.business.extend(p.business);
            b.usage = b.usage.or(p.usage);
            b.today_older = b.today_older.or(p.today_older);
            starts.extend(s);
        }
        drop(reads);
        if let Some(s) = &self.sessions {
            // Once the slice is read (a retried slice must not add twice).
            s.starts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(starts);
        }
        Ok(b)
    }

    /// One part of a slice, in its own transaction: the batch fields it
    /// fills, and (the rest) the sessions started per slot.
    async fn part(
        &self,
        part: Part,
        lo: DateTime<Utc>,
        hi: DateTime<Utc>,
    ) -> Result<(Batch, BTreeMap<Minute, u64>), sqlx::Error> {
        let mut tx = self.begin().await?;
        let mut b = Batch::default();
        let mut starts: BTreeMap<Minute, u64> = BTreeMap::new();
        let at = (lo, self.step);
        match part {
            Part::Table(i) => {
                let (table, hwm, gap_lo, gap_hi) = &self.tables[i];
                let slice = Slice {
                    until: hi,
                    gap_lo: gap_lo.clone(),
                    gap_hi: gap_hi.clone(),
                };
                match table {
                    HistoryTable::Api => {
                        b.api =
                            api_minutes(&mut tx, at, *hwm, RawRows::Slice(slice.clone())).await?;
                        // Recent calls come from the newest ids only (as at the
                        // first screen): a slice older than those has none.
                        if self.seen.wants_api() && self.api_floor_before(&mut tx, *hwm, hi).await?
                        {
                            api_recent(&mut tx, &mut b, lo, *hwm, Some(&slice)).await?;
                        }
                    }
                    HistoryTable::Integrations => {
                        b.integrations =
                            integration_minutes(&mut tx, at, *hwm, RawRows::Slice(slice.clone()))
                                .await?;
                        if self.seen.wants_integrations(&b) {
                            integration_recent(&mut tx, &mut b, lo, *hwm, Some(&slice)).await?;
                        }
                    }
                    HistoryTable::Business => {
                        b.business =
                            business_minutes(&mut tx, at, *hwm, RawRows::Slice(slice)).await?;
                    }
                }
            }
            Part::Rest => {
                if let Some(s) = &self.sessions {
                    let usage = read_usage_until(&mut tx, lo, Some(hi), &s.followed).await?;
                    usage.add_starts(self.step, &mut starts);
                    b.usage = Some(usage);
                }
                b.today_older = self.today_part(&mut tx, lo, hi).await?;
            }
        }
        tx.commit().await?;
        Ok((b, starts))
    }
}
