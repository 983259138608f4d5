//! Everything that talks to PostgreSQL: connecting ([`connect`]), schema
//! discovery and migrations ([`schema`]), and the incremental poller ([`poller`]).

pub mod connect;
pub mod schema;
pub mod poller;
pub mod tail;
