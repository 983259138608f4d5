//! The health-classification thresholds the store judges integrations by.
//! Built by [`crate::config`] from `[thresholds]` in the config file; the
//! store only reads them.

/// Health-classification thresholds (`[thresholds]` in the file).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Success ratio at or above which a service is healthy.
    pub healthy_success: f64,
    /// Success ratio below which a service is down.
    pub down_success: f64,
    /// This many failures in a row mark a service down.
    pub down_consecutive_failures: u32,
    /// p95 latency (ms) above which a service is degraded; `None` = not used.
    pub latency_degraded_p95_ms: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            healthy_success: 0.95,
            down_success: 0.80,
            down_consecutive_failures: 5,
            latency_degraded_p95_ms: None,
        }
    }
}
