//! The incremental PostgreSQL poller. The first poll (and any poll after the
//! window changes or a table appears or disappears) loads the window with
//! server-side aggregates in one consistent snapshot: counts per minute ×
//! endpoint × status × latency bucket, the same buckets [`crate::hist`] uses.
//! Every later poll reads only rows added since (see [`super::tail`]) and turns
//! them into the same per-minute buckets, so its cost depends on the insert
//! rate, not on the table size or the window length. Small tables (sessions,
//! alerts, health reports) are read whole each poll, bounded by `LIMIT`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
// All dynamic SQL here is assembled from constants (table and column names),
// never from input: hence `AssertSqlSafe`.
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use super::aside::{Aside, Read, Snapshot};
use super::history::{
    FIRST_SLICE, HistoryJob, HistoryTable, OlderSessions, OlderStarts, OlderToday, Progress, Seen,
};
use super::load::{RawRows, api_minutes, integration_minutes, load_business, load_tail};
use super::recent::{api_recent, integration_recent};
use super::reconnect;
use super::rows::{
    API_COLS, BUSINESS_COLS, HasId, INTEGRATION_COLS, api_call, business_obs, integration_call,
    to_rows,
};
use super::small_tables::{STARTS_EVERY, SessionStarts, small_tables, small_tables_parallel};
use super::tail::{Probe, Tail};
use super::today::{TodayFrom, load_today_from, next_today};
use crate::aggregate;
use crate::model::tables::{
    self, ALERTS, API_CALLS, BUSINESS_METRICS, INTEGRATION_HEALTH, INTEGRATION_METRICS, SESSIONS,
};
use crate::model::*;
use crate::rollup::read::{ApiMinutes, MinuteHistory, PgRollups, Uncounted};

/// Rows read per query; a poll loops (bounded) while a backlog remains.
const PAGE: i64 = 20_000;
/// Pages read per table per poll before yielding the batch.
const MAX_PAGES: usize = 10;
/// Retries of a poll that failed on a connection the server had dropped.
const STALE_RETRIES: usize = 3;

/// Statement timeout inside the start-up load.
const LOAD_STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Polls between checks for tables appearing or disappearing.
pub const TABLE_CHECK_EVERY: u32 = 10;

#[derive(Debug, Clone)]
pub struct PollSettings {
    pub window: Duration,
    pub idle_timeout: Duration,
}

/// Reads the monitoring tables; one per source.
pub struct Poller {
    pool: PgPool,
    settings: PollSettings,
    api: Tail,
    integrations: Tail,
    business: Tail,
    /// Tables missing at the last poll; `None` until the first load.
    missing: Option<Vec<String>>,
    needs_reset: bool,
    /// Sessions started per minute over the window.
    session_starts: BTreeMap<Minute, u64>,
    /// Sessions started per minute of the older part of the window, from
    /// the last load's history job (merged into `session_starts` each poll).
    older_starts: OlderStarts,
    /// Sessions seen active, followed for ends written late.
    open_sessions: super::usage::OpenSessions,
    polls_since_check: u32,
    /// The database clock when sessions started per minute were last read.
    starts_read: Option<DateTime<Utc>>,
    /// How often incremental polls re-read sessions started per minute.
    starts_every: chrono::TimeDelta,
    /// Whether a load may take past minutes from jfmon's rollups.
    use_rollups: bool,
    /// Where the last load took the window's history from.
    history: Option<&'static str>,
    /// See [`Poller::set_probe_every_gap`].
    probe_every_gap: bool,
    /// See [`Poller::set_progressive`].
    progressive: bool,
    /// The job the last load left for the older part of the window.
    job: Option<HistoryJob>,
    /// How far that job got.
    progress: Option<Arc<Progress>>,
    /// See [`Poller::set_history_pace`].
    history_pace: Duration,
    /// See [`Poller::set_business_timezone`].
    business_zone: String,
    /// When the business day of the last `Today` sent ends.
    today_end: Option<DateTime<Utc>>,
    /// Where the last load took today's totals from.
    today_from: Option<TodayFrom>,
}

impl Poller {
    pub fn new(pool: PgPool, settings: PollSettings) -> Self {
        Poller {
            pool,
            settings,
            api: Tail::default(),
            integrations: Tail::default(),
            business: Tail::default(),
            missing: None,
            needs_reset: true,
            session_starts: BTreeMap::new(),
            older_starts: Default::default(),
            open_sessions: Default::default(),
            polls_since_check: 0,
            starts_read: None,
            starts_every: STARTS_EVERY,
            use_rollups: true,
            history: None,
            probe_every_gap: false,
            progressive: false,
            job: None,
            progress: None,
            history_pace: Duration::ZERO,
            business_zone: "UTC".into(),
            today_end: None,
            today_from: None,
        }
    }

    /// The time zone whose midnight starts "today" in the business strip
    /// (a PostgreSQL zone name; default UTC). The next load uses it.
    pub fn set_business_timezone(&mut self, zone: impl Into<String>) {
        self.business_zone = zone.into();
        self.needs_reset = true;
    }

    /// Where the last load took today's business totals from; `None` before
    /// the first load or without the business table.
    pub fn today_from(&self) -> Option<TodayFrom> {
        self.today_from
    }

    /// Whether loads may read jfmon's rollups (default yes, when they exist
    /// and are current); `false` reads every raw row of the window.
    pub fn set_use_rollups(&mut self, on: bool) {
        self.use_rollups = on;
        self.needs_reset = true;
    }

    /// Where the last load took the window's API history from ("rollups" or
    /// "raw rows"); `None` before the first load.
    pub fn history(&self) -> Option<&'static str> {
        self.history
    }

    /// What the header and `snapshot --json` say about the history loaded:
    /// [`Poller::history`], with the progress of a history job while the
    /// older part of the window loads ("raw rows 6h of 24h…").
    pub fn history_label(&self, now: DateTime<Utc>) -> Option<String> {
        match &self.progress {
            Some(p) => Some(p.label(now)),
            None => self.history.map(str::to_owned),
        }
    }

    /// Load long windows progressively (default off: one complete load):
    /// a load that has no rollups for part of the window reads the newest
    /// [`FIRST_SLICE`] and leaves the rest to a [`HistoryJob`], taken with
    /// [`Poller::take_history_job`] and run as a task of its own.
    pub fn set_progressive(&mut self, on: bool) {
        self.progressive = on;
    }

    /// Pause this long between a history job's slices (default none), so
    /// that loading a long window spreads its reads on the database.
    pub fn set_history_pace(&mut self, pace: Duration) {
        self.history_pace = pace;
    }

    /// The job loading the older part of the window after the last load, if
    /// it left one (at most once per load).
    pub fn take_history_job(&mut self) -> Option<HistoryJob> {
        self.job.take()
    }

    /// Whether the next poll reloads the window (a history job of the
    /// current one must then be stopped first).
    pub fn reload_pending(&self) -> bool {
        self.needs_reset
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn window(&self) -> Duration {
        self.settings.window
    }

    /// Change the window; the next poll reloads it.
    pub fn set_window(&mut self, window: Duration) {
        self.settings.window = window;
        self.needs_reset = true;
    }

    /// How often incremental polls re-read sessions started per minute
    /// (default 10 s: a per-minute series needs no refresh every poll).
    pub fn set_session_starts_refresh(&mut self, every: Duration) {
        self.starts_every = chrono::TimeDelta::from_std(every).unwrap_or(STARTS_EVERY);
    }

    /// Reload everything at the next poll.
    pub fn reset(&mut self) {
        self.needs_reset = true;
    }

    /// Gap ids and wide gaps probed by the last poll, per tailed table (api,
    /// integrations, business): the work gaps cost a poll.
    pub fn gaps_probed(&self) -> [(usize, usize); 3] {
        [
            self.api.last_probe(),
            self.integrations.last_probe(),
            self.business.last_probe(),
        ]
    }

    /// Probe every gap at every poll instead of by age (the naive way, kept
    /// to compare the two in the `gaps` benchmark).
    pub fn set_probe_every_gap(&mut self, on: bool) {
        self.probe_every_gap = on;
    }

    /// Remembered gap ranges per tailed table (api, integrations, business).
    pub fn gap_counts(&self) -> [usize; 3] {
        [
            self.api.gap_count(),
            self.integrations.gap_count(),
            self.business.gap_count(),
        ]
    }

    fn has(&self, table: &str) -> bool {
        self.missing
            .as_ref()
            .is_some_and(|m| !m.iter().any(|t| t == table))
    }

    fn window_secs(&self) -> u64 {
        self.settings.window.as_secs().max(60)
    }

    /// Start of the first minute of the window ending at `now`.
    fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        minute_start(window_first_minute(now, self.window_secs()))
    }

    /// One poll: a full load when needed, otherwise only what is new. When
    /// it fails on a connection the pool had (the server restarted or killed
    /// it), the pool's idle connections are dropped and the poll is made
    /// again on new ones, up to [`STALE_RETRIES`] times (see
    /// [`super::reconnect`]).
    pub async fn poll(&mut self) -> Result<Batch, sqlx::Error> {
        // A poll reads on several pooled connections at once: after the
        // server dropped them all, a connection still busy when the first
        // failure cleared the idle ones can fail the retry too. A few
        // retries, each on fresher connections, ride that out; a server that
        // is really down fails them at once (connect refused is not stale).
        let mut result = self.poll_once().await;
        for _ in 0..STALE_RETRIES {
            let Err(e) = &result else { break };
            if !reconnect::recover(&self.pool, e).await {
                break;
            }
            result = self.poll_once().await;
        }
        if let Err(e) = &result {
            reconnect::recover(&self.pool, e).await;
        }
        result
    }

    async fn poll_once(&mut self) -> Result<Batch, sqlx::Error> {
        // Which tables exist is checked at a load, every few polls, and
        // after any error (a dropped table makes a query fail).
        self.polls_since_check += 1;
        let check = self.needs_reset || self.polls_since_check >= TABLE_CHECK_EVERY;
        let (now, missing): (DateTime<Utc>, Option<Vec<String>>) = sqlx::query_as(
            "SELECT now(), CASE WHEN $2 THEN coalesce(array(SELECT t FROM unnest($1::text[]) AS t \
                    WHERE to_regclass(quote_ident(t)) IS NULL ORDER BY t), '{}') END",
        )
        .bind(tables::TABLES.as_slice())
        .bind(check)
        .fetch_one(&self.pool)
        .await?;
        if let Some(missing) = missing {
            self.polls_since_check = 0;
            if self.missing.as_ref() != Some(&missing) {
                self.missing = Some(missing);
                self.needs_reset = true;
            }
        }
        if self.needs_reset {
            let batch = self.load().await;
            if let Ok(b) = &batch {
                self.needs_reset = false;
                self.starts_read = Some(b.now);
            } else {
                self.polls_since_check = TABLE_CHECK_EVERY;
            }
            return batch;
        }
        self.take_older_starts(now);
        // On error, restore the position: the rows of a failed poll are read
        // again by the next one, never skipped.
        for tail in [&mut self.api, &mut self.integrations, &mut self.business] {
            tail.set_probe_every_poll(self.probe_every_gap);
        }
        let saved = (
            self.api.clone(),
            self.integrations.clone(),
            self.business.clone(),
        );
        let batch = self.incremental(now).await;
        if batch.is_err() {
            (self.api, self.integrations, self.business) = saved;
            self.polls_since_check = TABLE_CHECK_EVERY;
        }
        batch
    }

    /// The full load, in one REPEATABLE READ snapshot so that the aggregates,
    /// the high-water marks and the gaps agree with each other.
    async fn load(&mut self) -> Result<Batch, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        // The load aggregates the whole window once; it may take longer than
        // a poll's statement timeout (seconds for a 24 h window on 10 M rows).
        // It waits, idle in its transaction, for the reads beside it: a
        // server's idle_in_transaction_session_timeout must not end it then.
        sqlx::query(
            "SELECT set_config('statement_timeout', $1, true), \
                    set_config('idle_in_transaction_session_timeout', '0', true)",
        )
        .bind(format!("{}ms", LOAD_STATEMENT_TIMEOUT.as_millis()))
        .execute(&mut *tx)
        .await?;
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        // The API and integration minutes are read beside the rest, in this
        // snapshot (see `aside`).
        let snapshot = Snapshot::export(&self.pool, &mut tx, LOAD_STATEMENT_TIMEOUT).await?;
        let start = self.window_start(now);
        let step = slot_minutes(self.window_secs());
        let mut b = Batch {
            reset: true,
            now,
            window_secs: self.window_secs(),
            tables_missing: self.missing.clone(),
            ..Default::default()
        };
        // Past minutes from the rollups when they serve the window (then only
        // the raw rows they have not counted are read), else from raw rows:
        // all of them, or (progressive) the newest slice now and the rest by
        // a history job afterwards.
        let history = PgRollups;
        let use_history = self.use_rollups;
        let recent = if self.progressive {
            minute_start(slot_of(minute_of(now - FIRST_SLICE), step)).max(start)
        } else {
            start
        };
        let mut from_history = false;
        let mut later = Vec::new();
        let (mut api_minutes_aside, mut integration_minutes_aside) = (None, None);
        let mut integration_tails = None;
        // A new series for this load's job (a stopped job's go nowhere).
        self.older_starts = Default::default();
        // The rollups are read beside the load from the start (the API's
        // in two halves, each on a connection of its own), while the load
        // reads the tails of the raw tables.
        let api_history = match use_history && self.has(API_CALLS) {
            true => {
                let s = snapshot.clone();
                let read: Read<_> = Box::new(move |c| {
                    Box::pin(async move { api_from_history(&s, c, (start, now), step).await })
                });
                Some(Aside::start(Some(&snapshot), &mut tx, read).await?)
            }
            false => None,
        };
        let integration_history = match use_history && self.has(INTEGRATION_METRICS) {
            true => {
                let read: Read<_> =
                    Box::new(move |c| Box::pin(PgRollups.integrations(c, start, step)));
                Some(Aside::start(Some(&snapshot), &mut tx, read).await?)
            }
            false => None,
        };
        // The integration and business tails (an index scan of their newest
        // ids each) beside the load too, while it reads the API calls.
        let other_tails = {
            let (int, biz) = (self.has(INTEGRATION_METRICS), self.has(BUSINESS_METRICS));
            let read: Read<_> = Box::new(move |c| {
                Box::pin(async move {
                    let i = match int {
                        true => Some(load_tail(c, INTEGRATION_METRICS, now).await?),
                        false => None,
                    };
                    let b = match biz {
                        true => Some(load_tail(c, BUSINESS_METRICS, now).await?),
                        false => None,
                    };
                    Ok((i, b))
                })
            });
            Aside::start(Some(&snapshot), &mut tx, read).await?
        };
        if self.has(API_CALLS) {
            self.api = load_tail(&mut tx, API_CALLS, now).await?;
            let raw = match api_history {
                Some(read) => read.get().await?,
                None => None,
            };
            from_history |= raw.is_some();
            let from = raw.as_ref().map_or(recent, |_| start);
            if from > start {
                let (lo, hi) = self.api.gap_arrays();
                later.push((HistoryTable::Api, self.api.hwm, lo, hi));
            }
            let raw = raw.map_or(RawRows::Window, |(m, u)| RawRows::Uncounted(m, u));
            let hwm = self.api.hwm;
            let read: Read<_> = Box::new(move |c| Box::pin(api_minutes(c, (from, step), hwm, raw)));
            api_minutes_aside = Some(Aside::start(Some(&snapshot), &mut tx, read).await?);
            api_recent(&mut tx, &mut b, from, hwm, None).await?;
        }
        // The window comes from raw rows, newest slice first: so do sessions,
        // usage and today's business totals.
        let progressive_raw = self.progressive && !from_history;
        let mut older_today = None;
        let (integration_tail, business_tail) = other_tails.get().await?;
        if let Some(tail) = integration_tail {
            self.integrations = tail;
            let raw = match integration_history {
                Some(read) => read.get().await?,
                None => None,
            };
            let from = raw.as_ref().map_or(recent, |_| start);
            if from > start {
                let (lo, hi) = self.integrations.gap_arrays();
                later.push((HistoryTable::Integrations, self.integrations.hwm, lo, hi));
            }
            let raw = raw.map_or(RawRows::Window, |(m, u)| RawRows::Uncounted(m, u));
            let hwm = self.integrations.hwm;
            let read: Read<_> =
                Box::new(move |c| Box::pin(integration_minutes(c, (from, step), hwm, raw)));
            integration_minutes_aside = Some(Aside::start(Some(&snapshot), &mut tx, read).await?);
            integration_tails = Some((from, hwm));
        }
        if let Some(tail) = business_tail {
            self.business = tail;
            let raw = if use_history {
                history.business(&mut tx, start, step).await?
            } else {
                None
            };
            let from = raw.as_ref().map_or(recent, |_| start);
            if from > start {
                let (lo, hi) = self.business.gap_arrays();
                later.push((HistoryTable::Business, self.business.hwm, lo, hi));
            }
            let raw = raw.map_or(RawRows::Window, |(m, u)| RawRows::Uncounted(m, u));
            load_business(&mut tx, &mut b, (from, step), self.business.hwm, raw).await?;
            let zone = &self.business_zone;
            let h = use_history.then_some(&history);
            // Progressive from raw rows: today from the first slice on, the
            // rest by the history job.
            let raw_from = if progressive_raw {
                recent
            } else {
                DateTime::<Utc>::MIN_UTC
            };
            let hwm = self.business.hwm;
            let (today, today_from) =
                load_today_from(&mut tx, h, zone, (now, raw_from), hwm).await?;
            if today_from == TodayFrom::RawRows && raw_from > today.day_start {
                older_today = Some(OlderToday {
                    today: Today {
                        totals: Default::default(),
                        ..today.clone()
                    },
                    hwm,
                    gaps: self.business.gap_arrays(),
                });
            }
            self.today_end = today.day_end;
            self.today_from = Some(today_from);
            b.today = Some(today);
        } else {
            self.today_end = None;
            self.today_from = None;
        }
        self.history = Some(if from_history {
            history.name()
        } else {
            "raw rows"
        });
        self.job = None;
        self.progress = None;
        let has = self.has_small();
        // Sessions and usage from the first slice on too (the job reads the
        // older slices'), when progressive from raw rows.
        let sessions_from = if progressive_raw { recent } else { start };
        small_tables(
            &mut tx,
            &mut b,
            (start, step),
            has,
            self.settings.idle_timeout,
            SessionStarts::Load(&mut self.session_starts, sessions_from),
            &mut self.open_sessions,
            use_history,
        )
        .await?;
        if let Some(a) = api_minutes_aside {
            b.api = a.get().await?;
        }
        if let Some(a) = integration_minutes_aside {
            b.integrations = a.get().await?;
        }
        // The tails read from the newest slots their minutes show (see
        // `recent::tails_from`): once those are in.
        if let Some((from, hwm)) = integration_tails {
            integration_recent(&mut tx, &mut b, from, hwm, None).await?;
        }
        tx.commit().await?;
        let older_sessions = (has[0] && sessions_from > start).then(|| OlderSessions {
            starts: self.older_starts.clone(),
            followed: self.open_sessions.ids(),
        });
        if !later.is_empty() || older_sessions.is_some() || older_today.is_some() {
            let progress = Arc::new(Progress::new(start, self.settings.window, recent));
            self.progress = Some(progress.clone());
            let job = HistoryJob {
                pool: self.pool.clone(),
                window_start: start,
                until: recent,
                now,
                step,
                tables: later,
                progress,
                pace: self.history_pace,
                seen: Seen::of(&b),
                sessions: older_sessions,
                today: older_today,
            };
            if job.today_before_window() {
                job.progress.expect_today();
            }
            self.job = Some(job);
        }
        Ok(b)
    }

    /// Rows added since the last poll, each table on its own connection, in
    /// parallel: the poll takes as long as its slowest read, not their sum.
    async fn incremental(&mut self, now: DateTime<Utc>) -> Result<Batch, sqlx::Error> {
        let start = self.window_start(now);
        let window_secs = self.window_secs();
        let starts_read = self.starts_read.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let refresh_starts = now - starts_read >= self.starts_every;
        let has_small = self.has_small();
        let idle = self.settings.idle_timeout;
        let (has_api, has_int, has_biz) = (
            self.has(API_CALLS),
            self.has(INTEGRATION_METRICS),
            self.has(BUSINESS_METRICS),
        );
        let pool = self.pool.clone();
        let mut small = Batch::default();
        let (api, integrations, business, ()) = tokio::try_join!(
            async {
                if !has_api {
                    return Ok(Vec::new());
                }
                let mut c = pool.acquire().await?;
                read_new(&mut c, &mut self.api, API_CALLS, API_COLS, now, api_call).await
            },
            async {
                if !has_int {
                    return Ok(Vec::new());
                }
                let mut c = pool.acquire().await?;
                read_new(
                    &mut c,
                    &mut self.integrations,
                    INTEGRATION_METRICS,
                    INTEGRATION_COLS,
                    now,
                    integration_call,
                )
                .await
            },
            async {
                if !has_biz {
                    return Ok(Vec::new());
                }
                let mut c = pool.acquire().await?;
                read_new(
                    &mut c,
                    &mut self.business,
                    BUSINESS_METRICS,
                    BUSINESS_COLS,
                    now,
                    business_obs,
                )
                .await
            },
            async {
                small.now = now;
                small_tables_parallel(
                    &pool,
                    &mut small,
                    (start, slot_minutes(window_secs)),
                    has_small,
                    idle,
                    if refresh_starts {
                        SessionStarts::Since(&mut self.session_starts, starts_read)
                    } else {
                        SessionStarts::Keep(&self.session_starts)
                    },
                    &mut self.open_sessions,
                )
                .await
            },
        )?;
        if refresh_starts {
            self.starts_read = Some(now);
        }

        let mut b = Batch {
            now,
            window_secs: self.window_secs(),
            sessions: small.sessions,
            alerts: small.alerts,
            health_reports: small.health_reports,
            usage: small.usage,
            usage_history: small.usage_history,
            ..Default::default()
        };
        aggregate::add_api_calls(&mut b, &api);
        aggregate::add_integration_calls(&mut b, &integrations);
        aggregate::add_business(&mut b, &business);
        if has_biz && self.today_end.is_some_and(|end| now >= end) {
            // A new business day: its totals so far (this batch's rows
            // included), and its end.
            let mut c = self.pool.acquire().await?;
            let gaps = self.business.gap_arrays();
            let t = next_today(&mut c, &self.business_zone, now, self.business.hwm, gaps).await?;
            self.today_end = t.day_end;
            b.today = Some(t);
        }
        for tail in [&mut self.api, &mut self.integrations, &mut self.business] {
            tail.expire(start);
        }
        Ok(b)
    }

    /// Merge the sessions started per minute the last load's history job
    /// read since the last poll (slots of the window only).
    fn take_older_starts(&mut self, now: DateTime<Utc>) {
        let older =
            std::mem::take(&mut *self.older_starts.lock().unwrap_or_else(|e| e.into_inner()));
        let first = minute_of(self.window_start(now));
        for (m, n) in older {
            if m >= first {
                *self.session_starts.entry(m).or_default() += n;
            }
        }
    }

    /// Which of the small tables exist: sessions, alerts, health.
    fn has_small(&self) -> [bool; 3] {
        [
            self.has(SESSIONS),
            self.has(ALERTS),
            self.has(INTEGRATION_HEALTH),
        ]
    }
}

/// Rows added since the last poll: above the high-water mark, and inside gaps.
async fn read_new<T: HasId>(
    conn: &mut PgConnection,
    tail: &mut Tail,
    table: &str,
    cols: &str,
    now: DateTime<Utc>,
    f: fn(&PgRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, sqlx::Error> {
    let mut out = Vec::new();
    // Narrow gaps as an explicit id list (`= ANY` is estimated exactly and
    // probes the primary key); wide ones (a sequence jump) range by range.
    // Only the gaps due (see `Tail::probe`).
    let Probe { ids, ranges } = tail.probe(now);
    if !ids.is_empty() {
        let sql =
            format!("SELECT {cols} FROM {table} AS t WHERE t.id = ANY($1::int8[]) ORDER BY t.id");
        let rows = to_rows(
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(ids)
                .fetch_all(&mut *conn)
                .await?,
            f,
        )?;
        out.extend(rows);
    }
    let sql = format!(
        "SELECT {cols} FROM {table} AS t WHERE t.id BETWEEN $1 AND $2 ORDER BY t.id LIMIT {PAGE}"
    );
    for (lo, hi) in ranges {
        let rows = to_rows(
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(lo)
                .bind(hi)
                .fetch_all(&mut *conn)
                .await?,
            f,
        )?;
        out.extend(rows);
    }
    if !out.is_empty() {
        let found: Vec<i64> = out.iter().map(HasId::id).collect();
        tail.fill(&found);
    }
    let sql = forward_sql(table, cols);
    for _ in 0..MAX_PAGES {
        let rows = to_rows(
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(tail.hwm)
                .bind(PAGE)
                .fetch_all(&mut *conn)
                .await?,
            f,
        )?;
        let n = rows.len() as i64;
        let ids: Vec<i64> = rows.iter().map(HasId::id).collect();
        tail.advance(&ids, now);
        out.extend(rows);
        if n < PAGE {
            break;
        }
    }
    Ok(out)
}

/// The forward page read: the rows after the high-water mark, in id order.
/// Ordered by the column itself (`t.id`): ordered by an `int8` cast of it,
/// which no index serves, PostgreSQL read and sorted every row above the
/// mark for each page (a catch-up's cost grew with the square of its
/// backlog) instead of walking the primary key and stopping at the limit.
fn forward_sql(table: &str, cols: &str) -> String {
    format!("SELECT {cols} FROM {table} AS t WHERE t.id > $1 ORDER BY t.id LIMIT $2")
}

/// The forward page read of the API calls, as the poller runs it (for the
/// plan test).
#[doc(hidden)]
pub fn api_forward_sql() -> String {
    forward_sql(API_CALLS, API_COLS)
}

/// The window's API minutes from the rollups (itself read beside the load),
/// its older half read beside it (see `aside`) while it reads the newer: a
/// week of minutes is 1.4 M rollup rows of 20-odd histogram pairs each, and
/// one connection serialises, sends and decodes them one after the other.
async fn api_from_history(
    snapshot: &Snapshot,
    tx: &mut PgConnection,
    (start, now): (DateTime<Utc>, DateTime<Utc>),
    step: i64,
) -> Result<Option<(ApiMinutes, Uncounted)>, sqlx::Error> {
    let mid = minute_start(slot_of(minute_of(start + (now - start) / 2), step));
    if mid <= start {
        return PgRollups.api(tx, (start, None), step).await;
    }
    let read: Read<_> = Box::new(move |c| Box::pin(PgRollups.api(c, (start, Some(mid)), step)));
    let older = Aside::start(Some(snapshot), tx, read).await?;
    let newer = PgRollups.api(tx, (mid, None), step).await?;
    Ok(match (older.get().await?, newer) {
        (Some((mut minutes, _)), Some((newer, uncounted))) => {
            minutes.extend(newer);
            Some((minutes, uncounted))
        }
        _ => None,
    })
}
