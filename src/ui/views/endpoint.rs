//! The endpoint drill-down: its numbers, a latency chart (p95 per minute
//! with requests for scale), the status-code breakdown, recent errors
//! (Enter shows one in full) and the slowest recent calls.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::super::chart::{Bars, PointChart, Series, ms_tick};
use super::super::list::ListState;
use super::super::nav::{DetailState, EndpointSection as Section, FailedCall, View};
use super::super::panes::latency::error_style;
use super::super::widgets::{self, Col, ListRow};
use super::super::{Ctx, fmt};
use super::{gone, muted, section, section_frame};
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

fn call_key(c: &ApiCall) -> String {
    c.id.to_string()
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

/// The calls `section` lists, in display order.
fn calls<'s>(
    state: &'s State,
    key: &EndpointKey,
    section: Section,
    list: &ListState,
) -> Vec<&'s ApiCall> {
    match section {
        Section::Errors => errors(state, key, list),
        Section::Slow => slow(state, key, list),
    }
}

/// The row keys of `section`, in display order.
pub fn section_keys(
    state: &State,
    key: &EndpointKey,
    section: Section,
    list: &ListState,
) -> Vec<String> {
    calls(state, key, section, list)
        .into_iter()
        .map(call_key)
        .collect()
}

/// The view Enter opens: a recent error in full.
pub fn open(state: &State, key: &EndpointKey, d: &DetailState) -> Option<View> {
    let list = d.list();
    match d.focused::<Section>() {
        Section::Errors => list
            .pick(errors(state, key, list), call_key)
            .map(|c| View::Call(Box::new(FailedCall::Api(c.clone())))),
        Section::Slow => None,
    }
}

pub struct EndpointView<'a> {
    pub ctx: Ctx<'a>,
    pub key: &'a EndpointKey,
}

impl Widget for EndpointView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let name = self.key.to_string();
        let Some(e) = ctx
            .state
            .endpoints()
            .iter()
            .find(|e| e.endpoint == self.key.endpoint && e.method == self.key.method)
        else {
            let why = format!(
                "no calls {} — Esc goes back",
                super::super::panes::window_phrase(ctx.state)
            );
            return gone(&ctx, &name, &why, area, buf);
        };
        let [summary, charts, lists] = layout(area);
        let [chart, codes] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(charts);
        let [errors, slow] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(lists);
        self.summary(e, &name, summary, buf);
        self.latency_chart(e, chart, buf);
        self.codes(e, codes, buf);
        self.calls(Section::Errors, errors, buf);
        self.calls(Section::Slow, slow, buf);
        if ctx.freshness().is_stale() {
            widgets::dim(area, buf);
        }
    }
}

/// Summary, charts (when there is room), the two lists.
fn layout(area: Rect) -> [Rect; 3] {
    let summary_h = 4u16.min(area.height);
    let rest = area.height.saturating_sub(summary_h);
    let charts_h = if rest >= 16 {
        (rest * 4 / 10).max(6)
    } else if rest >= 10 {
        5
    } else {
        0
    };
    Layout::vertical([
        Constraint::Length(summary_h),
        Constraint::Length(charts_h),
        Constraint::Min(0),
    ])
    .areas(area)
}

impl EndpointView<'_> {
    /// Requests, errors, 4xx; p50/p95/p99.
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
        let l2 = widgets::percentiles(t, e.p50_ms, e.p95_ms, e.p99_ms);
        Paragraph::new(vec![Line::from(l1), Line::from(l2)]).render(inner, buf);
    }

    /// p95 per minute, with requests per minute below it for scale.
    fn latency_chart(&self, e: &EndpointStats, area: Rect, buf: &mut Buffer) {
        if area.height == 0 {
            return;
        }
        let ctx = self.ctx;
        let t = ctx.theme();
        let g = t.series_glyphs();
        let s = t.series();
        let span = super::span_label(&ctx, e.series.first().map(|p| p.minute));
        let title = format!("log p95 and requests per minute{span}");
        let block = section_frame(&ctx, &title, None, false, None)
            .title(Line::from(Span::styled(format!("{} p95 ", g[1]), s[1])).right_aligned());
        let inner = block.inner(area);
        block.render(area, buf);
        let [top, bottom] = if inner.height >= 6 {
            Layout::vertical([Constraint::Percentage(70), Constraint::Percentage(30)]).areas(inner)
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
            y_label: ms_tick,
            log: true,
            overlap: None,
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
    }

    /// Requests by status code, most frequent first, with a bar each.
    fn codes(&self, e: &EndpointStats, area: Rect, buf: &mut Buffer) {
        if area.height == 0 {
            return;
        }
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

    /// The recent errors or the slowest recent calls.
    fn calls(&self, section_: Section, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let list = ctx.app.nav.top().detail.list_of(section_);
        let local = ctx.app.settings.local_time;
        let (title, empty, last) = match section_ {
            Section::Errors => ("recent errors", "no errors in the window", "error"),
            Section::Slow => ("slowest recent calls", "no slow calls recorded", "user"),
        };
        let cols = vec![
            Col::left("time", Constraint::Length(8)),
            Col::right("code", Constraint::Length(4)),
            Col::right("took", Constraint::Length(6)),
            Col::left(last, Constraint::Fill(1)),
        ];
        let rows = calls(ctx.state, self.key, section_, list)
            .into_iter()
            .map(|c| {
                let last = match section_ {
                    Section::Errors => widgets::error_text(c.error.as_deref()),
                    Section::Slow => c.user_id.map_or("-".into(), |u| u.to_string()),
                };
                ListRow::new(
                    call_key(c),
                    vec![
                        Line::from(fmt::time_or_date(ctx.now, c.at, local)),
                        Line::from(widgets::status_code(c.status_code)),
                        Line::from(fmt::ms(c.response_ms.map(f64::from))),
                        Line::from(last),
                    ],
                )
            })
            .collect();
        section(
            &ctx,
            area,
            buf,
            section_,
            title,
            muted(&ctx, empty),
            cols,
            rows,
        );
    }
}
