//! The traffic simulator: synthetic but realistic JyotiFlow.ai platform traffic
//! for demos, load tests and development without a production database.
//!
//! [`generator`] is the pure, deterministic part (seeded, no I/O): it turns
//! simulated time into monitoring records (API calls, integration calls,
//! sessions, alerts, business observations, session context, health reports),
//! including injected integration incidents ([`incident`]: named ones from
//! `--incident`, on an integration or an endpoint; the generator lists all it injected). [`writer`] writes those records
//! into the platform's PostgreSQL monitoring tables, either as a fast bulk
//! backfill (COPY) or live at a steady request rate; [`live`] keeps the live
//! writer going through database outages without writing a row twice.

pub mod generator;
pub mod incident;
mod live;
pub mod writer;
