//! The alert drill-down: title and severity, when it fired, what it is
//! about, its full description, the context JSON pretty-printed (secrets
//! already masked by the store) and who acknowledged it when. Scrolls with
//! j/k; Enter opens the integration it names.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::panes::alerts::severity_span;
use super::super::widgets;
use super::super::{Ctx, fmt};
use crate::model::AlertView;

pub struct AlertDetail<'a> {
    pub ctx: Ctx<'a>,
    pub id: i64,
}

/// The lines of the alert page (before wrapping).
pub fn lines<'a>(ctx: &Ctx, a: &AlertView) -> Vec<Line<'a>> {
    let t = ctx.theme();
    let local = ctx.app.settings.local_time;
    let mut out = vec![];
    let mut head = vec![severity_span(t, a.severity), Span::raw(" ")];
    head.push(Span::styled(fmt::one_line(&a.title), t.title(false)));
    out.push(Line::from(head));
    out.push(Line::default());
    let mut meta = vec![];
    meta.extend(widgets::stat(
        t,
        "fired",
        format!(
            "{} ({} ago)",
            fmt::date_time(a.created_at, local),
            fmt::age(ctx.now, a.created_at)
        ),
        Style::new(),
    ));
    out.push(Line::from(meta));
    let mut meta = vec![];
    meta.extend(widgets::stat(
        t,
        "severity",
        a.severity_raw
            .as_deref()
            .map_or(a.severity.word().to_string(), fmt::one_line),
        t.severity(a.severity),
    ));
    if let Some(k) = &a.alert_type {
        meta.extend(widgets::stat(t, "type", fmt::one_line(k), Style::new()));
    }
    if let Some(i) = &a.integration {
        meta.extend(widgets::stat(
            t,
            "integration",
            fmt::one_line(i),
            t.accent(),
        ));
        meta.push(Span::styled("(Enter opens it)", t.muted()));
    }
    out.push(Line::from(meta));
    let ack = if a.acknowledged {
        let when = a
            .acknowledged_at
            .map_or("at an unknown time".to_string(), |at| {
                format!(
                    "at {} ({} ago)",
                    fmt::date_time(at, local),
                    fmt::age(ctx.now, at)
                )
            });
        let who = a
            .acknowledged_by
            .map_or(String::new(), |u| format!(" by user {u}"));
        Line::from(vec![
            Span::styled("acknowledged ", t.ok()),
            Span::raw(format!("{when}{who}")),
        ])
    } else if ctx.app.settings.read_only {
        Line::from(vec![
            Span::styled("open", t.warn()),
            Span::styled(" — read-only mode: acknowledging is disabled", t.muted()),
        ])
    } else {
        Line::from(vec![
            Span::styled("open", t.warn()),
            Span::styled(" — press a to acknowledge", t.muted()),
        ])
    };
    out.push(ack);
    out.push(Line::default());
    out.push(Line::styled("description", t.heading()));
    match &a.description {
        Some(d) if !d.trim().is_empty() => {
            for l in d.lines() {
                out.push(Line::from(fmt::one_line(l)));
            }
        }
        _ => out.push(Line::styled("(none)", t.muted())),
    }
    out.push(Line::default());
    out.push(Line::styled("context (secrets masked)", t.heading()));
    match &a.context {
        Some(c) => {
            let pretty = serde_json::to_string_pretty(c).unwrap_or_default();
            out.extend(super::indented(&pretty));
        }
        None => out.push(Line::styled("(none)", t.muted())),
    }
    out
}

impl Widget for AlertDetail<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let lines = match ctx.state.alerts().iter().find(|a| a.id == self.id) {
            Some(a) => Ok(lines(&ctx, a)),
            None => Err(format!(
                "alert #{} is no longer in the alert list (only the newest are kept) — Esc goes back",
                self.id
            )),
        };
        super::page(&ctx, &format!("Alert #{}", self.id), lines, area, buf);
    }
}
