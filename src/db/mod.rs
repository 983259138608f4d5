//! Everything that talks to PostgreSQL: connecting ([`connect`]), schema
//! discovery and migrations ([`schema`]), the incremental poller ([`poller`])
//! and the older part of a long window it leaves for later ([`history`]),
//! and riding out a restarted server ([`reconnect`]).

pub mod connect;
pub mod history;
mod load;
pub mod poller;
pub mod reconnect;
mod rows;
pub mod schema;
mod small_tables;
pub mod tail;
