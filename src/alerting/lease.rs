//! The alerting lease: a session advisory lock held on a connection of its
//! own (as the rollup maintainer's, `crate::rollup::maintain`), released by
//! PostgreSQL when the process dies or the connection drops. Every write of
//! the alerting goes through that connection, so a hub that lost its lease
//! (its connection broke) cannot write until it holds the lease again, and
//! of several hubs exactly one writes while the others stand by.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

/// Advisory lock key of the alert writer.
pub const LEASE_ALERTING: i64 = crate::db::leases::ALERTING;

/// Longest the lease's connection may take to answer a ping.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The lease and its connection.
pub struct Lease {
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
}

impl Lease {
    pub fn new(pool: PgPool) -> Self {
        Lease { pool, conn: None }
    }

    /// Take the lease if free (`true` also when already held); `false`
    /// means another process holds it.
    pub async fn try_take(&mut self) -> Result<bool, sqlx::Error> {
        if self.conn.is_some() {
            return Ok(true);
        }
        let mut conn = self.pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEASE_ALERTING)
            .fetch_one(&mut *conn)
            .await?;
        if got {
            self.conn = Some(conn);
        }
        Ok(got)
    }

    /// Whether this process believes it holds the lease (its connection is
    /// kept); [`Lease::confirm`] asks the server.
    pub fn held(&self) -> bool {
        self.conn.is_some()
    }

    /// Whether the lease is still held, asked of its connection: a
    /// connection the server closed (or that stopped answering within
    /// [`PING_TIMEOUT`]) has lost its session and the lock with it, and is
    /// given up, so that the next [`Lease::try_take`] competes for it again.
    pub async fn confirm(&mut self) -> bool {
        let Some(c) = self.conn.as_deref_mut() else {
            return false;
        };
        let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(c);
        let answer = tokio::time::timeout(PING_TIMEOUT, ping).await;
        match answer {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the alerting lease's connection is gone; the lease is lost");
                self.release();
                false
            }
            Err(_) => {
                tracing::warn!(
                    "the alerting lease's connection stopped answering; the lease is lost"
                );
                self.release();
                false
            }
        }
    }

    /// The lease's connection (`None` unless held).
    pub fn conn(&mut self) -> Option<&mut PgConnection> {
        self.conn.as_deref_mut()
    }

    /// Give the lease up: the connection is closed (a failed write may have
    /// left it unusable), which ends the session and its lock.
    pub fn release(&mut self) {
        if let Some(c) = self.conn.take() {
            drop(c.detach());
        }
    }
}

impl Drop for Lease {
    /// A lease dropped is given up (its connection would otherwise go back
    /// to the pool still holding the lock).
    fn drop(&mut self) {
        self.release();
    }
}
