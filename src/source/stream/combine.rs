//! A stream and a database poller feeding one store (`--ws` together with a
//! database URL), without counting anything twice. Which side's data reaches
//! the store depends only on what kind of server the stream is connected to
//! ([`from_stream`], [`from_database`]); losing a hub makes the poller reload
//! its whole window.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Event, Server, StreamSettings, reconnect};
use crate::model::{SourceId, Update};
use crate::source::SourceCommand;
use crate::source::link::{AbortOnDrop, SourceHandle, SourceLink, UPDATE_CHANNEL};

/// The platform's frames make the poller poll at most this often.
const PLATFORM_REFRESH: Duration = Duration::from_secs(1);

/// Whether an update from the stream reaches the store: its own status
/// always (the hub's view of its database is dropped: the screen shows its
/// own connection); data only from a hub.
fn from_stream(server: Server, u: &Update) -> bool {
    match u {
        Update::Source(s) => s.id == SourceId::Stream,
        Update::Batch(_) | Update::RuleAlerts(_) => server == Server::Hub,
    }
}

/// Whether an update from the poller reaches the store: its status always;
/// data unless a hub is connected.
fn from_database(server: Server, u: &Update) -> bool {
    match u {
        Update::Source(_) => true,
        Update::Batch(_) | Update::RuleAlerts(_) => server != Server::Hub,
    }
}

/// A stream and a database poller (`db`, e.g. [`crate::source::postgres::run`]
/// on the other end) feeding one store:
///
/// * while the stream is a connected jfmon hub, the hub's data is the store's
///   (pushed at once, percentiles exact) and the poller's batches are dropped;
/// * otherwise the poller's data is the store's; when the hub goes away the
///   poller is told to reload its whole window (its next batch is a reset), and
///   when a hub (re)connects its reset replaces everything;
/// * the platform's `system_health` frames carry nothing the database lacks, so
///   with a database each one just makes the poller poll now (at most once a
///   second): changes reach the screen at once;
/// * statuses of both are passed on (the hub's own database status is
///   dropped: the screen shows its own connection);
/// * commands go to the poller (acknowledging needs the database).
pub async fn run_with_database(
    settings: StreamSettings,
    db: SourceHandle,
    window: Duration,
    link: SourceLink,
) {
    let (tx, stream) = mpsc::channel(UPDATE_CHANNEL);
    let (_stream_cmd_tx, stream_cmd_rx) = mpsc::channel(1);
    let _task = AbortOnDrop(tokio::spawn(reconnect::run_events(
        settings,
        tx,
        stream_cmd_rx,
    )));
    combine(stream, db, window, link).await;
}

/// The combiner itself, on the stream task's events.
async fn combine(
    mut stream: mpsc::Receiver<Event>,
    db: SourceHandle,
    mut window: Duration,
    link: SourceLink,
) {
    let SourceLink {
        updates,
        mut commands,
    } = link;
    let SourceHandle {
        updates: mut db_updates,
        commands: db_commands,
    } = db;
    let mut server = Server::Disconnected;
    let mut last_refresh: Option<Instant> = None;
    let mut commands_open = true;
    let mut stream_open = true;
    loop {
        tokio::select! {
            e = stream.recv(), if stream_open => match e {
                None => stream_open = false,
                Some(Event::Server(k)) => {
                    if server == Server::Hub && k != Server::Hub {
                        // Back to the database: reload the window, now.
                        let _ = db_commands.send(SourceCommand::SetWindow(window)).await;
                        let _ = db_commands.send(SourceCommand::RefreshNow).await;
                    }
                    server = k;
                }
                Some(Event::Update(u)) => {
                    if server == Server::Platform && matches!(u, Update::Batch(_))
                        && last_refresh.is_none_or(|t| t.elapsed() >= PLATFORM_REFRESH)
                    {
                        last_refresh = Some(Instant::now());
                        let _ = db_commands.try_send(SourceCommand::RefreshNow);
                    }
                    if from_stream(server, &u) && updates.send(u).await.is_err() {
                        break;
                    }
                }
            },
            u = db_updates.recv() => match u {
                None => break,
                Some(u) => {
                    if from_database(server, &u) && updates.send(u).await.is_err() {
                        break;
                    }
                }
            },
            c = commands.recv(), if commands_open => match c {
                None => commands_open = false,
                Some(c) => {
                    if let SourceCommand::SetWindow(w) = &c {
                        window = *w;
                    }
                    if db_commands.send(c).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Batch, SourceStatus};
    use crate::source::link::link_pair;

    fn batch(n: i64) -> Update {
        Update::Batch(Box::new(Batch {
            now: chrono::DateTime::from_timestamp(n, 0).unwrap(),
            ..Batch::default()
        }))
    }

    fn status(id: SourceId) -> Update {
        Update::Source(SourceStatus::new(id, "x"))
    }

    /// A running combiner: the stream's events go in at `stream`, the
    /// poller's updates at `db`; `db_commands` is what the poller is told,
    /// `store` what reaches the store, `commands` the user's commands.
    struct Rig {
        stream: mpsc::Sender<Event>,
        db: mpsc::Sender<Update>,
        db_commands: mpsc::Receiver<SourceCommand>,
        store: mpsc::Receiver<Update>,
        commands: mpsc::Sender<SourceCommand>,
        _task: AbortOnDrop,
    }

    fn rig() -> Rig {
        let (stream, events) = mpsc::channel(16);
        let (db_link, db_handle) = link_pair();
        let (link, handle) = link_pair();
        let task = tokio::spawn(combine(events, db_handle, Duration::from_secs(900), link));
        Rig {
            stream,
            db: db_link.updates,
            db_commands: db_link.commands,
            store: handle.updates,
            commands: handle.commands,
            _task: AbortOnDrop(task),
        }
    }

    impl Rig {
        async fn server(&self, s: Server) {
            self.stream.send(Event::Server(s)).await.unwrap();
        }
        async fn stream_sends(&self, u: Update) {
            self.stream.send(Event::Update(u)).await.unwrap();
        }
        async fn db_sends(&self, u: Update) {
            self.db.send(u).await.unwrap();
        }
        /// What reached the store from the stream, once everything sent
        /// on it so far has been handled (a marker sent after it arrives).
        async fn settle_stream(&mut self) -> Vec<Update> {
            let marker = SourceStatus::new(SourceId::Stream, "marker");
            self.stream_sends(Update::Source(marker.clone())).await;
            self.until(marker).await
        }
        /// The same for the poller's side.
        async fn settle_db(&mut self) -> Vec<Update> {
            let marker = SourceStatus::new(SourceId::Demo, "marker");
            self.db_sends(Update::Source(marker.clone())).await;
            self.until(marker).await
        }
        async fn until(&mut self, marker: SourceStatus) -> Vec<Update> {
            let mut got = vec![];
            loop {
                match self.store.recv().await.unwrap() {
                    Update::Source(s) if s == marker => return got,
                    u => got.push(u),
                }
            }
        }
    }

    #[test]
    fn routing_by_server() {
        for server in [Server::Disconnected, Server::Hub, Server::Platform] {
            let hub = server == Server::Hub;
            assert_eq!(from_stream(server, &batch(1)), hub);
            assert_eq!(from_database(server, &batch(1)), !hub);
            assert!(from_stream(server, &status(SourceId::Stream)));
            assert!(!from_stream(server, &status(SourceId::Postgres)));
            assert!(from_database(server, &status(SourceId::Postgres)));
        }
    }

    #[tokio::test]
    async fn a_hubs_data_replaces_the_pollers_and_losing_it_reloads_the_window() {
        let mut r = rig();
        // Not connected: the poller's data is the store's.
        r.db_sends(batch(1)).await;
        assert_eq!(r.settle_db().await, vec![batch(1)]);

        // A hub: its data, not the poller's.
        r.server(Server::Hub).await;
        r.stream_sends(batch(2)).await;
        assert_eq!(r.settle_stream().await, vec![batch(2)]);
        r.db_sends(batch(3)).await;
        r.db_sends(status(SourceId::Postgres)).await;
        assert_eq!(r.settle_db().await, vec![status(SourceId::Postgres)]);
        assert!(
            r.db_commands.try_recv().is_err(),
            "nothing asked of the poller"
        );

        // The hub goes away: the poller reloads its window, now.
        r.server(Server::Disconnected).await;
        assert_eq!(r.settle_stream().await, vec![]);
        assert!(matches!(
            r.db_commands.try_recv(),
            Ok(SourceCommand::SetWindow(w)) if w == Duration::from_secs(900)
        ));
        assert!(matches!(
            r.db_commands.try_recv(),
            Ok(SourceCommand::RefreshNow)
        ));
        r.db_sends(batch(4)).await;
        assert_eq!(r.settle_db().await, vec![batch(4)]);
    }

    #[tokio::test]
    async fn the_reload_uses_the_window_the_user_chose_last() {
        let mut r = rig();
        r.commands
            .send(SourceCommand::SetWindow(Duration::from_secs(3600)))
            .await
            .unwrap();
        assert!(matches!(
            r.db_commands.recv().await,
            Some(SourceCommand::SetWindow(w)) if w == Duration::from_secs(3600)
        ));
        r.server(Server::Hub).await;
        r.server(Server::Disconnected).await;
        r.settle_stream().await;
        assert!(matches!(
            r.db_commands.try_recv(),
            Ok(SourceCommand::SetWindow(w)) if w == Duration::from_secs(3600)
        ));
    }

    #[tokio::test]
    async fn a_platform_stream_only_makes_the_poller_poll() {
        let mut r = rig();
        r.server(Server::Platform).await;
        r.stream_sends(batch(5)).await;
        r.stream_sends(status(SourceId::Stream)).await;
        r.stream_sends(status(SourceId::Postgres)).await;
        assert_eq!(r.settle_stream().await, vec![status(SourceId::Stream)]);
        assert!(matches!(
            r.db_commands.try_recv(),
            Ok(SourceCommand::RefreshNow)
        ));
        r.db_sends(batch(6)).await;
        assert_eq!(r.settle_db().await, vec![batch(6)]);
        // Leaving a platform stream is no hub lost: no reload.
        r.server(Server::Disconnected).await;
        r.settle_stream().await;
        assert!(r.db_commands.try_recv().is_err());
    }
}
