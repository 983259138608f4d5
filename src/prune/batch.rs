//! The prune loop of one table: walk its ids upward in batches of
//! `batch_rows` ids, each batch one short transaction with
//! `SET LOCAL lock_timeout` (a platform writer waiting on a row lock of the
//! batch waits at most that long; a batch that hits the timeout itself is
//! retried), stopping at the first batch with no row older than the cutoff
//! (ids follow insert time).
//!
//! A row goes only if it is older than the cutoff, satisfies the table's
//! extra condition ([`Table::also`]) and, for a rolled-up table, the rollup
//! has counted it: id above the rollup's base, at most its high-water mark
//! and in none of its gaps (the position only ever grows past a row, so
//! reading it once is safe). With an archive the batch's rows are selected
//! `FOR UPDATE`, written and synced, then deleted by id, and the batch is
//! rolled back unless the delete removed exactly the rows archived.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool, Row};

use super::archive::{Archive, Column, Entry};
use super::spec::{NEVER_ARCHIVED, Table};
use crate::db::tail::{Tail, outside_gaps};

/// How long a batch waits for a row lock (and so the longest a writer
/// waits behind a batch's own locks, give or take the batch's run time).
pub const LOCK_TIMEOUT: &str = "2s";
/// Attempts of a batch that keeps hitting the lock timeout.
const ATTEMPTS: u32 = 10;
/// Advisory lock key of `jfmon prune`: one prune at a time.
pub const LEASE_PRUNE: i64 = crate::db::leases::PRUNE;

/// Why a prune stopped.
#[derive(Debug)]
pub enum PruneError {
    Db(sqlx::Error),
    Io(std::io::Error),
    /// The delete did not remove exactly the rows archived.
    Mismatch {
        table: &'static str,
        archived: usize,
        deleted: u64,
    },
}

impl std::fmt::Display for PruneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PruneError::Db(e) => write!(f, "{e}"),
            PruneError::Io(e) => write!(f, "writing the archive failed: {e}"),
            PruneError::Mismatch {
                table,
                archived,
                deleted,
            } => write!(
                f,
                "{table}: archived {archived} rows but the delete matched {deleted}; \
                 the batch was rolled back (run again)"
            ),
        }
    }
}

impl From<sqlx::Error> for PruneError {
    fn from(e: sqlx::Error) -> Self {
        PruneError::Db(e)
    }
}

impl From<std::io::Error> for PruneError {
    fn from(e: std::io::Error) -> Self {
        PruneError::Io(e)
    }
}

/// One committed batch (for progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchDone {
    /// Ids up to here are done.
    pub hi: i64,
    /// Rows deleted (would be, in a dry run).
    pub rows: u64,
}

/// What pruning one table did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSummary {
    pub deleted: u64,
    pub files: u64,
    /// Rows older than the cutoff (and otherwise prunable) still there:
    /// not yet counted by the rollups.
    pub kept: u64,
}

/// Which ids a rollup has counted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counted {
    base: i64,
    hwm: i64,
    gap_lo: Vec<i64>,
    gap_hi: Vec<i64>,
}

impl Counted {
    const ALL: Counted = Counted {
        base: i64::MIN,
        hwm: i64::MAX,
        gap_lo: Vec::new(),
        gap_hi: Vec::new(),
    };
}

/// The condition a row must meet: older than `$1` and the rest; `$2`–`$5`
/// are [`Counted`]'s fields.
fn prunable(t: Table) -> String {
    format!(
        "{col} < $1 AND {also} AND id > $2 AND id <= $3 AND {outside}",
        col = t.instant(),
        also = t.also(),
        outside = outside_gaps("id", "$4", "$5")
    )
}

/// Prunes the monitoring tables.
pub struct Pruner {
    pool: PgPool,
    cutoff: DateTime<Utc>,
    batch_rows: i64,
    archive: Option<Archive>,
    dry_run: bool,
}

impl Pruner {
    pub fn new(
        pool: PgPool,
        cutoff: DateTime<Utc>,
        batch_rows: i64,
        archive: Option<Archive>,
        dry_run: bool,
    ) -> Self {
        Pruner {
            pool,
            cutoff,
            batch_rows,
            archive,
            dry_run,
        }
    }

    pub fn cutoff(&self) -> DateTime<Utc> {
        self.cutoff
    }

    /// The prunable tables that exist.
    pub async fn existing(&self) -> Result<Vec<Table>, sqlx::Error> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(quote_ident(t)) IS NOT NULL",
        )
        .bind(Table::ALL.map(|t| t.name()).as_slice())
        .fetch_all(&self.pool)
        .await?;
        Ok(Table::ALL
            .into_iter()
            .filter(|t| names.iter().any(|n| n == t.name()))
            .collect())
    }

    /// The batches already archived (committed), for [`Archive::reconcile`].
    pub async fn archived(&self) -> Result<Vec<Entry>, sqlx::Error> {
        let rows: Vec<(String, i64, i64, i64, String, String)> = sqlx::query_as(
            "SELECT source, lo, hi, rows, sha256, archive FROM jfmon_prune_batches \
             WHERE archive IS NOT NULL ORDER BY pruned_at, source, lo",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(table, lo, hi, rows, sha256, file)| Entry {
                table,
                lo,
                hi,
                rows,
                sha256,
                file: file.into(),
            })
            .collect())
    }

    /// The ids `t` spans for the progress bar: from just below its lowest id
    /// to (about) its newest row older than the cutoff.
    pub async fn span(&self, t: Table) -> Result<Option<(i64, i64)>, sqlx::Error> {
        let lowest: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT min(id)::int8 FROM {}",
            t.name()
        )))
        .fetch_one(&self.pool)
        .await?;
        let Some(lowest) = lowest else {
            return Ok(None);
        };
        let col = t.instant();
        let end: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id::int8 FROM {} WHERE {col} < $1 ORDER BY {col} DESC LIMIT 1",
            t.name()
        )))
        .bind(self.cutoff)
        .fetch_optional(&self.pool)
        .await?;
        Ok(end.map(|e| (lowest - 1, e.max(lowest))))
    }

    /// What `t`'s rollup has counted (everything for a table without one;
    /// in a dry run, what the run would count first).
    async fn counted(&self, t: Table) -> Result<Counted, sqlx::Error> {
        let Some(r) = t.rollup() else {
            return Ok(Counted::ALL);
        };
        let row: Option<(i64, Json<Tail>)> =
            sqlx::query_as("SELECT base, tail FROM jfmon_rollup_state WHERE source = $1")
                .bind(r.table())
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            // A real run has added the history first: a rollup without a
            // position has counted nothing.
            None if self.dry_run => Counted::ALL,
            None => Counted {
                base: i64::MAX,
                hwm: i64::MIN,
                gap_lo: Vec::new(),
                gap_hi: Vec::new(),
            },
            Some((base, Json(tail))) => {
                let (gap_lo, gap_hi) = tail.gap_arrays();
                Counted {
                    // A real run has backfilled to the first row first.
                    base: if self.dry_run { i64::MIN } else { base },
                    hwm: tail.hwm,
                    gap_lo,
                    gap_hi,
                }
            }
        })
    }

    /// Prune `t` (count, in a dry run), reporting each batch.
    pub async fn table(
        &self,
        t: Table,
        mut progress: impl FnMut(BatchDone),
    ) -> Result<TableSummary, PruneError> {
        let counted = self.counted(t).await?;
        let mut sum = TableSummary::default();
        if self.dry_run {
            let (n, hi): (i64, Option<i64>) = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT count(*), max(id)::int8 FROM {} WHERE {}",
                t.name(),
                prunable(t)
            )))
            .bind(self.cutoff)
            .bind(counted.base)
            .bind(counted.hwm)
            .bind(&counted.gap_lo)
            .bind(&counted.gap_hi)
            .fetch_one(&self.pool)
            .await?;
            sum.deleted = n as u64;
            progress(BatchDone {
                hi: hi.unwrap_or(0),
                rows: n as u64,
            });
        } else {
            let columns = self.columns(t).await?;
            let mut lo: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT min(id)::int8 - 1 FROM {}",
                t.name()
            )))
            .fetch_one(&self.pool)
            .await?;
            while let Some(from) = lo {
                let hi: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT max(id)::int8 FROM (SELECT id FROM {} WHERE id > $1 ORDER BY id LIMIT $2) AS s",
                    t.name()
                )))
                .bind(from)
                .bind(self.batch_rows)
                .fetch_one(&self.pool)
                .await?;
                let Some(hi) = hi else { break };
                let (old, done) = self
                    .batch_with_retry(t, from, hi, &counted, &columns)
                    .await?;
                sum.deleted += done.rows;
                sum.files += u64::from(done.rows > 0 && self.archive.is_some());
                progress(done);
                lo = (old > 0).then_some(hi);
            }
        }
        sum.kept = self.kept(t).await?;
        Ok(sum)
    }

    /// Rows older than the cutoff (and otherwise prunable) that stay: not
    /// yet counted by the rollups (0 in a dry run: reported as would-be
    /// deleted).
    async fn kept(&self, t: Table) -> Result<u64, sqlx::Error> {
        if self.dry_run {
            return Ok(0);
        }
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {} WHERE {} < $1 AND {}",
            t.name(),
            t.instant(),
            t.also()
        )))
        .bind(self.cutoff)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    /// The columns an archive of `t` holds.
    async fn columns(&self, t: Table) -> Result<Vec<Column>, sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT attname::text, format_type(atttypid, NULL) FROM pg_attribute \
             WHERE attrelid = to_regclass(quote_ident($1)) AND attnum > 0 AND NOT attisdropped \
             ORDER BY attnum",
        )
        .bind(t.name())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(name, _)| !NEVER_ARCHIVED.contains(&name.as_str()))
            .map(|(name, ty)| Column {
                json: ty == "json" || ty == "jsonb",
                name,
            })
            .collect())
    }

    async fn batch_with_retry(
        &self,
        t: Table,
        lo: i64,
        hi: i64,
        counted: &Counted,
        columns: &[Column],
    ) -> Result<(i64, BatchDone), PruneError> {
        let mut attempt = 0;
        loop {
            match self.batch(t, lo, hi, counted, columns).await {
                Err(PruneError::Db(e)) if is_lock_timeout(&e) && attempt + 1 < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                other => return other,
            }
        }
    }

    /// One batch: ids `(lo, hi]`. Returns how many rows of the range are
    /// older than the cutoff (prunable or not) and what was deleted.
    async fn batch(
        &self,
        t: Table,
        lo: i64,
        hi: i64,
        counted: &Counted,
        columns: &[Column],
    ) -> Result<(i64, BatchDone), PruneError> {
        let name = t.name();
        let mut tx = self.pool.begin().await?;
        sqlx::query(AssertSqlSafe(format!(
            "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
        )))
        .execute(&mut *tx)
        .await?;
        let old: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {name} WHERE id > $1 AND id <= $2 AND {} < $3",
            t.instant()
        )))
        .bind(lo)
        .bind(hi)
        .bind(self.cutoff)
        .fetch_one(&mut *tx)
        .await?;
        let which = format!("id > $6 AND id <= $7 AND {}", prunable(t));
        let bind = |q: sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>| {
            q.bind(self.cutoff)
                .bind(counted.base)
                .bind(counted.hwm)
                .bind(counted.gap_lo.clone())
                .bind(counted.gap_hi.clone())
                .bind(lo)
                .bind(hi)
        };
        let (deleted, entry) = match &self.archive {
            None => {
                let q = sqlx::query(AssertSqlSafe(format!("DELETE FROM {name} WHERE {which}")));
                (bind(q).execute(&mut *tx).await?.rows_affected(), None)
            }
            Some(archive) => {
                let list: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{}::text", quote_ident(&c.name)))
                    .collect();
                let q = sqlx::query(AssertSqlSafe(format!(
                    "SELECT id::int8, {} FROM {name} WHERE {which} ORDER BY 1 FOR UPDATE",
                    list.join(", ")
                )));
                let rows: Vec<PgRow> = bind(q).fetch_all(&mut *tx).await?;
                let mut ids = Vec::with_capacity(rows.len());
                let mut values = Vec::with_capacity(rows.len());
                for r in &rows {
                    ids.push(r.try_get::<i64, _>(0)?);
                    let mut v = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        v.push(r.try_get::<Option<String>, _>(i + 1)?);
                    }
                    values.push(v);
                }
                if ids.is_empty() {
                    (0, None)
                } else {
                    let entry = archive.write(name, lo, hi, columns, &values)?;
                    let deleted = sqlx::query(AssertSqlSafe(format!(
                        "DELETE FROM {name} WHERE id = ANY($1)"
                    )))
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if deleted != ids.len() as u64 {
                        tx.rollback().await?;
                        return Err(PruneError::Mismatch {
                            table: name,
                            archived: ids.len(),
                            deleted,
                        });
                    }
                    (deleted, Some(entry))
                }
            }
        };
        if deleted > 0 {
            sqlx::query(
                "INSERT INTO jfmon_prune_batches (source, lo, hi, rows, cutoff, archive, sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(name)
            .bind(lo)
            .bind(hi)
            .bind(deleted as i64)
            .bind(self.cutoff)
            .bind(
                entry
                    .as_ref()
                    .map(|e| e.file.to_string_lossy().into_owned()),
            )
            .bind(entry.as_ref().map(|e| e.sha256.clone()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if let (Some(archive), Some(e)) = (&self.archive, &entry) {
            archive.append(e)?;
        }
        Ok((old, BatchDone { hi, rows: deleted }))
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A lock wait that hit `lock_timeout` (or a deadlock): the batch is retried.
fn is_lock_timeout(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("55P03" | "40P01")))
}
