//! Alerting: what happens to a rule alert once the rules have judged it.
//! A firing alert becomes one row of `monitoring_alerts` in the platform's
//! own shape ([`table`]), its resolution is written into that row's
//! `context`, and the rows still open are how a restarted hub picks up where
//! it left off. Only the holder of a lease ([`lease`]) writes, so of several
//! hubs exactly one alerts. [`run`] ties this to `jfmon serve`'s poll.
//!
//! This module owns no judgement (that is [`crate::rules`]) and no delivery
//! to receivers (that is [`crate::notify`]).

pub mod alert;
pub mod drive;
pub mod lease;
pub mod rules_judge;
pub mod run;
pub mod status;
pub mod table;

pub use self::alert::{Alert, Bound, Change};
pub use self::rules_judge::{BaselineFeed, RulesJudge};
pub use self::run::{Alerting, Judge, Role};
