//! Everything that talks to PostgreSQL: connecting ([`connect`]), schema
//! discovery and migrations ([`schema`]), the incremental poller ([`poller`])
//! and the older part of a long window it leaves for later ([`history`]),
//! riding out a restarted server ([`reconnect`]) and how long a table's ids
//! last ([`id_space`]), the advisory-lock keys ([`leases`]) and the business
//! day ([`today`]).

pub mod aside;
pub mod connect;
pub mod history;
pub mod id_space;
pub mod leases;
mod load;
pub mod poller;
mod recent;
pub mod reconnect;
mod rows;
pub mod schema;
mod small_tables;
pub mod tail;
pub mod today;
pub mod usage;
