//! Notifications: alert changes (fired, resolved) delivered to the
//! receivers of `[[notify]]` — a generic webhook (Alertmanager's webhook v4
//! body), Alertmanager's own API, a Slack-compatible incoming webhook —
//! through one outbox with a bounded queue and retry per receiver, never
//! blocking the poll. Secrets never reach a payload: every text is masked
//! before it is queued, and a receiver's URL is never logged.

pub mod http;
pub mod outbox;
pub mod payload;
pub mod receiver;

pub use self::outbox::{LaneReport, Outbox};
pub use self::receiver::{Kind, Receiver};
