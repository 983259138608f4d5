//! `jfmon prune`: deleting old raw rows from the platform's monitoring tables
//! in small batches by id range, each batch one short transaction with a
//! `lock_timeout` ([`batch`]), optionally archived first to compressed CSV
//! with a manifest ([`archive`]). Which tables, which rows and how old
//! ([`spec`]): never the integration health table, never an open alert, and
//! never a row the rollups have not counted yet, so the rollups keep the
//! pruned days.

pub mod archive;
pub mod batch;
pub mod spec;

pub use batch::{BatchDone, Pruner, TableSummary};
pub use spec::Table;
