//! `--incident TARGET:KIND:DURATION` (`openai:down:3m`,
//! `/api/spiritual/guidance:degraded:5m`): a named incident the simulator
//! injects starting now, on an integration or (a target starting with `/`)
//! an endpoint.

use std::time::Duration;

use super::generator::{Generator, IncidentKind};
use crate::duration::parse_duration;

/// One incident asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSpec {
    pub target: String,
    pub kind: IncidentKind,
    pub duration: Duration,
}

impl IncidentSpec {
    pub fn on_endpoint(&self) -> bool {
        self.target.starts_with('/')
    }
}

/// Parse `TARGET:KIND:DURATION`, checking the target against the simulated platform.
pub fn parse(s: &str) -> Result<IncidentSpec, String> {
    let mut parts = s.rsplitn(3, ':');
    let (Some(dur), Some(kind), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "\"{s}\" is not an incident (use TARGET:KIND:DURATION, e.g. openai:down:3m or /api/spiritual/guidance:degraded:5m)"
        ));
    };
    let kind = match kind {
        "down" => IncidentKind::Down,
        "degraded" => IncidentKind::Degraded,
        _ => {
            return Err(format!(
                "\"{kind}\" is not an incident kind (use down or degraded)"
            ));
        }
    };
    let duration = parse_duration(dur)?;
    if duration < Duration::from_secs(10) || duration > Duration::from_secs(86_400) {
        return Err(format!(
            "the incident's duration \"{dur}\" is not between 10s and 1d"
        ));
    }
    let (integrations, endpoints) = Generator::targets();
    let known = if target.starts_with('/') {
        endpoints.contains(&target)
    } else {
        integrations.contains(&target)
    };
    if !known {
        return Err(format!(
            "\"{target}\" is not a simulated integration ({}) or endpoint ({})",
            integrations.join(", "),
            endpoints.join(", ")
        ));
    }
    Ok(IncidentSpec {
        target: target.to_string(),
        kind,
        duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integration_and_endpoint_incidents() {
        let s = parse("openai:down:3m").unwrap();
        assert_eq!(
            (s.target.as_str(), s.kind, s.duration),
            ("openai", IncidentKind::Down, Duration::from_secs(180))
        );
        let e = parse("/api/spiritual/guidance:degraded:5m").unwrap();
        assert!(e.on_endpoint());
        assert!(
            parse("openai:sideways:3m")
                .unwrap_err()
                .contains("down or degraded")
        );
        assert!(parse("nope:down:3m").unwrap_err().contains("openai"));
        assert!(parse("openai:down").is_err());
        assert!(parse("openai:down:1s").is_err());
    }
}
