//! The integration drill-down: status and since when, the numbers behind
//! it, what the platform itself reports, a status timeline over the window,
//! latency (p50/p95/p99) and error-rate charts, the recent errors (Enter
//! shows one in full), the related alerts and the API endpoints whose
//! errors rose with it.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::super::chart::{Bars, PointChart, Series, ms_tick};
use super::super::list::ListState;
use super::super::nav::{DetailState, FailedCall, IntegrationSection as Section, View};
use super::super::panes::alerts;
use super::super::panes::integrations::status_span;
use super::super::widgets::{self, Col, ListRow};
use super::super::{Ctx, fmt};
use super::{gone, muted, section, section_frame};
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

pub fn related_alerts<'s>(state: &'s State, name: &str, list: &ListState) -> Vec<&'s AlertView> {
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
        Section::Alerts => related_alerts(state, name, list)
            .into_iter()
            .map(alerts::key)
            .collect(),
        Section::Endpoints => rises(state, name, list).into_iter().map(rise_key).collect(),
    }
}

/// The view Enter opens from the focused section's selected row.
pub fn open(state: &State, name: &str, d: &DetailState) -> Option<View> {
    let list = d.list();
    match d.focused::<Section>() {
        Section::Errors => list
            .pick(errors(state, name, list), call_key)
            .map(|c| View::Call(Box::new(FailedCall::Integration(c.clone())))),
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
            .pick(related_alerts(state, name, list), alerts::key)
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
        let Some(i) = ctx.state.integration(self.name) else {
            let why = format!(
                "no calls to {} {} — Esc goes back",
                self.name,
                super::super::panes::window_phrase(ctx.state)
            );
            return gone(&ctx, self.name, &why, area, buf);
        };
        let d = &ctx.app.nav.top().detail;
        let wants = Wants {
            errors: errors(ctx.state, &i.name, d.list_of(Section::Errors)).len(),
            related: related_alerts(ctx.state, &i.name, d.list_of(Section::Alerts))
                .len()
                .max(rises(ctx.state, &i.name, d.list_of(Section::Endpoints)).len()),
        };
        let [summary, charts, errors, related] = layout(i, area, wants);
        let [alerts, endpoints] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(related);
        self.summary(i, summary, buf);
        self.charts(i, charts, buf);
        self.errors(i, errors, buf);
        self.alerts(i, alerts, buf);
        self.endpoints(i, endpoints, buf);
        if ctx.freshness().is_stale() {
            widgets::dim(area, buf);
        }
    }
}

/// How many rows the lists have to show.
#[derive(Clone, Copy)]
struct Wants {
    errors: usize,
    /// The longer of the related alerts and endpoints.
    related: usize,
}

/// Summary, charts, errors, related lists. From 14 rows below the summary
/// the lists get the rows they have to show, the related lists within a
/// quarter and the errors within half of what is left (at least a row
/// each), and the charts the rest: so the charts grow as the lists run
/// short instead of the lists keeping blank rows. Below that the charts go
/// first, then the related lists.
fn layout(i: &IntegrationStats, area: Rect, wants: Wants) -> [Rect; 4] {
    let both = i.reported.is_some() && i.last_error.is_some();
    let summary_h = (6 + u16::from(both)).min(area.height);
    let rest = area.height.saturating_sub(summary_h);
    let list_rows = |n: usize| (n.clamp(1, 500) as u16) + 3;
    let (charts_h, errors_h, related_h) = if rest >= 14 {
        // rest >= 14 leaves the charts at least 5 rows.
        let related = list_rows(wants.related).min(rest / 4).max(4);
        let errors = list_rows(wants.errors).min((rest - related) / 2).max(5);
        (rest - related - errors, errors, related)
    } else if rest >= 8 {
        (0, rest - rest / 2, rest / 2)
    } else {
        (0, rest, 0)
    };
    Layout::vertical([
        Constraint::Length(summary_h),
        Constraint::Length(charts_h),
        Constraint::Length(errors_h),
        Constraint::Length(related_h),
    ])
    .areas(area)
}

impl IntegrationView<'_> {
    /// Title, status and since when; the numbers; what the platform reports
    /// or the last error; the status timeline.
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
        let mut lines = vec![self.counts(i), self.latencies(i)];
        lines.extend(self.reports(i));
        Paragraph::new(lines).render(inner, buf);
        if inner.height >= 4 {
            self.status_timeline(i, inner, buf);
        }
    }

    /// `reason  success 12%  calls 120 (8.00/min)  failed 32`
    fn counts(&self, i: &IntegrationStats) -> Line<'static> {
        let t = self.ctx.theme();
        let mut l: Vec<Span> = vec![
            Span::styled(fmt::one_line(&i.reason), t.health(i.status)),
            Span::raw("  "),
        ];
        l.extend(widgets::stat(
            t,
            "success",
            i.success_rate.map_or("-".into(), fmt::pct),
            Style::new(),
        ));
        l.extend(widgets::stat(
            t,
            "calls",
            format!(
                "{} ({}/min)",
                fmt::count(i.calls),
                fmt::rate(i.calls_per_min)
            ),
            Style::new(),
        ));
        let failed_style = if i.failures > 0 {
            t.warn()
        } else {
            Style::new()
        };
        l.extend(widgets::stat(
            t,
            "failed",
            fmt::count(i.failures),
            failed_style,
        ));
        Line::from(l)
    }

    /// `p50 …  p95 …  p99 …  last ok 4s ago  last error 2s ago`
    fn latencies(&self, i: &IntegrationStats) -> Line<'static> {
        let ctx = self.ctx;
        let t = ctx.theme();
        let mut l = widgets::percentiles(t, i.p50_ms, i.p95_ms, i.p99_ms);
        l.extend(widgets::stat(
            t,
            "last ok",
            i.last_success_at.map_or("never in window".into(), |s| {
                format!("{} ago", fmt::age(ctx.now, s))
            }),
            Style::new(),
        ));
        if let Some(at) = i.last_error_at {
            l.extend(widgets::stat(
                t,
                "last error",
                format!("{} ago", fmt::age(ctx.now, at)),
                Style::new(),
            ));
        }
        Line::from(l)
    }

    /// What the platform reports, and the last error (or that there is none).
    fn reports(&self, i: &IntegrationStats) -> Vec<Line<'static>> {
        let ctx = self.ctx;
        let t = ctx.theme();
        let last_error = |e: &str| {
            Line::from(vec![
                Span::styled("last error ", t.muted()),
                Span::raw(fmt::one_line(e)),
            ])
        };
        match (&i.reported, &i.last_error) {
            (Some(r), e) => {
                let h = Health::from_word(&r.status);
                let mut out = vec![Line::from(vec![
                    Span::styled("platform reports ", t.muted()),
                    Span::styled(fmt::one_line(&r.status), t.health(h)),
                    Span::styled(
                        format!(" ({} ago)", fmt::age(ctx.now, r.checked_at)),
                        t.muted(),
                    ),
                    Span::raw(" "),
                    Span::raw(fmt::one_line(r.message.as_deref().unwrap_or(""))),
                ])];
                out.extend(e.as_deref().map(last_error));
                out
            }
            (None, Some(e)) => vec![last_error(e)],
            (None, None) => vec![Line::styled("no errors in the window", t.muted())],
        }
    }

    /// `status ▁▁▁███ 11:45-now` on the last line of the summary.
    fn status_timeline(&self, i: &IntegrationStats, inner: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let label = "status ";
        let y = inner.bottom() - 1;
        buf.set_string(inner.x, y, label, t.muted());
        let tail = super::span_label(&ctx, i.series.first().map(|p| p.minute));
        let w = (inner.width as usize).saturating_sub(label.len() + fmt::width(&tail));
        let statuses: Vec<Option<Health>> = i.series.iter().map(|p| Some(p.status)).collect();
        let line = widgets::timeline(t, &statuses, w);
        buf.set_line(inner.x + label.len() as u16, y, &line, w as u16);
        buf.set_string(inner.x + (label.len() + w) as u16, y, tail, t.muted());
    }

    /// Latency percentiles and the share of failed calls per minute.
    fn charts(&self, i: &IntegrationStats, area: Rect, buf: &mut Buffer) {
        if area.height == 0 {
            return;
        }
        let ctx = self.ctx;
        let t = ctx.theme();
        let [lat, err] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(area);
        let g = t.series_glyphs();
        let s = t.series();
        let span = super::span_label(&ctx, i.series.first().map(|p| p.minute));
        let legend = Line::from(vec![
            Span::styled(format!("{} p50 ", g[0]), s[0]),
            Span::styled(format!("{} p95 ", g[1]), s[1]),
            Span::styled(format!("{} p99 ", g[2]), s[2]),
            Span::styled(format!("{} same ", t.overlap_glyph()), t.muted()),
        ]);
        // The time span goes when title and legend would not both fit.
        let mut title = format!("log latency{span}");
        if fmt::width(&title) + legend.width() + 6 > usize::from(lat.width) {
            title = "log latency".into();
        }
        let block = section_frame(&ctx, &title, None, false, None).title(legend.right_aligned());
        let inner = block.inner(lat);
        block.render(lat, buf);
        let series =
            |n: usize, name, pick: fn(&crate::model::IntegrationPoint) -> Option<f64>| Series {
                name,
                glyph: g[n],
                style: s[n],
                values: i.series.iter().map(pick).collect(),
            };
        PointChart {
            series: vec![
                series(0, "p50", |p| p.p50_ms),
                series(1, "p95", |p| p.p95_ms),
                series(2, "p99", |p| p.p99_ms),
            ],
            y_label: ms_tick,
            log: true,
            overlap: Some(t.overlap_glyph()),
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

    /// The recent failed calls.
    fn errors(&self, i: &IntegrationStats, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let list = ctx.app.nav.top().detail.list_of(Section::Errors);
        let local = ctx.app.settings.local_time;
        let cols = vec![
            Col::left("time", Constraint::Length(8)),
            Col::left("operation", Constraint::Length(16)),
            Col::right("code", Constraint::Length(4)),
            Col::right("took", Constraint::Length(6)),
            Col::left("error", Constraint::Fill(1)),
        ];
        let rows = errors(ctx.state, &i.name, list)
            .into_iter()
            .map(|c| {
                ListRow::new(
                    call_key(c),
                    vec![
                        Line::from(fmt::time_or_date(ctx.now, c.at, local)),
                        Line::from(fmt::one_line(c.operation.as_deref().unwrap_or("-"))),
                        Line::from(widgets::status_code(c.status_code)),
                        Line::from(fmt::ms(c.duration_ms.map(f64::from))),
                        Line::from(widgets::error_text(c.error.as_deref())),
                    ],
                )
            })
            .collect();
        let empty = "no failed calls in the window";
        let title = "recent errors";
        section(
            &ctx,
            area,
            buf,
            Section::Errors,
            title,
            muted(&ctx, empty),
            cols,
            rows,
        );
    }

    /// The alerts that name this integration.
    fn alerts(&self, i: &IntegrationStats, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let list = ctx.app.nav.top().detail.list_of(Section::Alerts);
        let rows = related_alerts(ctx.state, &i.name, list)
            .into_iter()
            .map(|a| alerts::row(&ctx, a, false))
            .collect();
        let cols = alerts::columns(false);
        let empty = "no alerts name it";
        let title = "related alerts";
        section(
            &ctx,
            area,
            buf,
            Section::Alerts,
            title,
            muted(&ctx, empty),
            cols,
            rows,
        );
    }

    /// API endpoints whose error rate rose while the integration failed.
    fn endpoints(&self, i: &IntegrationStats, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let list = ctx.app.nav.top().detail.list_of(Section::Endpoints);
        let cols = vec![
            Col::left("endpoint", Constraint::Fill(1)),
            Col::right("while", Constraint::Length(6)),
            Col::right("before", Constraint::Length(6)),
            Col::right("errors", Constraint::Length(6)),
        ];
        let rows = rises(ctx.state, &i.name, list)
            .into_iter()
            .map(|r| {
                ListRow::new(
                    rise_key(r),
                    vec![
                        Line::from(fmt::one_line(&rise_key(r))),
                        Line::from(Span::styled(fmt::pct(r.rate_during()), t.bad())),
                        Line::from(fmt::pct(r.rate_other())),
                        Line::from(fmt::count(r.during_errors)),
                    ],
                )
            })
            .collect();
        let empty = if matches!(i.status, Health::Down | Health::Degraded) {
            "no endpoint's error rate rose with it"
        } else {
            "shown while the integration is failing"
        };
        let title = "endpoints whose errors rose with it";
        section(
            &ctx,
            area,
            buf,
            Section::Endpoints,
            title,
            muted(&ctx, empty),
            cols,
            rows,
        );
    }
}
