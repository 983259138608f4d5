//! Ports for the throwaway PostgreSQL clusters that db_restart and
//! simulator_outage stop and start again. A port taken from `127.0.0.1:0` lies
//! in the kernel's ephemeral range, so while such a cluster is down any
//! outgoing connection on the box may take it as its local port and the next
//! start fails; these ports lie outside that range. If a start fails anyway
//! because the port is taken, `start_failure` says so in one line.

use std::net::TcpListener;
use std::path::Path;

/// The kernel's ephemeral (local) port range, inclusive.
pub fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap_or_else(|_| "32768 60999".into());
    let mut it = text.split_whitespace().filter_map(|n| n.parse().ok());
    match (it.next(), it.next()) {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => (32768, 60999),
    }
}

/// A loopback port outside the ephemeral range and above 1023 (the server
/// runs as `postgres`), checked free by a bind. The search starts at an
/// offset taken from the process id, so two test binaries running at once
/// are unlikely to try the same port first.
pub fn cluster_port() -> u16 {
    let (lo, hi) = ephemeral_range();
    let below = 1024..lo.max(1024);
    let above = hi.saturating_add(1).max(1024)..=u16::MAX;
    let candidates: Vec<u16> = below
        .chain(above)
        .filter(|p| !(5430..=5440).contains(p))
        .collect();
    assert!(
        !candidates.is_empty(),
        "no port outside the ephemeral range {lo}-{hi} for a throwaway PostgreSQL cluster"
    );
    let start = std::process::id() as usize % candidates.len();
    candidates[start..]
        .iter()
        .chain(&candidates[..start])
        .copied()
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .unwrap_or_else(|| panic!("every port outside the ephemeral range {lo}-{hi} is in use"))
}

/// Why `pg_ctl start` of a cluster on `port` with server log `log` failed:
/// a first line naming a taken port when that is the cause, then the log's
/// last 20 lines.
pub fn start_failure(port: u16, log: &Path) -> String {
    let tail = log_tail(log);
    // The server's own words when it cannot listen: `could not bind IPv4
    // address "127.0.0.1": Address already in use`.
    if tail.contains("could not bind") && tail.contains("Address already in use") {
        let (lo, hi) = ephemeral_range();
        format!(
            "port 127.0.0.1:{port} was taken by another socket while the cluster was down \
             (it lies outside the ephemeral range {lo}-{hi}, so something bound it explicitly; \
             see `ss -tanp 'sport = :{port}'`)\n{tail}"
        )
    } else {
        tail
    }
}

/// The last 20 lines of a server log (empty if it cannot be read).
pub fn log_tail(log: &Path) -> String {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
