//! Everything that talks to PostgreSQL: connecting ([`connect`]), schema
//! discovery and migrations ([`schema`]), and the incremental poller ([`poller`]).

pub mod connect;
pub mod poller;
pub mod schema;
pub mod tail;
