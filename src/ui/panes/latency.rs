//! Pane 1, API latency: one row per endpoint with requests per second,
//! error rate, p50/p95/p99 and a sparkline of p95 per minute over the
//! window. Worst error rate first by default; `s` cycles the sort column.
//! Rows left below the table (a wall screen) get a log-scale chart of p95
//! per minute for each endpoint, or for the first ones (in the table's
//! order) when not all of them fit.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::chart::Strip;
use super::super::list::{Choices, ListState};
use super::super::mode::FilterTarget;
use super::super::pane::PaneId;
use super::super::widgets::{self, Col, ListBody, ListRow};
use super::super::{Ctx, fmt};
use crate::model::EndpointStats;
use crate::model::tables::API_CALLS;
use crate::store::State;

/// The sort columns, `s` steps through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Errors,
    Requests,
    P50,
    P95,
    P99,
    Endpoint,
}

impl Choices for Sort {
    const ALL: &'static [Self] = &[
        Self::Errors,
        Self::Requests,
        Self::P50,
        Self::P95,
        Self::P99,
        Self::Endpoint,
    ];
    fn label(self) -> &'static str {
        match self {
            Self::Errors => "errors",
            Self::Requests => "req/s",
            Self::P50 => "p50",
            Self::P95 => "p95",
            Self::P99 => "p99",
            Self::Endpoint => "endpoint",
        }
    }
}

/// The row key (and the text shown): `POST /api/x`.
pub fn key(e: &EndpointStats) -> String {
    e.key().to_string()
}

/// Endpoints passing the filter, in the chosen order.
pub fn items<'s>(state: &'s State, list: &ListState) -> Vec<&'s EndpointStats> {
    let mut v: Vec<&EndpointStats> = state
        .endpoints()
        .iter()
        .filter(|e| list.matches(&key(e)))
        .collect();
    let q = |x: Option<f64>| x.unwrap_or(-1.0);
    match Sort::at(list.sort) {
        Sort::Errors => {} // the store's order: worst error rate, then busiest
        Sort::Requests => v.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| key(a).cmp(&key(b)))
        }),
        Sort::P50 => v.sort_by(|a, b| q(b.p50_ms).total_cmp(&q(a.p50_ms))),
        Sort::P95 => v.sort_by(|a, b| q(b.p95_ms).total_cmp(&q(a.p95_ms))),
        Sort::P99 => v.sort_by(|a, b| q(b.p99_ms).total_cmp(&q(a.p99_ms))),
        Sort::Endpoint => v.sort_by_key(|e| key(e)),
    }
    if list.reversed {
        v.reverse();
    }
    v
}

/// Style of an error rate: red from 5 %, yellow from 1 %.
pub fn error_style(ctx: &Ctx, rate: f64) -> Style {
    let t = ctx.theme();
    if rate >= 0.05 {
        t.bad()
    } else if rate >= 0.01 {
        t.warn()
    } else {
        Style::new()
    }
}

pub struct LatencyPane<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for LatencyPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let list = ctx.app.list(PaneId::Latency);
        let rows = items(ctx.state, list);
        let n = ctx.state.endpoints().len();
        let extra = vec![Span::styled(format!("{n} endpoints"), t.muted())];
        let block = super::frame(&ctx, PaneId::Latency, extra, area.width);
        let empty = if n == 0 {
            Some(format!(
                "no API calls {} — is the platform writing to {API_CALLS}?",
                super::window_phrase(ctx.state)
            ))
        } else if rows.is_empty() {
            Some(format!("no endpoint matches /{}", list.filter))
        } else {
            None
        };
        let ph = super::placeholder(&ctx, &[API_CALLS], empty);
        super::render_framed(&ctx, block, area, buf, ph, |inner, buf| {
            // The table gets its rows; spare rows below it get a chart per
            // endpoint.
            let (table, charts) = super::table_then_charts(inner, rows.len());
            let drawn =
                widgets::list_or_message(table, buf, t, None, |_| body(&ctx, &rows, table.width));
            ctx.hit_rows(FilterTarget::Pane(PaneId::Latency), drawn);
            if !charts.is_empty() {
                trend_charts(&ctx, &rows, charts, buf);
            }
        });
    }
}

/// The table: endpoint, req/s, err%, p50/p95/p99 and a p95 sparkline, as
/// many columns as `w` (the inner width) leaves room for.
fn body<'a>(ctx: &Ctx<'a>, rows: &[&EndpointStats], w: u16) -> ListBody<'a, 'a> {
    let t = ctx.theme();
    let full = w >= 62;
    let spark_w: u16 = if w >= 100 {
        24
    } else if w >= 52 {
        12
    } else {
        0
    };
    let num = |title: &str| Col::right(title, Constraint::Length(6));
    let mut cols = vec![
        Col::left("endpoint", Constraint::Fill(1)),
        num("req/s"),
        num("err%"),
    ];
    if full {
        cols.push(num("p50"));
    }
    cols.push(num("p95"));
    if full {
        cols.push(num("p99"));
    }
    if spark_w > 0 {
        cols.push(Col::left("p95 trend", Constraint::Length(spark_w)));
    }
    let levels = t.spark_levels();
    let table_rows = rows
        .iter()
        .map(|e| {
            let mut cells = vec![
                Line::from(fmt::one_line(&key(e))),
                Line::from(fmt::rate(e.rps)),
                Line::from(Span::styled(
                    fmt::pct(e.error_rate),
                    error_style(ctx, e.error_rate),
                )),
            ];
            if full {
                cells.push(Line::from(fmt::ms(e.p50_ms)));
            }
            cells.push(Line::from(fmt::ms(e.p95_ms)));
            if full {
                cells.push(Line::from(fmt::ms(e.p99_ms)));
            }
            if spark_w > 0 {
                let vals: Vec<Option<f64>> = e.series.iter().map(|p| p.p95_ms).collect();
                cells.push(Line::styled(
                    fmt::sparkline(&vals, spark_w as usize, levels),
                    t.accent(),
                ));
            }
            ListRow::new(key(e), cells)
        })
        .collect();
    ListBody {
        cols,
        rows: table_rows,
        list: ctx.app.list(PaneId::Latency),
        focused: ctx.app.focus == PaneId::Latency,
    }
}

/// Below the table, when rows are left: p95 per minute of each endpoint
/// (the first ones, when not all fit), one strip each on a shared log
/// scale, as tall as the rows allow.
fn trend_charts(ctx: &Ctx, rows: &[&EndpointStats], area: Rect, buf: &mut Buffer) {
    let t = ctx.theme();
    let first = rows
        .iter()
        .filter_map(|e| e.series.first())
        .map(|p| p.minute)
        .min();
    let items: Vec<Strip> = rows
        .iter()
        .map(|e| Strip {
            label: key(e),
            values: e.series.iter().map(|p| p.p95_ms).collect(),
            style: if e.error_rate >= 0.05 {
                t.bad()
            } else {
                t.accent()
            },
            theme: t,
        })
        .collect();
    let label_w = rows
        .iter()
        .map(|e| fmt::width(&key(e)) as u16 + 2)
        .max()
        .unwrap_or(0)
        .clamp(12, 36);
    super::strip_charts(ctx, area, buf, first, items, label_w);
}
