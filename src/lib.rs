//! jfmon: a terminal live monitor for the JyotiFlow.ai platform.
//!
//! Data flows one way: sources ([`source`]: PostgreSQL poller, simulator,
//! stream) send [`model::Update`]s over a bounded channel; the [`store`]
//! applies them and keeps bounded history; views render `&State`.

pub mod aggregate;
pub mod alerting;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod db;
pub mod duration;
pub mod format;
pub mod hist;
pub mod hub;
pub mod memory;
pub mod model;
pub mod notify;
pub mod prune;
pub mod redact;
pub mod rollup;
pub mod rules;
pub mod sim;
pub mod source;
pub mod store;
pub mod ui;
pub mod user_error;
pub mod wire;
