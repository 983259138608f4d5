//! Everything that talks to PostgreSQL: connecting ([`connect`]), schema
//! discovery and migrations ([`schema`]), and the incremental poller ([`poller`]).

pub mod connect;
mod load;
pub mod poller;
mod rows;
pub mod schema;
mod small_tables;
pub mod tail;
