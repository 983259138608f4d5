//! Reads beside the start-up load: the load's big aggregates (the API and
//! integration minutes of the whole window, millions of rows each) run on
//! other connections of the pool, in the load's own snapshot
//! (`pg_export_snapshot` / `SET TRANSACTION SNAPSHOT`), while the load's
//! transaction reads the rest. Each aggregate is one process's work (a hash
//! aggregate), so a complete load of a day of `hist_24h` used one core of
//! two; side by side they finish in about the time of the largest.
//!
//! Without an exported snapshot ([`Aside::start`] given `None`) the read runs
//! in the load's transaction, one after the other. A read dropped unfinished (the load
//! failed) is aborted, but its statement runs on in the server until it
//! ends or hits the load's statement timeout, and its connection counts
//! against the pool until then.

use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinHandle;

/// What a read beside the load runs: an owned closure over a connection.
pub type Read<T> =
    Box<dyn for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send>;

/// The load's snapshot, when it could be exported.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pool: PgPool,
    id: String,
    /// The load's statement timeout, which the reads beside it keep.
    timeout: Duration,
}

impl Snapshot {
    /// Export the snapshot of `tx` (a `REPEATABLE READ` transaction whose
    /// statements run under `timeout`).
    pub async fn export(
        pool: &PgPool,
        tx: &mut PgConnection,
        timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        // Not under a savepoint: PostgreSQL exports no snapshot from a
        // subtransaction. Primaries and (since 10) standbys export.
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        Ok(Snapshot {
            pool: pool.clone(),
            id,
            timeout,
        })
    }
}

/// A read started beside the load; [`Aside::get`] waits for it. Dropped
/// unfinished (the load failed), it is aborted.
pub enum Aside<T> {
    Running(AbortOnDrop<Result<T, sqlx::Error>>),
    Done(T),
}

/// A task aborted when its handle is dropped.
pub struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T: Send + 'static> Aside<T> {
    /// Start `read` on another connection in `snapshot`, or, without one,
    /// run it now on `tx`.
    pub async fn start(
        snapshot: Option<&Snapshot>,
        tx: &mut PgConnection,
        read: Read<T>,
    ) -> Result<Self, sqlx::Error> {
        let Some(s) = snapshot.cloned() else {
            return Ok(Aside::Done(read(tx).await?));
        };
        Ok(Aside::Running(AbortOnDrop(tokio::spawn(async move {
            let mut conn = s.pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *conn)
                .await?;
            // A literal: SET takes no parameters (the id is PostgreSQL's own,
            // hex digits and dashes).
            let id = s.id.replace('\'', "");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "SET TRANSACTION SNAPSHOT '{id}'"
            )))
            .execute(&mut *conn)
            .await?;
            sqlx::query("SELECT set_config('statement_timeout', $1, true)")
                .bind(format!("{}ms", s.timeout.as_millis()))
                .execute(&mut *conn)
                .await?;
            let out = read(&mut conn).await?;
            conn.commit().await?;
            Ok(out)
        }))))
    }

    /// The read's result, once it has finished.
    pub async fn get(self) -> Result<T, sqlx::Error> {
        match self {
            Aside::Done(t) => Ok(t),
            Aside::Running(mut h) => (&mut h.0).await.map_err(|e| {
                sqlx::Error::Protocol(format!("a read beside the load failed: {e}"))
            })?,
        }
    }
}
