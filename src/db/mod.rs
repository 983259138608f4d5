//! Everything that talks to PostgreSQL: connecting ([`connect`]), schema
//! discovery and migrations ([`schema`]), the incremental poller ([`poller`]),
//! and riding out a restarted server ([`reconnect`]).

pub mod connect;
mod load;
pub mod poller;
pub mod reconnect;
mod rows;
pub mod schema;
mod small_tables;
pub mod tail;
