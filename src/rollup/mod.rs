//! Per-minute rollups jfmon keeps in tables of its own (`jfmon_rollup_*`,
//! created by `jfmon migrate`): what they hold ([`spec`]: minutes, and for
//! API and integration calls a 5-minute tier that long windows read), where
//! each stands ([`state`]) and how they are kept current, exactly once
//! ([`maintain`]); sessions per service and outcome, added by settled
//! minute ([`usage`]), and a window's usage minutes read from them
//! ([`usage_minutes`]).

pub mod baseline;
pub mod follow;
pub mod maintain;
mod pairs;
pub mod read;
pub mod spec;
pub mod state;
pub mod usage;
pub mod usage_minutes;
mod usage_sql;

pub use maintain::{BackfillProgress, Maintainer, Role, StepOutcome};
pub use spec::Rollup;
