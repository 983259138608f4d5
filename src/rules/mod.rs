//! Alert rules: what jfmon judges. Pure: no I/O, no SQL, no drawing; rules
//! are evaluated from `&State` (what the store already holds) and
//! [`Baselines`] (per-series history, built from the rollups in the
//! background by [`crate::rollup::baseline`]).
//!
//! - [`spec`]: a rule, a rule set, reading and checking TOML ([`RuleSet`], [`RuleError`])
//! - [`reading`]: a rule's values per series from `&State`
//! - [`anomaly`]: robust latency bands, the binomial error test, [`Baselines`]
//! - [`machine`]: the per-alert state machine (pending, firing, hysteresis,
//!   `keep_firing_for`, flapping, no data)
//! - [`eval`]: the [`Evaluator`] over all rules and series, its
//!   [`Transition`]s and [`AlertState`]s
//! - [`fingerprint`]: Alertmanager's label-set fingerprint
//! - [`display`]: alerts as the dashboard shows them, and a dashboard's own
//!   read-only evaluation ([`LocalRules`])
//! - [`glob`], [`template`]: names and texts

pub mod anomaly;
pub mod display;
pub mod eval;
pub mod fingerprint;
pub mod glob;
pub mod machine;
pub mod reading;
pub mod replay;
pub mod spec;
pub mod template;
pub mod testfile;

pub use self::anomaly::{BaselineBuilder, Baselines};
pub use self::display::{LocalRules, Standing};
pub use self::eval::{AlertState, Evaluator, Restored, Transition, TransitionKind};
pub use self::fingerprint::Fingerprint;
pub use self::machine::Phase;
pub use self::spec::{Metric, NoData, Op, Rule, RuleError, RuleSet, Scope};

#[cfg(test)]
mod tests;
