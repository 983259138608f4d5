//! The integration drill-down: status and since when, the numbers behind
//! it, what the platform itself reports, a status timeline over the window,
//! latency (p50/p95/p99) and error-rate charts, the recent errors, the
//! related alerts and the API endpoints whose errors rose with it.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::super::list::ListState;
use super::super::nav::{DetailState, IntegrationSection as Section, View};
use super::super::panes::alerts::severity_span;
use super::super::panes::integrations::status_span;
use super::super::widgets::{self, Bars, Col, PointChart, Series};
use super::super::{Ctx, fmt};
use super::section_frame;
use crate::model::{AlertView, Health, IntegrationCall, IntegrationStats};
use crate::store::{EndpointRise, State};

pub fn errors<'s>(state: &'s State, name: &str, list: &ListState) -> Vec<&'s IntegrationCall> {
    state
        .integration_errors()
        .filter(|c| c.integration == name)
        .filter(|c| {
            list.matches(&format!(
                "{} {} {}",
                c.operation.as_deref().unwrap_or(""),
                c.status_code.map(|s| s.to_string()).unwrap_or_default(),
                c.error.as_deref().unwrap_or("")
            ))
        })
        .collect()
}

pub fn alerts<'s>(state: &'s State, name: &str, list: &ListState) -> Vec<&'s AlertView> {
    state
        .alerts()
        .iter()
        .filter(|a| a.integration.as_deref() == Some(name))
        .filter(|a| list.matches(&a.title))
        .collect()
}

pub fn rises<'s>(state: &'s State, name: &str, list: &ListState) -> Vec<&'s EndpointRise> {
    state
        .endpoint_rises(name)
        .iter()
        .filter(|r| list.matches(&r.key().to_string()))
        .collect()
}

fn call_key(c: &IntegrationCall) -> String {
    c.id.to_string()
}

fn alert_key(a: &AlertView) -> String {
    a.id.to_string()
}

fn rise_key(r: &EndpointRise) -> String {
    r.key().to_string()
}

/// The row keys of `section`, in display order.
pub fn section_keys(state: &State, name: &str, section: Section, list: &ListState) -> Vec<String> {
    match section {
        Section::Errors => errors(state, name, list)
            .into_iter()
            .map(call_key)
            .collect(),
        Section::Alerts => alerts(state, name, list)
            .into_iter()
            .map(alert_key)
            .collect(),
        Section::Endpoints => rises(state, name, list).into_iter().map(rise_key).collect(),
    }
}

/// The view Enter opens from the focused section's selected row.
pub fn open(state: &State, name: &str, d: &DetailState) -> Option<View> {
    let list = d.list();
    match d.focused::<Section>() {
        Section::Errors => None,
        Section::Alerts => selected_alert(state, name, d).map(View::Alert),
        Section::Endpoints => list
            .pick(rises(state, name, list), rise_key)
            .map(|r| View::Endpoint(r.key())),
    }
}

/// The alert selected when the related alerts have the focus.
pub fn selected_alert(state: &State, name: &str, d: &DetailState) -> Option<i64> {
    let list = d.list();
    match d.focused::<Section>() {
        Section::Alerts => list
            .pick(alerts(state, name, list), alert_key)
            .map(|a| a.id),
        _ => None,
    }
}

pub struct IntegrationView<'a> {
    pub ctx: Ctx<'a>,
    pub name: &'a str,
}

impl Widget for IntegrationView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let Some(i) = ctx.state.integration(self.name) else {
            let block = widgets::frame(
                t,
                true,
                widgets::pane_title(t, None, self.name, true, vec![]),
                vec![],
            );
            let inner = block.inner(area);
            block.render(area, buf);
            widgets::message(
                inner,
                buf,
                vec![Line::styled(
                    format!(
                        "no calls to {} {} — Esc goes back",
                        self.name,
                        super::super::panes::window_phrase(ctx.state)
                    ),
                    t.muted(),
                )],
            );
            return;
        };
        let detail = &ctx.app.nav.top().detail;
        let both = i.reported.is_some() && i.last_error.is_some();
        let summary_h = (6 + u16::from(both)).min(area.height);
        let rest = area.height.saturating_sub(summary_h);
        let (charts_h, errors_h, related_h) = if rest >= 24 {
            let c = rest * 3 / 10;
            let e = (rest - c) / 2 + (rest - c) % 2;
            (c, e, rest - c - e)
        } else if rest >= 14 {
            let c = 5;
            let e = (rest - c) / 2 + (rest - c) % 2;
            (c, e, rest - c - e)
        } else if rest >= 8 {
            (0, rest - rest / 2, rest / 2)
        } else {
            (0, rest, 0)
        };
        let [sum, charts, errs, related] = Layout::vertical([
            Constraint::Length(summary_h),
            Constraint::Length(charts_h),
            Constraint::Length(errors_h),
            Constraint::Length(related_h),
        ])
        .areas(area);

        self.summary(i, sum, buf);
        if charts.height > 0 {
            let [lat, err] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(charts);
            let g = t.series_glyphs();
            let s = t.series();
            let span = super::span_label(&ctx, i.series.first().map(|p| p.minute));
            let block = section_frame(&ctx, &format!("latency{span}"), None, false, None).title(
                Line::from(vec![
                    Span::styled(format!("{} p50 ", g[0]), s[0]),
                    Span::styled(format!("{} p95 ", g[1]), s[1]),
                    Span::styled(format!("{} p99 ", g[2]), s[2]),
                ])
                .right_aligned(),
            );
            let inner = block.inner(lat);
            block.render(lat, buf);
            PointChart {
                series: vec![
                    Series {
                        name: "p50",
                        glyph: g[0],
                        style: s[0],
                        values: i.series.iter().map(|p| p.p50_ms).collect(),
                    },
                    Series {
                        name: "p95",
                        glyph: g[1],
                        style: s[1],
                        values: i.series.iter().map(|p| p.p95_ms).collect(),
                    },
                    Series {
                        name: "p99",
                        glyph: g[2],
                        style: s[2],
                        values: i.series.iter().map(|p| p.p99_ms).collect(),
                    },
                ],
                y_label: |v| fmt::ms(Some(v)),
                theme: t,
            }
            .render(inner, buf);
            let block = section_frame(&ctx, &format!("failed %/min{span}"), None, false, None);
            let inner = block.inner(err);
            block.render(err, buf);
            Bars {
                values: i
                    .series
                    .iter()
                    .map(|p| (p.calls > 0).then(|| p.failures as f64 / p.calls as f64))
                    .collect(),
                y_label: |v| format!("{:.0}%", v * 100.0),
                style: t.health(Health::Down),
                theme: t,
            }
            .render(inner, buf);
        }

        // Recent errors.
        if errs.height > 0 {
            let list = detail.list_of(Section::Errors);
            let rows = errors(ctx.state, &i.name, list);
            let focused = detail.is_focused(Section::Errors);
            let block = section_frame(&ctx, "recent errors", Some(rows.len()), focused, Some(list));
            let inner = block.inner(errs);
            block.render(errs, buf);
            if rows.is_empty() {
                widgets::message(
                    inner,
                    buf,
                    vec![Line::styled("no failed calls in the window", t.muted())],
                );
            } else {
                let local = ctx.app.settings.local_time;
                let cols = [
                    Col::left("time", Constraint::Length(8)),
                    Col::left("operation", Constraint::Length(16)),
                    Col::right("code", Constraint::Length(4)),
                    Col::right("took", Constraint::Length(6)),
                    Col::left("error", Constraint::Fill(1)),
                ];
                let keys: Vec<String> = rows.iter().map(|c| c.id.to_string()).collect();
                let table_rows = rows
                    .iter()
                    .map(|c| {
                        (
                            vec![
                                Line::from(fmt::time_or_date(ctx.now, c.at, local)),
                                Line::from(fmt::one_line(c.operation.as_deref().unwrap_or("-"))),
                                Line::from(c.status_code.map_or("-".into(), |s| s.to_string())),
                                Line::from(fmt::ms(c.duration_ms.map(f64::from))),
                                Line::from(fmt::one_line(
                                    c.error.as_deref().unwrap_or("(no error text)"),
                                )),
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

        // Related alerts and endpoints.
        if related.height > 0 {
            let [al, ep] =
                Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(related);
            let list = detail.list_of(Section::Alerts);
            let rows = alerts(ctx.state, &i.name, list);
            let focused = detail.is_focused(Section::Alerts);
            let block = section_frame(
                &ctx,
                "related alerts",
                Some(rows.len()),
                focused,
                Some(list),
            );
            let inner = block.inner(al);
            block.render(al, buf);
            if rows.is_empty() {
                widgets::message(
                    inner,
                    buf,
                    vec![Line::styled("no alerts name it", t.muted())],
                );
            } else {
                let cols = [
                    Col::left("sev", Constraint::Length(4)),
                    Col::right("age", Constraint::Length(4)),
                    Col::left("title", Constraint::Fill(1)),
                ];
                let keys: Vec<String> = rows.iter().map(|a| a.id.to_string()).collect();
                let table_rows = rows
                    .iter()
                    .map(|a| {
                        let style = if a.acknowledged {
                            t.muted()
                        } else {
                            Style::new()
                        };
                        (
                            vec![
                                Line::from(severity_span(t, a.severity)),
                                Line::from(fmt::age(ctx.now, a.created_at)),
                                Line::from(fmt::one_line(&a.title)),
                            ],
                            style,
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

            let list = detail.list_of(Section::Endpoints);
            let rows = rises(ctx.state, &i.name, list);
            let focused = detail.is_focused(Section::Endpoints);
            let block = section_frame(
                &ctx,
                "endpoints whose errors rose with it",
                Some(rows.len()),
                focused,
                Some(list),
            );
            let inner = block.inner(ep);
            block.render(ep, buf);
            if rows.is_empty() {
                let msg = if matches!(i.status, Health::Down | Health::Degraded) {
                    "no endpoint's error rate rose with it"
                } else {
                    "shown while the integration is failing"
                };
                widgets::message(inner, buf, vec![Line::styled(msg, t.muted())]);
            } else {
                let cols = [
                    Col::left("endpoint", Constraint::Fill(1)),
                    Col::right("while", Constraint::Length(6)),
                    Col::right("before", Constraint::Length(6)),
                    Col::right("errors", Constraint::Length(6)),
                ];
                let keys: Vec<String> = rows.iter().map(|r| rise_key(r)).collect();
                let table_rows = rows
                    .iter()
                    .map(|r| {
                        (
                            vec![
                                Line::from(fmt::one_line(&rise_key(r))),
                                Line::from(Span::styled(fmt::pct(r.rate_during()), t.bad())),
                                Line::from(fmt::pct(r.rate_other())),
                                Line::from(fmt::count(r.during_errors)),
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

impl IntegrationView<'_> {
    fn summary(&self, i: &IntegrationStats, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let local = ctx.app.settings.local_time;
        let mut title = widgets::pane_title(t, None, &i.name, true, vec![status_span(t, i.status)]);
        if let Some(since) = i.status_since {
            title.push(Span::styled(
                format!(
                    " since {} ({})",
                    fmt::clock_hm(since, local),
                    fmt::span_secs((ctx.now - since).num_seconds())
                ),
                t.health(i.status),
            ));
        }
        title.push(Span::raw(" "));
        let right = widgets::freshness_spans(&ctx, &ctx.freshness());
        let block = widgets::frame(t, false, title, right);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let mut l1: Vec<Span> = vec![
            Span::styled(fmt::one_line(&i.reason), t.health(i.status)),
            Span::raw("  "),
        ];
        l1.extend(widgets::stat(
            t,
            "success",
            i.success_rate.map_or("-".into(), fmt::pct),
            Style::new(),
        ));
        l1.extend(widgets::stat(
            t,
            "calls",
            format!(
                "{} ({}/min)",
                fmt::count(i.calls),
                fmt::rate(i.calls_per_min)
            ),
            Style::new(),
        ));
        l1.extend(widgets::stat(
            t,
            "failed",
            fmt::count(i.failures),
            if i.failures > 0 {
                t.warn()
            } else {
                Style::new()
            },
        ));
        let mut l2: Vec<Span> = vec![];
        l2.extend(widgets::stat(t, "p50", fmt::ms(i.p50_ms), Style::new()));
        l2.extend(widgets::stat(t, "p95", fmt::ms(i.p95_ms), Style::new()));
        l2.extend(widgets::stat(t, "p99", fmt::ms(i.p99_ms), Style::new()));
        l2.extend(widgets::stat(
            t,
            "last ok",
            i.last_success_at.map_or("never in window".into(), |s| {
                format!("{} ago", fmt::age(ctx.now, s))
            }),
            Style::new(),
        ));
        if let Some(at) = i.last_error_at {
            l2.extend(widgets::stat(
                t,
                "last error",
                format!("{} ago", fmt::age(ctx.now, at)),
                Style::new(),
            ));
        }
        let mut lines = vec![Line::from(l1), Line::from(l2)];
        // What the platform reports, or the last error.
        let l3 = match (&i.reported, &i.last_error) {
            (Some(r), _) => {
                let h = Health::from_word(&r.status);
                vec![
                    Span::styled("platform reports ", t.muted()),
                    Span::styled(fmt::one_line(&r.status), t.health(h)),
                    Span::styled(
                        format!(" ({} ago)", fmt::age(ctx.now, r.checked_at)),
                        t.muted(),
                    ),
                    Span::raw(" "),
                    Span::raw(fmt::one_line(r.message.as_deref().unwrap_or(""))),
                ]
            }
            (None, Some(e)) => vec![
                Span::styled("last error ", t.muted()),
                Span::raw(fmt::one_line(e)),
            ],
            (None, None) => vec![Span::styled("no errors in the window", t.muted())],
        };
        lines.push(Line::from(l3));
        if let (Some(_), Some(e)) = (&i.reported, &i.last_error) {
            lines.push(Line::from(vec![
                Span::styled("last error ", t.muted()),
                Span::raw(fmt::one_line(e)),
            ]));
        }
        Paragraph::new(lines).render(inner, buf);
        // The status timeline on the last line of the summary.
        if inner.height >= 4 {
            let label = "status ";
            let y = inner.bottom() - 1;
            buf.set_string(inner.x, y, label, t.muted());
            let start = i.series.first().map(|p| p.minute);
            let span_label = start.map(|m| {
                format!(
                    " {}-now",
                    fmt::clock_hm(crate::model::minute_start(m), local)
                )
            });
            let tail = span_label.unwrap_or_default();
            let w = (inner.width as usize).saturating_sub(label.len() + fmt::width(&tail));
            let statuses: Vec<Option<Health>> = i.series.iter().map(|p| Some(p.status)).collect();
            let line = widgets::timeline(t, &statuses, w);
            buf.set_line(inner.x + label.len() as u16, y, &line, w as u16);
            buf.set_string(inner.x + (label.len() + w) as u16, y, tail, t.muted());
        }
    }
}
