//! The charts: a multi-series point chart ([`PointChart`]), vertical bars
//! ([`Bars`]) and per-row strip charts ([`strips`]), on a linear or a
//! logarithmic value axis ([`Scale`]). Latency is drawn on the log scale,
//! labelled by decade (`10ms 100ms 1s 10s`), so a 30 s timeout and a
//! 300 ms median are both readable in one chart. All of them work in
//! Unicode and plain ASCII and none relies on colour alone (series have
//! distinct glyphs, bars have height).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Widget;

use super::fmt;
use super::theme::Theme;
use super::widgets::message;

/// A value axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// From 0 to `max`.
    Linear { max: f64 },
    /// From `lo` to `hi` (`lo` a power of ten, at least 1; `hi` one too on
    /// a chart with a decade axis).
    Log { lo: f64, hi: f64 },
}

impl Scale {
    /// The linear axis that holds `values` (`None`: nothing above 0).
    pub fn linear<'v>(values: impl IntoIterator<Item = &'v f64>) -> Option<Scale> {
        let max = values.into_iter().copied().fold(0.0_f64, f64::max);
        (max > 0.0).then_some(Scale::Linear { max })
    }

    /// The log axis that holds `values`: from the decade at or below the
    /// smallest (at least 1) to the decade above the largest.
    pub fn log<'v>(values: impl IntoIterator<Item = &'v f64>) -> Option<Scale> {
        let (mut min, mut max) = (f64::INFINITY, 0.0_f64);
        for v in values.into_iter().copied().filter(|v| v.is_finite()) {
            min = min.min(v);
            max = max.max(v);
        }
        if max <= 0.0 {
            return None;
        }
        let lo = 10f64.powf(min.max(1.0).log10().floor());
        let mut hi = 10f64.powf(max.max(1.0).log10().ceil());
        if hi <= lo {
            hi = lo * 10.0;
        }
        Some(Scale::Log { lo, hi })
    }

    /// Where `v` sits on the axis, 0 (bottom) to 1 (top).
    pub fn position(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { max } => (v / max).clamp(0.0, 1.0),
            Scale::Log { lo, hi } => {
                ((v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10())).clamp(0.0, 1.0)
            }
        }
    }

    /// The values labelled on the axis: bottom and top for a linear axis,
    /// every decade for a log axis.
    pub fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { max } => vec![0.0, max],
            Scale::Log { lo, hi } => {
                let (a, b) = (lo.log10().round() as i32, hi.log10().round() as i32);
                (a..=b).map(|e| 10f64.powi(e)).collect()
            }
        }
    }

    /// The row (from the bottom, 0-based) of `v` in a plot `height` rows high.
    fn row(&self, v: f64, height: u16) -> u16 {
        let h = f64::from(height.max(1) - 1);
        (self.position(v) * h).round() as u16
    }
}

/// A latency tick: `1ms`, `100ms`, `1s`, `10s` (decades read as decades,
/// not `1.00s`).
pub fn ms_tick(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.0}ms")
    } else {
        format!("{:.0}s", v / 1000.0)
    }
}

/// Draw the axis labels of `scale` in the left `width` columns of `area`,
/// each at its row; a label that would land on a row already labelled is
/// left out (the top one always shows).
fn axis(area: Rect, buf: &mut Buffer, scale: &Scale, label: fn(f64) -> String, style: Style) {
    let ticks = scale.ticks();
    let mut taken: Vec<u16> = vec![];
    // Top first, so it wins a collision; then from the bottom up.
    let mut order: Vec<f64> = ticks.iter().rev().take(1).copied().collect();
    order.extend(ticks.iter().take(ticks.len().saturating_sub(1)).copied());
    for v in order {
        let y = area.bottom() - 1 - scale.row(v, area.height);
        if taken.contains(&y) {
            continue;
        }
        taken.push(y);
        buf.set_string(area.x, y, label(v), style);
    }
}

fn axis_width(scale: &Scale, label: fn(f64) -> String) -> u16 {
    scale
        .ticks()
        .into_iter()
        .map(|v| fmt::width(&label(v)))
        .max()
        .unwrap_or(0) as u16
        + 1
}

/// One series of a [`PointChart`].
pub struct Series<'a> {
    pub name: &'a str,
    pub glyph: &'a str,
    pub style: Style,
    pub values: Vec<Option<f64>>,
}

/// A chart of one point per column per series, with the value axis on the
/// left. Series are told apart by glyph as well as colour. Where several
/// series land on one cell the first of them shows, or, with `overlap`,
/// that glyph in the first one's style (so no series hides behind another:
/// a p99 equal to the p95 still shows).
pub struct PointChart<'a> {
    pub series: Vec<Series<'a>>,
    pub y_label: fn(f64) -> String,
    /// Log scale (latency) rather than linear from 0.
    pub log: bool,
    /// The glyph for a cell two or more series share (`None`: the first
    /// series covers the others).
    pub overlap: Option<&'a str>,
    pub theme: &'a Theme,
}

impl Widget for PointChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < 8 || area.height < 2 {
            return;
        }
        let values = self.series.iter().flat_map(|s| s.values.iter().flatten());
        let scale = if self.log {
            Scale::log(values)
        } else {
            Scale::linear(values)
        };
        let Some(scale) = scale else {
            message(
                area,
                buf,
                vec![Line::styled("no data in the window", self.theme.muted())],
            );
            return;
        };
        let axis_w = axis_width(&scale, self.y_label);
        axis(area, buf, &scale, self.y_label, self.theme.muted());
        let plot = Rect::new(
            area.x + axis_w,
            area.y,
            area.width.saturating_sub(axis_w),
            area.height,
        );
        // Last series first, so the first ones stay on top where equal;
        // a cell already taken gets the overlap glyph, if there is one.
        let mut taken = vec![false; usize::from(plot.width) * usize::from(plot.height)];
        for s in self.series.iter().rev() {
            let cols = fmt::resample(&s.values, plot.width as usize);
            for (x, v) in cols.iter().enumerate() {
                if let Some(v) = v {
                    let row = scale.row(*v, plot.height);
                    let cell = &mut taken[usize::from(row) * usize::from(plot.width) + x];
                    let glyph = match self.overlap {
                        Some(both) if *cell => both,
                        _ => s.glyph,
                    };
                    *cell = true;
                    buf.set_string(plot.x + x as u16, plot.bottom() - 1 - row, glyph, s.style);
                }
            }
        }
    }
}

/// Vertical bars, one per column (values resampled to the width).
pub struct Bars<'a> {
    pub values: Vec<Option<f64>>,
    pub y_label: fn(f64) -> String,
    pub style: Style,
    pub theme: &'a Theme,
}

impl Widget for Bars<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < 8 || area.height < 2 {
            return;
        }
        let max = self
            .values
            .iter()
            .flatten()
            .copied()
            .fold(0.0_f64, f64::max);
        let top = (self.y_label)(max);
        let axis_w = (fmt::width(&top).max(2) + 1) as u16;
        buf.set_string(area.x, area.y, &top, self.theme.muted());
        buf.set_string(
            area.x,
            area.bottom() - 1,
            (self.y_label)(0.0),
            self.theme.muted(),
        );
        let plot = Rect::new(
            area.x + axis_w,
            area.y,
            area.width.saturating_sub(axis_w),
            area.height,
        );
        let scale = Scale::Linear { max };
        let cols = fmt::resample(&self.values, plot.width as usize);
        for (x, v) in cols.iter().enumerate() {
            let Some(v) = v else { continue };
            if max <= 0.0 || *v <= 0.0 {
                buf.set_string(
                    plot.x + x as u16,
                    plot.bottom() - 1,
                    if self.theme.ascii { "_" } else { "▁" },
                    self.theme.muted(),
                );
                continue;
            }
            column(
                buf,
                self.theme,
                plot,
                x as u16,
                scale.position(*v),
                self.style,
            );
        }
    }
}

/// One bar at column `x` of `plot`, `share` (0..1) of its height, in
/// eighths of a cell (a dot in ASCII), at least one eighth.
fn column(buf: &mut Buffer, theme: &Theme, plot: Rect, x: u16, share: f64, style: Style) {
    const EIGHTHS: [&str; 8] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇"];
    let total = (share * plot.height as f64 * 8.0).round().max(1.0) as u32;
    let (full, part) = (total / 8, total % 8);
    for i in 0..full.min(plot.height as u32) {
        buf.set_string(
            plot.x + x,
            plot.bottom() - 1 - i as u16,
            theme.bar_full(),
            style,
        );
    }
    if part > 0 && full < plot.height as u32 {
        let g = if theme.ascii {
            "."
        } else {
            EIGHTHS[part as usize]
        };
        buf.set_string(plot.x + x, plot.bottom() - 1 - full as u16, g, style);
    }
}

/// One row of [`strips`]: a label and its values over time.
pub struct Strip<'a> {
    pub label: String,
    pub values: Vec<Option<f64>>,
    pub style: Style,
    pub theme: &'a Theme,
}

/// Fewest rows a strip gets when not every item has a row: three show its
/// label, its range and a decade line.
pub const STRIP_MIN_ROWS: u16 = 3;

/// How many of `n` strips to draw in `height` rows: all of them when each
/// gets a row, else as many as get [`STRIP_MIN_ROWS`] (at least one).
pub fn strips_that_fit(n: usize, height: u16) -> usize {
    if n == 0 || height == 0 {
        0
    } else if usize::from(height) >= n {
        n
    } else {
        usize::from((height / STRIP_MIN_ROWS).max(1)).min(n)
    }
}

/// Stacked strip charts sharing one log scale, one per item, each
/// `area.height / items` rows high (at least one; the rows left over go
/// one each to the first strips, so none are left blank): the label and
/// the range on the left, bars over a faint line per decade on the right.
/// The wall screen's per-endpoint and per-integration latency charts.
/// Returns the rows used.
pub fn strips(area: Rect, buf: &mut Buffer, items: &[Strip], label_w: u16) -> u16 {
    if items.is_empty() || area.width <= label_w + 8 || area.height == 0 {
        return 0;
    }
    let values = || items.iter().flat_map(|s| s.values.iter().flatten());
    let Some(Scale::Log { lo, .. }) = Scale::log(values()) else {
        return 0;
    };
    // Up to the largest value rather than the next decade: the slowest
    // strip fills its rows.
    let hi = values().copied().fold(lo * 10.0, f64::max);
    let scale = Scale::Log { lo, hi };
    let n = items.len() as u16;
    let each = (area.height / n).max(1);
    let extra = if area.height >= n { area.height % n } else { 0 };
    let mut y = area.y;
    for (i, s) in items.iter().enumerate() {
        let each = each + u16::from((i as u16) < extra);
        if y + each > area.bottom() {
            break;
        }
        let row = Rect::new(area.x, y, area.width, each);
        let muted = s.theme.muted();
        buf.set_string(
            row.x,
            row.y,
            fmt::truncate(&s.label, label_w as usize - 1, s.theme.ellipsis()),
            Style::new(),
        );
        let plot = Rect::new(row.x + label_w, row.y, row.width - label_w, row.height);
        if each >= 2 {
            // The axis range under the label, so a tall strip reads alone.
            let range = format!("{}-{}", ms_tick(lo), fmt::ms(Some(hi)));
            buf.set_string(row.x, row.bottom() - 1, range, muted);
        }
        // A faint line at each decade (the log grid), under the bars.
        let grid = if s.theme.ascii { "-" } else { "┈" };
        let mut decade = lo;
        while decade < hi && each >= 3 {
            let y = plot.bottom() - 1 - scale.row(decade, plot.height);
            buf.set_string(plot.x, y, grid.repeat(plot.width as usize), muted);
            decade *= 10.0;
        }
        let cols = fmt::resample(&s.values, plot.width as usize);
        for (x, v) in cols.iter().enumerate() {
            match v {
                Some(v) => column(buf, s.theme, plot, x as u16, scale.position(*v), s.style),
                None => {
                    buf.set_string(plot.x + x as u16, plot.bottom() - 1, " ", muted);
                }
            }
        }
        y += each;
    }
    y - area.y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A p99 equal to the p95 (a timeout caps both) is not hidden behind
    /// it: every column with a p99 shows its glyph or the overlap glyph,
    /// and the p50 stays visible.
    #[test]
    fn no_percentile_hides_behind_another() {
        let theme = Theme::new(false, false);
        let [g50, g95, g99] = theme.series_glyphs();
        let both = theme.overlap_glyph();
        let p50 = vec![Some(300.0), Some(400.0), Some(30.0), Some(40.0)];
        let p95 = vec![Some(900.0), Some(30_000.0), Some(30_000.0), Some(30_000.0)];
        let p99 = vec![
            Some(9_000.0),
            Some(30_000.0),
            Some(30_000.0),
            Some(30_100.0),
        ];
        let series = |name, glyph, values: &Vec<Option<f64>>| Series {
            name,
            glyph,
            style: Style::new(),
            values: values.clone(),
        };
        let area = Rect::new(0, 0, 10, 10);
        let mut buf = Buffer::empty(area);
        PointChart {
            series: vec![
                series("p50", g50, &p50),
                series("p95", g95, &p95),
                series("p99", g99, &p99),
            ],
            y_label: ms_tick,
            log: true,
            overlap: Some(both),
            theme: &theme,
        }
        .render(area, &mut buf);
        // The plot: the 4 columns right of the axis labels ("100ms" and a
        // space), one value each.
        let column =
            |x: u16| -> String { (0..10).map(|y| buf[(x, y)].symbol().to_string()).collect() };
        for x in 6..10 {
            let c = column(x);
            assert!(
                c.contains(g99) || c.contains(both),
                "column {x} hides the p99: {c:?}"
            );
            assert!(c.contains(g50), "column {x} hides the p50: {c:?}");
        }
        // Where p95 and p99 differ, both glyphs show.
        assert!(column(6).contains(g95) && column(6).contains(g99));
    }

    #[test]
    fn log_axis_spans_whole_decades_and_keeps_the_median_off_the_floor() {
        let v = [650.0, 30_000.0, 30_100.0];
        let s = Scale::log(v.iter()).unwrap();
        assert_eq!(
            s,
            Scale::Log {
                lo: 100.0,
                hi: 100_000.0
            }
        );
        let labels: Vec<String> = s.ticks().into_iter().map(ms_tick).collect();
        assert_eq!(labels, ["100ms", "1s", "10s", "100s"]);
        // On a 10-row plot the 650 ms median sits 3 rows above the floor;
        // on a linear axis it would be on row 0 next to a 30 s timeout.
        assert_eq!(s.row(650.0, 10), 2);
        assert_eq!(Scale::linear(v.iter()).unwrap().row(650.0, 10), 0);
        assert_eq!(s.row(30_000.0, 10), 7);
        assert!(Scale::log([0.0].iter()).is_none());
        assert_eq!(
            Scale::log([0.2, 5.0].iter()),
            Some(Scale::Log { lo: 1.0, hi: 10.0 })
        );
        assert_eq!(
            Scale::log([100.0].iter()),
            Some(Scale::Log {
                lo: 100.0,
                hi: 1000.0
            })
        );
    }
}
