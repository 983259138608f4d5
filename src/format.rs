//! Number, time and text formatting shared by the dashboard's cells,
//! `jfmon snapshot`'s summary and the rule alerts' texts (a metric's value
//! in its [`Unit`]): short, fixed-ish widths, `-` for "no data",
//! one line per value. Pure functions of their inputs (the clock is always
//! passed in); nothing here knows a view or a source.

use chrono::{DateTime, Local, Utc};
use ratatui::text::Span;

use crate::rules::spec::num;

/// Latency: `840ms`, `1.25s`, `12.5s`, `125s`; `-` when unknown.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if !v.is_finite() => "-".into(),
        Some(v) if v < 1000.0 => format!("{:.0}ms", v.max(0.0)),
        Some(v) if v < 10_000.0 => format!("{:.2}s", v / 1000.0),
        Some(v) if v < 100_000.0 => format!("{:.1}s", v / 1000.0),
        Some(v) => format!("{:.0}s", v / 1000.0),
    }
}

/// A ratio as a percentage: `0%`, `<0.1%`, `4.2%`, `100%`.
pub fn pct(r: f64) -> String {
    let p = r * 100.0;
    if !p.is_finite() {
        "-".into()
    } else if p <= 0.0 {
        "0%".into()
    } else if p < 0.1 {
        "<0.1%".into()
    } else if (99.95..100.0).contains(&p) {
        ">99.9%".into()
    } else if p >= 100.0 {
        "100%".into()
    } else {
        format!("{p:.1}%")
    }
}

/// The metric's unit, as far as the display goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds (latencies, latency anomalies).
    Ms,
    /// A ratio 0..1 shown as a percentage.
    Ratio,
    /// A percent change (`-70%`).
    Percent,
    /// A health level: 0 healthy, 1 degraded, 2 down.
    Health,
    /// Minutes.
    Minutes,
    /// A plain number.
    Plain,
}

/// The unit `metric`'s values (and thresholds) are shown in; an anomaly's
/// score is not one of them (its shown value is: a latency level, an
/// error count).
pub fn unit_of(metric: &str) -> Unit {
    match metric {
        "p50" | "p95" | "p99" | "latency_anomaly" => Unit::Ms,
        "error_rate" => Unit::Ratio,
        "change_vs_last_week" => Unit::Percent,
        "status" | "reported_status" => Unit::Health,
        "no_data_minutes" => Unit::Minutes,
        _ => Unit::Plain,
    }
}

/// `v` in `unit`: `23.8s`, `12.5%`, `-75%`, `down`, `31m`, `4.2`.
pub fn in_unit(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Ms => ms(Some(v)),
        Unit::Ratio => pct(v),
        Unit::Percent => format!("{}%", num(v.round())),
        Unit::Health => match v.round() as i64 {
            i64::MIN..=0 => "healthy".into(),
            1 => "degraded".into(),
            _ => "down".into(),
        },
        Unit::Minutes => format!("{}m", num(v.round())),
        Unit::Plain => num((v * 10.0).round() / 10.0),
    }
}

/// A rate per second or minute: `0`, `0.05`, `4.20`, `12.3`, `1.2k`.
pub fn rate(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        "0".into()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else if v < 1000.0 {
        format!("{v:.1}")
    } else if v < 1_000_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{:.1}M", v / 1_000_000.0)
    }
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    group(&n.to_string())
}

fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An additive business value: integers grouped (`1,204`), others with two
/// decimals (`1,204.50`).
pub fn amount(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let neg = v < 0.0;
    let a = v.abs();
    let s = if (a - a.round()).abs() < 1e-9 {
        group(&format!("{:.0}", a))
    } else {
        let whole = a.trunc();
        let cents = ((a - whole) * 100.0).round();
        let (whole, cents) = if cents >= 100.0 {
            (whole + 1.0, 0.0)
        } else {
            (whole, cents)
        };
        format!("{}.{:02.0}", group(&format!("{whole:.0}")), cents)
    };
    if neg { format!("-{s}") } else { s }
}

/// An age in the largest sensible unit: `4s`, `12m`, `3h`, `2d`.
pub fn age_secs(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// A duration with two units for precision: `45s`, `3m12s`, `2h05m`, `3d4h`.
pub fn span_secs(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// How long before `now` `t` was (never negative).
pub fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    age_secs((now - t).num_seconds())
}

/// Time of day `HH:MM:SS`, in UTC or the local zone.
pub fn clock(t: DateTime<Utc>, local: bool) -> String {
    if local {
        t.with_timezone(&Local).format("%H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

/// Time of day without seconds.
pub fn clock_hm(t: DateTime<Utc>, local: bool) -> String {
    if local {
        t.with_timezone(&Local).format("%H:%M").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

/// Date and time, for the header clock: `2025-01-31 12:34:56 UTC`.
pub fn date_time(t: DateTime<Utc>, local: bool) -> String {
    if local {
        t.with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// Date and minute, for the header clock: `2025-01-31 12:34 UTC` (a clock
/// with seconds would redraw the whole screen every second).
pub fn date_time_hm(t: DateTime<Utc>, local: bool) -> String {
    if local {
        t.with_timezone(&Local)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// Whether `t` falls on a different day than `now`; such times are shown with a date.
pub fn time_or_date(now: DateTime<Utc>, t: DateTime<Utc>, local: bool) -> String {
    let (a, b) = if local {
        (
            now.with_timezone(&Local).date_naive(),
            t.with_timezone(&Local).date_naive(),
        )
    } else {
        (now.date_naive(), t.date_naive())
    };
    if a == b {
        clock(t, local)
    } else if local {
        t.with_timezone(&Local).format("%m-%d %H:%M").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

/// Free text from the database as one line: control characters and runs of
/// whitespace become one space.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Display width of a string in terminal cells.
pub fn width(s: &str) -> usize {
    Span::raw(s).width()
}

/// `s` cut to `max` cells, ending in `ellipsis` when cut.
pub fn truncate(s: &str, max: usize, ellipsis: &str) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let ell = width(ellipsis);
    if max <= ell {
        return s.chars().take(max).collect();
    }
    let mut out = String::new();
    let mut w = 0;
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let cw = width(c.encode_utf8(&mut buf));
        if w + cw > max - ell {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push_str(ellipsis);
    out
}

/// A sparkline of `width` cells over `values` (None = no data, drawn blank).
/// Values are resampled to the width (the maximum of each group of points),
/// scaled from 0 to the maximum.
pub fn sparkline(values: &[Option<f64>], width: usize, levels: &[&str]) -> String {
    if width == 0 || levels.is_empty() {
        return String::new();
    }
    let cols = resample(values, width);
    let max = cols.iter().flatten().copied().fold(0.0_f64, f64::max);
    let top = levels.len() - 1;
    cols.iter()
        .map(|v| match v {
            None => " ",
            Some(v) if max <= 0.0 || *v <= 0.0 => levels[0],
            Some(v) => {
                let i = ((v / max) * top as f64).ceil() as usize;
                levels[i.min(top)]
            }
        })
        .collect()
}

/// Fit `values` into `width` columns: groups of points take their maximum;
/// fewer points than columns are stretched over the width.
pub fn resample(values: &[Option<f64>], width: usize) -> Vec<Option<f64>> {
    fit(values, width, |group| {
        group
            .iter()
            .flatten()
            .copied()
            .fold(None, |acc: Option<f64>, v| {
                Some(acc.map_or(v, |a| a.max(v)))
            })
    })
}

/// Fit `values` into `width` columns, combining groups with `combine`.
pub fn fit<T: Clone>(
    values: &[Option<T>],
    width: usize,
    combine: impl Fn(&[Option<T>]) -> Option<T>,
) -> Vec<Option<T>> {
    let n = values.len();
    if n == 0 || width == 0 {
        return vec![None; width];
    }
    if n <= width {
        // Stretch: each point takes an equal share of the columns.
        return (0..width).map(|c| values[c * n / width].clone()).collect();
    }
    (0..width)
        .map(|c| {
            let lo = c * n / width;
            let hi = ((c + 1) * n / width).max(lo + 1).min(n);
            combine(&values[lo..hi])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(ms(Some(840.4)), "840ms");
        assert_eq!(ms(Some(1250.0)), "1.25s");
        assert_eq!(ms(None), "-");
        assert_eq!(pct(0.0), "0%");
        assert_eq!(pct(0.0004), "<0.1%");
        assert_eq!(pct(0.042), "4.2%");
        assert_eq!(pct(1.0), "100%");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(amount(1204.5), "1,204.50");
        assert_eq!(amount(1204.0), "1,204");
        assert_eq!(amount(0.999), "1.00");
        assert_eq!(rate(0.05), "0.05");
        assert_eq!(rate(1234.0), "1.2k");
        assert_eq!(age_secs(59), "59s");
        assert_eq!(age_secs(3600), "1h");
        assert_eq!(span_secs(192), "3m12s");
    }

    #[test]
    fn text() {
        assert_eq!(one_line("a\n  b\tc\x1b[31m"), "a b c [31m");
        assert_eq!(truncate("abcdef", 4, "…"), "abc…");
        assert_eq!(truncate("abc", 4, "…"), "abc");
        assert_eq!(truncate("abcdef", 1, "…"), "a");
    }

    #[test]
    fn sparklines() {
        let lv = ["_", ".", "-", "=", "^", "#"];
        let v = [Some(0.0), Some(5.0), Some(10.0), None];
        assert_eq!(sparkline(&v, 4, &lv), "_=# ");
        assert_eq!(sparkline(&v, 8, &lv), "__==##  ");
        assert_eq!(sparkline(&v, 2, &lv), "=#");
        assert_eq!(sparkline(&[], 3, &lv), "   ");
        assert_eq!(sparkline(&v, 6, &lv), "__=## ");
    }
}
