//! Pane 5, the Business strip: revenue, credits used, conversions (and any
//! other metric the platform records) over the window and since midnight in
//! the business time zone (UTC unless configured), with a per-minute
//! sparkline when there is room for a second line.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::pane::PaneId;
use super::super::{Ctx, fmt};
use crate::model::tables::BUSINESS_METRICS;
use crate::model::{BusinessStats, window_slots};

/// The metrics shown first, with their labels.
const KNOWN: [(&str, &str); 4] = [
    ("revenue", "revenue"),
    ("credits_used", "credits"),
    ("conversions", "conversions"),
    ("signups", "signups"),
];

/// (metric, label) in display order: the known ones (always, so an empty
/// strip still says what it would show), then the rest alphabetically.
pub fn metrics(b: &BusinessStats) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = KNOWN
        .iter()
        .filter(|(m, _)| *m != "signups" || b.window.contains_key(*m) || b.today.contains_key(*m))
        .map(|(m, l)| (m.to_string(), l.to_string()))
        .collect();
    let mut others: Vec<&String> = b
        .window
        .keys()
        .chain(b.today.keys())
        .filter(|k| !KNOWN.iter().any(|(m, _)| m == k))
        .collect();
    others.sort();
    others.dedup();
    out.extend(others.into_iter().map(|k| (k.clone(), k.replace('_', " "))));
    out
}

pub struct BusinessPane<'a> {
    pub ctx: Ctx<'a>,
}

impl BusinessPane<'_> {
    /// The figures on one line: `revenue 599.70 (5,234.50) │ credits ...`.
    fn figures(&self) -> Vec<Span<'static>> {
        let t = self.ctx.theme();
        let b = self.ctx.state.business();
        let mut spans = Vec::new();
        for (i, (m, label)) in metrics(b).iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(t.sep(), t.muted()));
            }
            let w = b.window.get(m).copied().unwrap_or(0.0);
            spans.push(Span::styled(format!("{label} "), t.muted()));
            spans.push(Span::styled(fmt::amount(w), t.title(false)));
            if let Some(d) = b.today.get(m).copied() {
                spans.push(Span::styled(format!(" ({})", fmt::amount(d)), t.muted()));
            }
        }
        spans
    }

    /// The strip as one bare line, for short screens.
    fn render_line(&self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let focused = ctx.app.focus == PaneId::Business;
        let mut spans = vec![
            Span::styled(" 5 Business ", t.title(focused)),
            Span::raw(" "),
        ];
        let missing = ctx
            .state
            .tables_missing()
            .iter()
            .any(|m| m == BUSINESS_METRICS);
        if missing {
            spans.push(Span::styled(
                crate::model::tables::missing_message(BUSINESS_METRICS),
                t.warn(),
            ));
        } else if ctx.state.has_data() {
            spans.extend(self.figures());
        }
        buf.set_line(area.x, area.y, &Line::from(spans), area.width);
        if ctx.freshness().is_stale() {
            super::super::widgets::dim(area, buf);
        }
    }
}

impl Widget for BusinessPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.height < 3 {
            self.render_line(area, buf);
            return;
        }
        let ctx = self.ctx;
        let t = ctx.theme();
        let block = super::frame(
            &ctx,
            PaneId::Business,
            vec![Span::styled(
                format!(
                    "window (today {})",
                    ctx.state.business().today_zone.as_deref().unwrap_or("UTC")
                ),
                t.muted(),
            )],
            area.width,
        );
        let ph = super::placeholder(&ctx, &[BUSINESS_METRICS], None);
        super::render_framed(&ctx, block, area, buf, ph, |inner, buf| {
            if inner.height == 0 {
                return;
            }
            let b = ctx.state.business();
            let ms = metrics(b);
            buf.set_line(inner.x, inner.y, &Line::from(self.figures()), inner.width);
            if inner.height >= 2 && !b.series.is_empty() {
                // One sparkline per metric, side by side.
                let slots: Vec<i64> = window_slots(ctx.state.now(), ctx.state.window_secs())
                    .skip(1)
                    .collect();
                let n = ms.len().max(1) as u16;
                let each = inner.width / n;
                for (i, (m, label)) in ms.iter().enumerate() {
                    let per: std::collections::BTreeMap<i64, f64> = b
                        .series
                        .get(m)
                        .map(|s| s.iter().copied().collect())
                        .unwrap_or_default();
                    let vals: Vec<Option<f64>> = slots
                        .iter()
                        .map(|mm| Some(per.get(mm).copied().unwrap_or(0.0)))
                        .collect();
                    let lw = label.len() + 1;
                    let sw = (each as usize).saturating_sub(lw + 2);
                    let line = Line::from(vec![
                        Span::styled(format!("{label} "), t.muted()),
                        Span::styled(fmt::sparkline(&vals, sw, t.spark_levels()), t.accent()),
                    ]);
                    buf.set_line(inner.x + i as u16 * each, inner.y + 1, &line, each);
                }
            }
        });
    }
}
