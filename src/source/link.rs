//! The channels between a source task and its consumer: the source holds a
//! [`SourceLink`] (sends updates, receives commands), the consumer (the
//! dashboard's event loop, a snapshot, the hub) holds the [`SourceHandle`].
//! Both ends are bounded, so a slow consumer makes its source wait.

use tokio::sync::mpsc;

use super::SourceCommand;
use crate::model::Update;

/// Capacity of the update channel: a slow consumer makes sources wait rather
/// than queue without bound.
pub const UPDATE_CHANNEL: usize = 64;
/// Commands queued for a source before `try_send` reports it busy.
pub const COMMAND_QUEUE: usize = 16;

/// The two ends a source task holds.
pub struct SourceLink {
    pub updates: mpsc::Sender<Update>,
    pub commands: mpsc::Receiver<SourceCommand>,
}

/// The far end of a source's link: what a consumer holds.
pub struct SourceHandle {
    pub updates: mpsc::Receiver<Update>,
    pub commands: mpsc::Sender<SourceCommand>,
}

/// A fresh link and its far end.
pub fn link_pair() -> (SourceLink, SourceHandle) {
    let (utx, urx) = mpsc::channel(UPDATE_CHANNEL);
    let (ctx, crx) = mpsc::channel(COMMAND_QUEUE);
    (
        SourceLink {
            updates: utx,
            commands: crx,
        },
        SourceHandle {
            updates: urx,
            commands: ctx,
        },
    )
}

/// A spawned task that ends however its owner ends (returned, dropped or
/// itself aborted): a source never outlives the one reading it.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
