//! Pane 4, Alerts: severity, age, acknowledged or not, and title; open
//! alerts first, most severe first. `a` acknowledges the selected one.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::list::{Choices, ListState};
use super::super::pane::PaneId;
use super::super::theme::Theme;
use super::super::widgets::{Col, ListBody, ListRow};
use super::super::{Ctx, fmt};
use crate::model::tables::ALERTS;
use crate::model::{AlertView, Severity};
use crate::store::State;

/// The sort columns, `s` steps through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    OpenFirst,
    Newest,
    Severity,
    Title,
}

impl Choices for Sort {
    const ALL: &'static [Self] = &[Self::OpenFirst, Self::Newest, Self::Severity, Self::Title];
    fn label(self) -> &'static str {
        match self {
            Self::OpenFirst => "open first",
            Self::Newest => "newest",
            Self::Severity => "severity",
            Self::Title => "title",
        }
    }
}

/// Alerts passing the filter, in the chosen order.
pub fn items<'s>(state: &'s State, list: &ListState) -> Vec<&'s AlertView> {
    let mut v: Vec<&AlertView> = state
        .alerts()
        .iter()
        .filter(|a| {
            list.matches(&format!(
                "{} {} {} {}",
                a.title,
                a.severity.word(),
                a.integration.as_deref().unwrap_or(""),
                a.alert_type.as_deref().unwrap_or("")
            ))
        })
        .collect();
    match Sort::at(list.sort) {
        Sort::OpenFirst => {} // the source's order: open, most severe, newest
        Sort::Newest => v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id))),
        Sort::Severity => v.sort_by(|a, b| {
            a.severity
                .cmp(&b.severity)
                .then(b.created_at.cmp(&a.created_at))
        }),
        Sort::Title => v.sort_by(|a, b| a.title.cmp(&b.title)),
    }
    if list.reversed {
        v.reverse();
    }
    v
}

/// A four-letter severity tag: `CRIT`, `HIGH`, `WARN`, `INFO`.
pub fn severity_tag(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRIT",
        Severity::High => "HIGH",
        Severity::Warning => "WARN",
        Severity::Info => "INFO",
    }
}

pub fn severity_span(t: &Theme, s: Severity) -> Span<'static> {
    Span::styled(severity_tag(s), t.severity(s))
}

/// The row key of an alert.
pub fn key(a: &AlertView) -> String {
    a.id.to_string()
}

/// The columns of an alert row (here and in the integration view); `ack`
/// adds the acknowledged column.
pub fn columns(ack: bool) -> Vec<Col> {
    let mut cols = vec![
        Col::left("sev", Constraint::Length(4)),
        Col::right("age", Constraint::Length(4)),
    ];
    if ack {
        cols.push(Col::left("ack", Constraint::Length(3)));
    }
    cols.push(Col::left("title", Constraint::Fill(1)));
    cols
}

/// An alert row: severity, age, (ack or res), title; muted once closed
/// (acknowledged or resolved).
pub fn row<'a>(ctx: &Ctx, a: &AlertView, ack: bool) -> ListRow<'a> {
    let t = ctx.theme();
    let mut cells = vec![
        Line::from(severity_span(t, a.severity)),
        Line::from(fmt::age(ctx.now, a.created_at)),
    ];
    if ack {
        cells.push(Line::from(if a.acknowledged {
            "ack"
        } else if a.resolved_at.is_some() {
            "res"
        } else {
            ""
        }));
    }
    cells.push(Line::from(fmt::one_line(&a.title)));
    let style = if !a.is_open() {
        t.muted()
    } else {
        Style::new()
    };
    ListRow::new(key(a), cells).style(style)
}

pub struct AlertsPane<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for AlertsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let list = ctx.app.list(PaneId::Alerts);
        let rows = items(ctx.state, list);
        let open: u64 = ctx.state.open_alerts_by_severity().values().sum();
        let crit = ctx
            .state
            .open_alerts_by_severity()
            .get("critical")
            .copied()
            .unwrap_or(0);
        let mut extra = vec![Span::styled(
            format!("{open} open"),
            if open > 0 { t.warn() } else { t.muted() },
        )];
        if crit > 0 {
            extra.push(Span::styled(format!(", {crit} critical"), t.bad()));
        }
        let block = super::frame(&ctx, PaneId::Alerts, extra, area.width);
        let empty = if ctx.state.alerts().is_empty() {
            Some("no alerts — all quiet".to_string())
        } else if rows.is_empty() {
            Some(format!("no alert matches /{}", list.filter))
        } else {
            None
        };
        let ph = super::placeholder(&ctx, &[ALERTS], empty);
        super::render_list(&ctx, PaneId::Alerts, block, area, buf, ph, |_| ListBody {
            cols: columns(true),
            rows: rows.iter().map(|a| row(&ctx, a, true)).collect(),
            list,
            focused: ctx.app.focus == PaneId::Alerts,
        });
    }
}
