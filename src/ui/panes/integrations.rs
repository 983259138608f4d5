//! Pane 2, Integrations: status (symbol, word and colour, so it reads on a
//! monochrome screen), success rate, p95, calls per minute, since when the
//! status holds, failures per minute (when wide) and the last error.
//! Failing integrations sort first. Rows left below the table (a wall
//! screen) get a log-scale chart of p95 per minute for each integration.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::chart::Strip;
use super::super::list::{Choices, ListState};
use super::super::mode::FilterTarget;
use super::super::pane::PaneId;
use super::super::theme::Theme;
use super::super::widgets::{self, Col, ListBody, ListRow};
use super::super::{Ctx, fmt};
use crate::model::tables::INTEGRATION_METRICS;
use crate::model::{Health, IntegrationStats};
use crate::store::State;

/// The sort columns, `s` steps through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Status,
    Name,
    Success,
    P95,
    CallsPerMin,
}

impl Choices for Sort {
    const ALL: &'static [Self] = &[
        Self::Status,
        Self::Name,
        Self::Success,
        Self::P95,
        Self::CallsPerMin,
    ];
    fn label(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Name => "name",
            Self::Success => "success",
            Self::P95 => "p95",
            Self::CallsPerMin => "calls/min",
        }
    }
}

/// Integrations passing the filter, in the chosen order.
pub fn items<'s>(state: &'s State, list: &ListState) -> Vec<&'s IntegrationStats> {
    let mut v: Vec<&IntegrationStats> = state
        .integrations()
        .iter()
        .filter(|i| list.matches(&format!("{} {}", i.name, Theme::health_word(i.status))))
        .collect();
    let q = |x: Option<f64>| x.unwrap_or(-1.0);
    match Sort::at(list.sort) {
        Sort::Status => {} // the store's order: down, degraded, unknown, healthy
        Sort::Name => v.sort_by(|a, b| a.name.cmp(&b.name)),
        Sort::Success => v.sort_by(|a, b| q(a.success_rate).total_cmp(&q(b.success_rate))),
        Sort::P95 => v.sort_by(|a, b| q(b.p95_ms).total_cmp(&q(a.p95_ms))),
        Sort::CallsPerMin => v.sort_by(|a, b| b.calls_per_min.total_cmp(&a.calls_per_min)),
    }
    if list.reversed {
        v.reverse();
    }
    v
}

/// The status cell: `✖ DOWN` in the status style.
pub fn status_span(t: &Theme, h: Health) -> Span<'static> {
    Span::styled(t.health_label(h), t.health(h))
}

pub struct IntegrationsPane<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for IntegrationsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let list = ctx.app.list(PaneId::Integrations);
        let rows = items(ctx.state, list);
        let all = ctx.state.integrations();
        let down = all.iter().filter(|i| i.status == Health::Down).count();
        let degraded = all.iter().filter(|i| i.status == Health::Degraded).count();
        let mut extra = vec![];
        if down > 0 {
            extra.push(Span::styled(
                format!("{down} down "),
                t.health(Health::Down),
            ));
        }
        if degraded > 0 {
            extra.push(Span::styled(
                format!("{degraded} degraded "),
                t.health(Health::Degraded),
            ));
        }
        if down + degraded == 0 && !all.is_empty() {
            extra.push(Span::styled(format!("all {} healthy", all.len()), t.ok()));
        }
        let block = super::frame(&ctx, PaneId::Integrations, extra, area.width);
        let empty = if all.is_empty() {
            Some(format!(
                "no integration calls {}",
                super::window_phrase(ctx.state)
            ))
        } else if rows.is_empty() {
            Some(format!("no integration matches /{}", list.filter))
        } else {
            None
        };
        let ph = super::placeholder(&ctx, &[INTEGRATION_METRICS], empty);
        super::render_framed(&ctx, block, area, buf, ph, |inner, buf| {
            // The table gets its rows; spare rows below it get a chart per
            // integration.
            let (table, charts) = super::table_then_charts(inner, rows.len());
            let drawn =
                widgets::list_or_message(table, buf, t, None, |_| body(&ctx, &rows, table.width));
            ctx.hit_rows(FilterTarget::Pane(PaneId::Integrations), drawn);
            if !charts.is_empty() {
                latency_charts(&ctx, &rows, charts, buf);
            }
        });
    }
}

/// The table: status, name, success, p95, calls/min, since, failures per
/// minute and the last error, as many columns as `w` (the inner width)
/// leaves room for.
fn body<'a>(ctx: &Ctx<'a>, rows: &[&IntegrationStats], w: u16) -> ListBody<'a, 'a> {
    let t = ctx.theme();
    let full = w >= 70;
    let trend_w: u16 = if w >= 96 { 16 } else { 0 };
    let mut cols = vec![
        Col::left("status", Constraint::Length(10)),
        Col::left("name", Constraint::Length(12)),
        Col::right("success", Constraint::Length(7)),
    ];
    if full {
        cols.push(Col::right("p95", Constraint::Length(6)));
    }
    cols.push(Col::right("calls/m", Constraint::Length(7)));
    if full {
        cols.push(Col::right("since", Constraint::Length(5)));
    }
    if trend_w > 0 {
        cols.push(Col::left("failures/min", Constraint::Length(trend_w)));
    }
    cols.push(Col::left("last error", Constraint::Fill(1)));
    let local = ctx.app.settings.local_time;
    let table_rows = rows
        .iter()
        .map(|i| {
            let failing = matches!(i.status, Health::Down | Health::Degraded);
            let name_style = if failing {
                t.health(i.status)
            } else {
                Style::new()
            };
            let success = i.success_rate.map_or("-".to_string(), fmt::pct);
            let mut cells = vec![
                Line::from(status_span(t, i.status)),
                Line::from(Span::styled(fmt::one_line(&i.name), name_style)),
                Line::from(Span::styled(
                    success,
                    if failing {
                        t.health(i.status)
                    } else {
                        Style::new()
                    },
                )),
            ];
            if full {
                cells.push(Line::from(fmt::ms(i.p95_ms)));
            }
            cells.push(Line::from(fmt::rate(i.calls_per_min)));
            if full {
                cells.push(Line::from(
                    i.status_since
                        .map_or("-".to_string(), |s| fmt::clock_hm(s, local)),
                ));
            }
            if trend_w > 0 {
                let fails: Vec<Option<f64>> =
                    i.series.iter().map(|p| Some(p.failures as f64)).collect();
                cells.push(Line::styled(
                    fmt::sparkline(&fails, trend_w as usize, t.spark_levels()),
                    t.health(Health::Down),
                ));
            }
            let err = match (&i.last_error, i.last_error_at) {
                (Some(e), Some(at)) => {
                    let style = if failing { Style::new() } else { t.muted() };
                    Line::from(vec![
                        Span::styled(format!("{} ago ", fmt::age(ctx.now, at)), t.muted()),
                        Span::styled(fmt::one_line(e), style),
                    ])
                }
                _ => Line::styled("-", t.muted()),
            };
            cells.push(err);
            let row_style = if i.status == Health::Down {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            ListRow::new(i.name.clone(), cells).style(row_style)
        })
        .collect();
    ListBody {
        cols,
        rows: table_rows,
        list: ctx.app.list(PaneId::Integrations),
        focused: ctx.app.focus == PaneId::Integrations,
    }
}

/// Below the table, when rows are left: p95 latency per minute of each
/// integration (the first ones, when not all fit), one strip each on a
/// shared log scale, coloured by status.
fn latency_charts(ctx: &Ctx, rows: &[&IntegrationStats], area: Rect, buf: &mut Buffer) {
    let t = ctx.theme();
    let first = rows
        .iter()
        .filter_map(|i| i.series.first())
        .map(|p| p.minute)
        .min();
    let items: Vec<Strip> = rows
        .iter()
        .map(|i| Strip {
            label: i.name.clone(),
            values: i.series.iter().map(|p| p.p95_ms).collect(),
            style: t.health(i.status),
            theme: t,
        })
        .collect();
    super::strip_charts(ctx, area, buf, first, items, 14);
}
