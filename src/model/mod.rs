//! The domain model shared by every source, the state store and the views:
//! raw records ([`events`]), the updates sources send ([`update`]) and the
//! computed statistics views render ([`stats`]).

pub mod events;
pub mod stats;
pub mod update;

pub use events::*;
pub use stats::*;
pub use update::*;
