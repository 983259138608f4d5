//! Starting the source a command follows: the one place that turns "the
//! simulator, a stream, a stream and a database, or a database" into a
//! running task and the [`SourceHandle`] its consumer reads (the dashboard,
//! `jfmon snapshot --follow` and `jfmon serve` all start theirs here).

use std::time::Duration;

use super::demo::DemoSettings;
use super::link::{AbortOnDrop, SourceHandle, link_pair};
use super::stream::{self, StreamSettings};
use crate::db::poller::Poller;
use crate::redact::db_display;

/// Which source to start.
pub enum Plan {
    /// The built-in simulator (`jfmon demo`).
    Demo(DemoSettings),
    /// The PostgreSQL poller alone.
    Database(Database),
    /// A `jfmon serve` hub or the platform's own stream, alone.
    Stream(StreamSettings),
    /// A stream with the database as its fallback
    /// ([`stream::run_with_database`]).
    StreamAndDatabase(StreamSettings, Database),
}

/// A connected database for the poller.
pub struct Database {
    pub poller: Poller,
    /// The URL, only to describe failures (its password never shown).
    pub url: String,
    pub interval: Duration,
}

impl Database {
    fn target(&self) -> String {
        db_display(&self.url)
    }
}

impl Plan {
    /// Where the data comes from, for the header and logs (no secrets).
    pub fn target(&self) -> String {
        match self {
            Plan::Demo(_) => "built-in simulator".into(),
            Plan::Database(d) => d.target(),
            Plan::Stream(s) => stream::target_of(&s.url),
            Plan::StreamAndDatabase(s, d) => {
                format!("{} + {}", stream::target_of(&s.url), d.target())
            }
        }
    }
}

/// A running source: the consumer's end, what it reads from, and the task,
/// which ends when this is dropped.
pub struct Started {
    pub handle: SourceHandle,
    pub target: String,
    pub task: AbortOnDrop,
}

/// Start `plan`'s source task(s).
pub fn spawn(plan: Plan) -> Started {
    let target = plan.target();
    let (link, handle) = link_pair();
    let task = match plan {
        Plan::Demo(settings) => tokio::spawn(super::demo::run(settings, link)),
        Plan::Database(d) => {
            let target = d.target();
            tokio::spawn(super::postgres::run(
                d.poller, d.url, target, d.interval, link,
            ))
        }
        Plan::Stream(s) => tokio::spawn(stream::run(s, link)),
        Plan::StreamAndDatabase(s, d) => {
            let window = d.poller.window();
            let db = spawn(Plan::Database(d));
            tokio::spawn(async move {
                // Held here so the poller ends with the combiner.
                let _db_task = db.task;
                stream::run_with_database(s, db.handle, window, link).await;
            })
        }
    };
    Started {
        handle,
        target,
        task: AbortOnDrop(task),
    }
}
