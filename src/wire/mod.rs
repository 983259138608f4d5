//! The wire formats jfmon speaks over WebSocket, shared by the hub (which
//! writes them, `jfmon serve`) and the stream source (which reads them):
//! jfmon's own hub protocol ([`protocol`], see `docs/PROTOCOL.md`) and the
//! platform's `system_health` frames ([`platform`]). Depends only on the
//! [`crate::model`]: neither the hub nor any source is imported here.

pub mod platform;
pub mod protocol;
