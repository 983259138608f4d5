//! The rule alert drill-down: state, rule, severity, since when, the value
//! against its threshold or band and why, the labels and the baseline; then
//! the metric over the window against that threshold (and its recovery
//! threshold) or band, charted from the store's own series of the alert's
//! integration, endpoint or business metric (nothing is queried). Enter
//! opens the integration or endpoint the alert is about.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::chart::{PointChart, Series, ms_tick};
use super::super::judged;
use super::super::nav::View;
use super::super::panes::alerts::{rule_title, severity_span};
use super::super::widgets;
use super::super::{Ctx, fmt};
use super::section_frame;
use crate::format::Unit;
use crate::model::{EndpointKey, Minute, RuleAlert, RuleAlertState, RuleBound};
use crate::rules::spec::num;
use crate::store::State;

pub struct RuleAlertView<'a> {
    pub ctx: Ctx<'a>,
    pub fingerprint: &'a str,
}

/// A horizontal line on the chart: what the value is compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub label: String,
    pub value: f64,
    /// The firing side (threshold, band edge) rather than the recovery.
    pub firing: bool,
}

/// What the drill-down charts: the metric per slot over the window, and
/// the levels it is judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub title: String,
    pub first: Option<Minute>,
    pub values: Vec<Option<f64>>,
    pub unit: Unit,
    pub log: bool,
    pub levels: Vec<Level>,
}

/// The alert `fingerprint` among the store's rule alerts.
pub fn find<'s>(state: &'s State, fingerprint: &str) -> Option<&'s RuleAlert> {
    state
        .rule_alerts()
        .iter()
        .find(|a| a.fingerprint == fingerprint)
}

/// The view Enter opens: the alert's integration or endpoint.
pub fn open(state: &State, fingerprint: &str) -> Option<View> {
    let a = find(state, fingerprint)?;
    if let Some(i) = a.labels.get("integration") {
        return Some(View::Integration(i.clone()));
    }
    let e = a.labels.get("endpoint")?;
    let m = a.labels.get("method").map_or("", String::as_str);
    Some(View::Endpoint(EndpointKey::new(m, e)))
}

fn levels(a: &RuleAlert, unit: Unit, dash: &str) -> Vec<Level> {
    match &a.bound {
        RuleBound::Band { low, high, .. } => vec![
            Level {
                label: format!(
                    "band {}{dash}{}",
                    fmt::in_unit(unit, *low),
                    fmt::in_unit(unit, *high)
                ),
                value: *high,
                firing: true,
            },
            Level {
                label: String::new(),
                value: *low,
                firing: true,
            },
        ],
        RuleBound::Threshold {
            op,
            threshold,
            recover,
        } if matches!(unit, Unit::Ms | Unit::Ratio | Unit::Plain)
            && a.metric != "error_anomaly" =>
        {
            let mut v = vec![Level {
                label: format!("{op} {}", fmt::in_unit(unit, *threshold)),
                value: *threshold,
                firing: true,
            }];
            if let Some(r) = judged::recovery(a) {
                v.push(Level {
                    label: r,
                    value: *recover,
                    firing: false,
                });
            }
            v
        }
        _ => Vec::new(),
    }
}

/// The alert's metric per slot from the store's series, or why there is
/// none to chart.
pub fn plot(state: &State, a: &RuleAlert, dash: &str) -> Result<Plot, String> {
    let step = state.slot_minutes().max(1) as f64;
    let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
    let metric = a.metric.as_str();
    let (title, unit, log, first, values): (&str, Unit, bool, Option<Minute>, Vec<Option<f64>>) =
        if let Some(name) = a.labels.get("integration") {
            let i = state
                .integration(name)
                .ok_or_else(|| format!("{name} has no calls in the window"))?;
            let first = i.series.first().map(|p| p.minute);
            let pts = &i.series;
            match metric {
                "error_rate" => (
                    "failed share per minute",
                    Unit::Ratio,
                    false,
                    first,
                    pts.iter().map(|p| ratio(p.failures, p.calls)).collect(),
                ),
                "p50" => (
                    "p50",
                    Unit::Ms,
                    true,
                    first,
                    pts.iter().map(|p| p.p50_ms).collect(),
                ),
                "p99" => (
                    "p99",
                    Unit::Ms,
                    true,
                    first,
                    pts.iter().map(|p| p.p99_ms).collect(),
                ),
                "p95" | "latency_anomaly" => (
                    "p95",
                    Unit::Ms,
                    true,
                    first,
                    pts.iter().map(|p| p.p95_ms).collect(),
                ),
                "calls_per_min" | "no_data_minutes" => (
                    "calls per minute",
                    Unit::Plain,
                    false,
                    first,
                    pts.iter().map(|p| Some(p.calls as f64 / step)).collect(),
                ),
                "error_anomaly" => (
                    "failed calls per minute",
                    Unit::Plain,
                    false,
                    first,
                    pts.iter().map(|p| Some(p.failures as f64 / step)).collect(),
                ),
                _ => (
                    "failed share per minute",
                    Unit::Ratio,
                    false,
                    first,
                    pts.iter().map(|p| ratio(p.failures, p.calls)).collect(),
                ),
            }
        } else if let Some(endpoint) = a.labels.get("endpoint") {
            let method = a.labels.get("method").map_or("", String::as_str);
            let e = state
                .endpoints()
                .iter()
                .find(|e| e.endpoint == *endpoint && e.method == method)
                .ok_or_else(|| format!("{method} {endpoint} has no requests in the window"))?;
            let first = e.series.first().map(|p| p.minute);
            let pts = &e.series;
            match metric {
                "error_rate" => (
                    "failed share per minute",
                    Unit::Ratio,
                    false,
                    first,
                    pts.iter().map(|p| ratio(p.errors, p.requests)).collect(),
                ),
                "p95" | "latency_anomaly" => (
                    "p95",
                    Unit::Ms,
                    true,
                    first,
                    pts.iter().map(|p| p.p95_ms).collect(),
                ),
                "calls_per_min" => (
                    "requests per minute",
                    Unit::Plain,
                    false,
                    first,
                    pts.iter().map(|p| Some(p.requests as f64 / step)).collect(),
                ),
                "error_anomaly" => (
                    "failed requests per minute",
                    Unit::Plain,
                    false,
                    first,
                    pts.iter().map(|p| Some(p.errors as f64 / step)).collect(),
                ),
                other => {
                    return Err(format!(
                        "no per-minute {other} is kept for endpoints (only p95): the value above is the window's"
                    ));
                }
            }
        } else if let Some(name) = a.labels.get("metric") {
            let pts = state
                .business()
                .series
                .get(name)
                .ok_or_else(|| format!("no {name} in the window"))?;
            (
                "per minute",
                Unit::Plain,
                false,
                pts.first().map(|p| p.0),
                pts.iter().map(|p| Some(p.1 / step)).collect(),
            )
        } else {
            return Err(
                "nothing to chart: the store keeps no series for this alert's subject".into(),
            );
        };
    // The levels are drawn only where the chart is in their unit.
    let same_unit = unit == fmt::unit_of(metric)
        || (metric == "latency_anomaly" && unit == Unit::Ms)
        || (metric == "calls_per_min");
    let name = if title == "p95" || title == "p50" || title == "p99" {
        format!("{title} per minute")
    } else {
        title.to_string()
    };
    Ok(Plot {
        title: name,
        first,
        values,
        unit,
        log,
        levels: if same_unit {
            levels(a, unit, dash)
        } else {
            Vec::new()
        },
    })
}

/// The lines of the alert's page (before wrapping).
pub fn lines<'a>(ctx: &Ctx, a: &RuleAlert, origin: &str) -> Vec<Line<'a>> {
    let t = ctx.theme();
    let local = ctx.app.settings.local_time;
    let mut out = vec![Line::from(vec![
        Span::styled(
            format!(" {} ", a.state.word().to_uppercase()),
            judged::state_style(t, a.state),
        ),
        Span::raw(" "),
        severity_span(t, a.severity),
        Span::raw(" "),
        Span::styled(fmt::one_line(&rule_title(a)), t.title(false)),
    ])];
    let mut meta = widgets::stat(t, "rule", fmt::one_line(&a.rule), t.accent());
    let subject = a.subject();
    if !subject.is_empty() {
        meta.extend(widgets::stat(
            t,
            "on",
            fmt::one_line(&subject),
            Style::new(),
        ));
    }
    meta.extend(widgets::stat(t, "judged", origin.to_string(), t.muted()));
    out.push(Line::from(meta));
    let when = |label: &str, at| {
        widgets::stat(
            t,
            label,
            format!(
                "{} ({} ago)",
                fmt::date_time(at, local),
                fmt::age(ctx.now, at)
            ),
            Style::new(),
        )
    };
    let mut meta = vec![];
    match (a.state, a.since, a.resolved_at) {
        (RuleAlertState::Resolved, _, Some(at)) => meta.extend(when("resolved", at)),
        (RuleAlertState::Pending, Some(at), _) => meta.extend(when("pending since", at)),
        (_, Some(at), _) => meta.extend(when("firing since", at)),
        _ => {}
    }
    if a.state == RuleAlertState::Flapping {
        meta.push(Span::styled("flapping: held firing until stable", t.warn()));
    }
    out.push(Line::from(meta));
    let mut why = widgets::stat(
        t,
        "value",
        judged::comparison(a, t.en_dash()),
        judged::state_style(t, a.state),
    );
    if let Some(r) = judged::recovery(a) {
        why.push(Span::styled(r, t.muted()));
    }
    out.push(Line::from(why));
    out.push(Line::from(widgets::stat(
        t,
        "why",
        fmt::one_line(&a.why),
        Style::new(),
    )));
    if let Some(b) = &a.baseline {
        out.push(Line::from(widgets::stat(
            t,
            "baseline",
            fmt::one_line(b),
            Style::new(),
        )));
    }
    let labels: Vec<String> = a
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={}", fmt::one_line(v)))
        .collect();
    out.push(Line::from(widgets::stat(
        t,
        "labels",
        labels.join(" "),
        t.muted(),
    )));
    out.push(Line::from(widgets::stat(
        t,
        "fingerprint",
        a.fingerprint.clone(),
        t.muted(),
    )));
    out
}

impl Widget for RuleAlertView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let Some(a) = find(ctx.state, self.fingerprint) else {
            return super::gone(
                &ctx,
                "Alert",
                "this alert is no longer listed (resolved more than 15 minutes ago) — Esc goes back",
                area,
                buf,
            );
        };
        use crate::model::RuleJudge;
        let origin = match ctx.state.rule_judge() {
            Some(RuleJudge::Local) => "here, read-only".to_string(),
            Some(RuleJudge::Hub) => "by the hub".to_string(),
            Some(RuleJudge::HubLastKnown { at }) => format!(
                "by the hub, unreachable: last known {}",
                fmt::date_time(at, ctx.app.settings.local_time)
            ),
            None => String::new(),
        };
        let text = lines(&ctx, a, &origin);
        let want = text.len() as u16 + 2;
        let [top, bottom] = Layout::vertical([
            Constraint::Length(want.min(area.height / 2).max(3)),
            Constraint::Fill(1),
        ])
        .areas(area);
        super::page(&ctx, &format!("Alert {}", a.rule), Ok(text), top, buf);
        chart(&ctx, a, bottom, buf);
    }
}

/// The metric over the window against its levels.
fn chart(ctx: &Ctx, a: &RuleAlert, area: Rect, buf: &mut Buffer) {
    if area.height < 3 {
        return;
    }
    let t = ctx.theme();
    let (p, g) = (t.series(), t.series_glyphs());
    let plot = match plot(ctx.state, a, t.en_dash()) {
        Ok(p) => p,
        Err(why) => {
            let block = section_frame(ctx, "over time", None, false, None);
            let inner = block.inner(area);
            block.render(area, buf);
            return widgets::message(inner, buf, super::muted(ctx, &why));
        }
    };
    let span = super::span_label(ctx, plot.first);
    let (line, dotted) = if t.ascii { ("-", ".") } else { ("─", "┄") };
    let mut legend = vec![Span::styled(format!("{} value ", g[1]), p[1])];
    for l in plot.levels.iter().filter(|l| !l.label.is_empty()) {
        let (glyph, style) = if l.firing {
            (line, t.bad())
        } else {
            (dotted, t.ok())
        };
        legend.push(Span::styled(format!("{glyph} {} ", l.label), style));
    }
    let block = section_frame(ctx, &format!("{}{span}", plot.title), None, false, None)
        .title(Line::from(legend).right_aligned());
    let inner = block.inner(area);
    block.render(area, buf);
    let n = plot.values.len().max(1);
    let mut series: Vec<Series> = plot
        .levels
        .iter()
        .map(|l| Series {
            name: "level",
            glyph: if l.firing { line } else { dotted },
            style: if l.firing { t.bad() } else { t.ok() },
            values: vec![Some(l.value); n],
        })
        .collect();
    // Drawn last, so the value shows where it touches a level.
    series.insert(
        0,
        Series {
            name: "value",
            glyph: g[1],
            style: p[1],
            values: plot.values.clone(),
        },
    );
    let y_label: fn(f64) -> String = match plot.unit {
        Unit::Ms => ms_tick,
        Unit::Ratio => fmt::pct,
        _ => |v| num((v * 10.0).round() / 10.0),
    };
    PointChart {
        series,
        y_label,
        log: plot.log,
        overlap: None,
        theme: t,
    }
    .render(inner, buf);
}
