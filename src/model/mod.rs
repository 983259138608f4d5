//! The domain model shared by every source, the state store and the views:
//! raw records ([`events`]), the updates sources send ([`update`]), the
//! computed statistics views render ([`stats`]), the monitoring tables'
//! names ([`tables`]), how much of everything is kept ([`limits`]),
//! feature usage per service ([`usage`]) and rule alerts as shown
//! ([`rule_alerts`]).
//! Imports nothing of jfmon's own: every other module may depend on it.

pub mod events;
pub mod limits;
pub mod rule_alerts;
pub mod stats;
pub mod tables;
pub mod update;
pub mod usage;

pub use events::*;
pub use limits::*;
pub use rule_alerts::*;
pub use stats::*;
pub use update::*;
pub use usage::*;
