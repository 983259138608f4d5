//! How much of each kind of thing jfmon keeps: the caps the store enforces
//! and that every producer of updates (the wire decoders, the simulator)
//! trims to, so memory stays bounded whatever a source sends.

/// Recent calls kept for drill-downs, per kind.
pub const RECENT_CAP: usize = 300;
/// Distinct endpoints tracked; more are folded into one "(other)" row, so an
/// endpoint column full of raw ids cannot grow memory without bound.
pub const MAX_ENDPOINTS: usize = 300;
/// Distinct integrations and business metrics tracked.
pub const MAX_KEYS: usize = 100;
