//! The human duration syntax used by flags, the config file and every
//! duration jfmon prints: [`parse_duration`] (`500ms`, `15m`, `1h30m`) and
//! [`format_duration`] (the shortest single-unit form). A leaf: imports nothing
//! from the crate.

use std::time::Duration;

/// Parse a human duration: `500ms`, `2s`, `1m`, `15m`, `1h`, `24h`, `1d`,
/// `1w`, or a combination such as `1h30m`. A bare `0` is zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("\"{s}\" is not a duration (use e.g. 15m, 1h)");
    if t.is_empty() {
        return Err(bad());
    }
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total_ms: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let factor: u128 = match unit.to_ascii_lowercase().as_str() {
            "ms" => 1,
            "s" | "sec" | "secs" => 1_000,
            "m" | "min" | "mins" => 60_000,
            "h" | "hr" | "hrs" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "w" => 7 * 86_400_000,
            "" => return Err(format!("\"{s}\" has no unit (use e.g. {n}s or {n}m)")),
            _ => return Err(bad()),
        };
        total_ms = n
            .checked_mul(factor)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(|| format!("\"{s}\" is too long"))?;
    }
    let ms = u64::try_from(total_ms).map_err(|_| format!("\"{s}\" is too long"))?;
    Ok(Duration::from_millis(ms))
}

/// The shortest single-unit form of `d`: `15m`, `1h`, `2s`, `500ms`, `1d`.
/// Sub-millisecond parts are dropped; zero is `0s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let ms = Duration::from_millis;
        for (s, d) in [
            ("500ms", ms(500)),
            ("2s", ms(2_000)),
            ("1m", ms(60_000)),
            ("15m", ms(900_000)),
            ("1h", ms(3_600_000)),
            ("24h", ms(86_400_000)),
            ("1d", ms(86_400_000)),
            ("1h30m", ms(5_400_000)),
            (" 15M ", ms(900_000)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
        for s in [
            "",
            "abc",
            "15",
            "m",
            "1x",
            "-1s",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
        assert_eq!(
            parse_duration("abc").unwrap_err(),
            "\"abc\" is not a duration (use e.g. 15m, 1h)"
        );
    }

    #[test]
    fn durations_format() {
        let ms = Duration::from_millis;
        for (d, s) in [
            (ms(900_000), "15m"),
            (ms(3_600_000), "1h"),
            (ms(2_000), "2s"),
            (ms(500), "500ms"),
            (ms(86_400_000), "1d"),
            (ms(90_000), "90s"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
