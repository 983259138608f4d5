//! The endpoint drill-down: its numbers, a latency chart (p95 per minute
//! with requests for scale), the status-code breakdown, recent errors and
//! the slowest recent calls.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::super::list::ListState;
use super::super::nav::EndpointSection as Section;
use super::super::panes::latency::error_style;
use super::super::widgets::{self, Bars, Col, PointChart, Series};
use super::super::{Ctx, fmt};
use super::section_frame;
use crate::model::{ApiCall, EndpointKey, EndpointStats};
use crate::store::State;

fn is(c: &ApiCall, key: &EndpointKey) -> bool {
    c.endpoint == key.endpoint && c.method == key.method
}

fn call_text(c: &ApiCall) -> String {
    format!(
        "{} {} {}",
        c.status_code.map(|s| s.to_string()).unwrap_or_default(),
        c.user_id.map(|s| s.to_string()).unwrap_or_default(),
        c.error.as_deref().unwrap_or("")
    )
}

pub fn errors<'s>(state: &'s State, key: &EndpointKey, list: &ListState) -> Vec<&'s ApiCall> {
    state
        .api_errors()
        .filter(|c| is(c, key) && list.matches(&call_text(c)))
        .collect()
}

/// Recent slow calls, slowest first.
pub fn slow<'s>(state: &'s State, key: &EndpointKey, list: &ListState) -> Vec<&'s ApiCall> {
    let mut v: Vec<&ApiCall> = state
        .api_slow()
        .filter(|c| is(c, key) && list.matches(&call_text(c)))
        .collect();
    v.sort_by(|a, b| b.response_ms.cmp(&a.response_ms).then(b.at.cmp(&a.at)));
    v
}

pub fn section_keys(
    state: &State,
    key: &EndpointKey,
    section: Section,
    list: &ListState,
) -> Vec<String> {
    let v = match section {
        Section::Errors => errors(state, key, list),
        Section::Slow => slow(state, key, list),
    };
    v.iter().map(|c| c.id.to_string()).collect()
}

pub struct EndpointView<'a> {
    pub ctx: Ctx<'a>,
    pub key: &'a EndpointKey,
}

impl Widget for EndpointView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let name = self.key.to_string();
        let Some(e) = ctx
            .state
            .endpoints()
            .iter()
            .find(|e| e.endpoint == self.key.endpoint && e.method == self.key.method)
        else {
            let block = widgets::frame(
                t,
                true,
                widgets::pane_title(t, None, &name, true, vec![]),
                vec![],
            );
            let inner = block.inner(area);
            block.render(area, buf);
            widgets::message(
                inner,
                buf,
                vec![Line::styled(
                    format!(
                        "no calls {} — Esc goes back",
                        super::super::panes::window_phrase(ctx.state)
                    ),
                    t.muted(),
                )],
            );
            return;
        };
        let detail = &ctx.app.nav.top().detail;
        let summary_h = 4u16.min(area.height);
        let rest = area.height.saturating_sub(summary_h);
        let charts_h = if rest >= 16 {
            (rest * 4 / 10).max(6)
        } else if rest >= 10 {
            5
        } else {
            0
        };
        let [sum, charts, lists] = Layout::vertical([
            Constraint::Length(summary_h),
            Constraint::Length(charts_h),
            Constraint::Min(0),
        ])
        .areas(area);
        self.summary(e, &name, sum, buf);

        if charts.height > 0 {
            let [lat, codes] =
                Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                    .areas(charts);
            let g = t.series_glyphs();
            let s = t.series();
            let span = super::span_label(&ctx, e.series.first().map(|p| p.minute));
            let block = section_frame(
                &ctx,
                &format!("p95 and requests per minute{span}"),
                None,
                false,
                None,
            )
            .title(Line::from(Span::styled(format!("{} p95 ", g[1]), s[1])).right_aligned());
            let inner = block.inner(lat);
            block.render(lat, buf);
            let [top, bottom] = if inner.height >= 6 {
                Layout::vertical([Constraint::Percentage(70), Constraint::Percentage(30)])
                    .areas(inner)
            } else {
                [inner, Rect::default()]
            };
            PointChart {
                series: vec![Series {
                    name: "p95",
                    glyph: g[1],
                    style: s[1],
                    values: e.series.iter().map(|p| p.p95_ms).collect(),
                }],
                y_label: |v| fmt::ms(Some(v)),
                theme: t,
            }
            .render(top, buf);
            if !bottom.is_empty() {
                Bars {
                    values: e.series.iter().map(|p| Some(p.requests as f64)).collect(),
                    y_label: |v| format!("{v:.0}/m"),
                    style: t.accent(),
                    theme: t,
                }
                .render(bottom, buf);
            }
            self.codes(e, codes, buf);
        }

        if lists.height > 0 {
            let [errs, slows] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(lists);
            let local = ctx.app.settings.local_time;
            for (section, r) in [(Section::Errors, errs), (Section::Slow, slows)] {
                let list = detail.list_of(section);
                let rows = match section {
                    Section::Errors => errors(ctx.state, self.key, list),
                    Section::Slow => slow(ctx.state, self.key, list),
                };
                let focused = detail.is_focused(section);
                let title = if section == Section::Errors {
                    "recent errors"
                } else {
                    "slowest recent calls"
                };
                let block = section_frame(&ctx, title, Some(rows.len()), focused, Some(list));
                let inner = block.inner(r);
                block.render(r, buf);
                if rows.is_empty() {
                    let msg = if section == Section::Errors {
                        "no errors in the window"
                    } else {
                        "no slow calls recorded"
                    };
                    widgets::message(inner, buf, vec![Line::styled(msg, t.muted())]);
                    continue;
                }
                let cols = [
                    Col::left("time", Constraint::Length(8)),
                    Col::right("code", Constraint::Length(4)),
                    Col::right("took", Constraint::Length(6)),
                    Col::left(
                        if section == Section::Errors {
                            "error"
                        } else {
                            "user"
                        },
                        Constraint::Fill(1),
                    ),
                ];
                let keys: Vec<String> = rows.iter().map(|c| c.id.to_string()).collect();
                let table_rows = rows
                    .iter()
                    .map(|c| {
                        let last = if section == Section::Errors {
                            fmt::one_line(c.error.as_deref().unwrap_or("(no error text)"))
                        } else {
                            c.user_id.map_or("-".into(), |u| u.to_string())
                        };
                        (
                            vec![
                                Line::from(fmt::time_or_date(ctx.now, c.at, local)),
                                Line::from(c.status_code.map_or("-".into(), |s| s.to_string())),
                                Line::from(fmt::ms(c.response_ms.map(f64::from))),
                                Line::from(last),
                            ],
                            Style::new(),
                        )
                    })
                    .collect();
                widgets::table(
                    inner,
                    buf,
                    t,
                    &cols,
                    table_rows,
                    widgets::Selection::of(list, &keys, focused),
                );
            }
        }
        if ctx.freshness().is_stale() {
            widgets::dim(area, buf);
        }
    }
}

impl EndpointView<'_> {
    fn summary(&self, e: &EndpointStats, name: &str, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let title = widgets::pane_title(t, None, &fmt::one_line(name), true, vec![]);
        let right = widgets::freshness_spans(&ctx, &ctx.freshness());
        let block = widgets::frame(t, false, title, right);
        let inner = block.inner(area);
        block.render(area, buf);
        let mut l1: Vec<Span> = vec![];
        l1.extend(widgets::stat(
            t,
            "requests",
            format!("{} ({}/s)", fmt::count(e.requests), fmt::rate(e.rps)),
            Style::new(),
        ));
        l1.extend(widgets::stat(
            t,
            "errors",
            format!("{} ({})", fmt::pct(e.error_rate), fmt::count(e.errors)),
            error_style(&ctx, e.error_rate),
        ));
        l1.extend(widgets::stat(
            t,
            "4xx",
            fmt::count(e.client_errors),
            Style::new(),
        ));
        let mut l2: Vec<Span> = vec![];
        l2.extend(widgets::stat(t, "p50", fmt::ms(e.p50_ms), Style::new()));
        l2.extend(widgets::stat(t, "p95", fmt::ms(e.p95_ms), Style::new()));
        l2.extend(widgets::stat(t, "p99", fmt::ms(e.p99_ms), Style::new()));
        Paragraph::new(vec![Line::from(l1), Line::from(l2)]).render(inner, buf);
    }

    fn codes(&self, e: &EndpointStats, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let block = section_frame(&ctx, "status codes", None, false, None);
        let inner = block.inner(area);
        block.render(area, buf);
        let total: u64 = e.status_codes.values().sum();
        let mut codes: Vec<(u16, u64)> = e.status_codes.iter().map(|(k, v)| (*k, *v)).collect();
        codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let label_w = 16usize; // "200  1,234 99.9% "
        let bar_w = (inner.width as usize).saturating_sub(label_w + 5);
        let lines: Vec<Line> = codes
            .iter()
            .take(inner.height as usize)
            .map(|(code, n)| {
                let share = if total > 0 {
                    *n as f64 / total as f64
                } else {
                    0.0
                };
                let style = match code {
                    0 | 500.. => t.bad(),
                    400..=499 => t.warn(),
                    _ => t.ok(),
                };
                let code_s = if *code == 0 {
                    "err".to_string()
                } else {
                    code.to_string()
                };
                let bar = t
                    .bar_full()
                    .repeat(((share * bar_w as f64).round() as usize).max(1));
                Line::from(vec![
                    Span::styled(format!("{code_s:>3} "), style),
                    Span::raw(format!("{:>7} {:>6} ", fmt::count(*n), fmt::pct(share))),
                    Span::styled(bar, style),
                ])
            })
            .collect();
        Paragraph::new(lines).render(inner, buf);
    }
}
