//! The session drill-down: the session as last seen, and its timeline from
//! `monitoring_context` (fetched from the source on demand, values under
//! secret-looking keys masked). The selected record's data is shown in
//! full below the list.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::super::app::App;
use super::super::list::ListState;
use super::super::nav::{SessionSection, Timeline};
use super::super::widgets::{self, Col, ListRow};
use super::super::{Ctx, fmt};
use super::{section, section_frame};
use crate::model::{ContextEvent, Session};

fn events<'a>(app: &'a App, id: &str, list: &ListState) -> Vec<(usize, &'a ContextEvent)> {
    match &app.session {
        Some((s, Timeline::Loaded(ev))) if s == id => ev
            .iter()
            .enumerate()
            .filter(|(_, e)| list.matches(&format!("{} {}", e.context_type, e.data)))
            .collect(),
        _ => Vec::new(),
    }
}

pub fn keys(app: &App, id: &str, list: &ListState) -> Vec<String> {
    events(app, id, list)
        .iter()
        .map(|(i, _)| i.to_string())
        .collect()
}

pub struct SessionView<'a> {
    pub ctx: Ctx<'a>,
    pub id: &'a str,
}

impl Widget for SessionView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [summary, rest] =
            Layout::vertical([Constraint::Length(4), Constraint::Min(0)]).areas(area);
        let [timeline, data] = if rest.height >= 14 {
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(rest)
        } else {
            [rest, Rect::default()]
        };
        self.summary(summary, buf);
        if let Some(e) = self.timeline(timeline, buf) {
            self.data(e, data, buf);
        }
    }
}

impl<'a> SessionView<'a> {
    /// Service, user, status, credits; started and last active.
    fn summary(&self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let title = widgets::pane_title(t, None, &format!("Session {}", self.id), false, vec![]);
        let right = widgets::freshness_spans(&ctx, &ctx.freshness());
        let block = widgets::frame(t, false, title, right);
        let inner = block.inner(area);
        block.render(area, buf);
        let session = ctx
            .state
            .sessions()
            .items
            .iter()
            .find(|s| s.session_id == self.id);
        let lines = match session {
            Some(s) => self.facts(s),
            None => vec![Line::styled(
                "no longer among the active sessions",
                t.muted(),
            )],
        };
        Paragraph::new(lines).render(inner, buf);
    }

    fn facts(&self, s: &Session) -> Vec<Line<'static>> {
        let ctx = self.ctx;
        let t = ctx.theme();
        let local = ctx.app.settings.local_time;
        let mut l1 = vec![];
        l1.extend(widgets::stat(
            t,
            "service",
            fmt::one_line(&s.service),
            t.accent(),
        ));
        l1.extend(widgets::stat(
            t,
            "user",
            s.user_id.map_or("-".into(), |u| u.to_string()),
            Style::new(),
        ));
        l1.extend(widgets::stat(
            t,
            "status",
            fmt::one_line(&s.status),
            Style::new(),
        ));
        l1.extend(widgets::stat(
            t,
            "credits",
            fmt::count(s.credits_used.max(0) as u64),
            Style::new(),
        ));
        let mut l2 = vec![];
        l2.extend(widgets::stat(
            t,
            "started",
            format!(
                "{} ({} ago)",
                fmt::time_or_date(ctx.now, s.started_at, local),
                fmt::age(ctx.now, s.started_at)
            ),
            Style::new(),
        ));
        l2.extend(widgets::stat(
            t,
            "last activity",
            format!("{} ago", fmt::age(ctx.now, s.last_activity_at)),
            Style::new(),
        ));
        vec![Line::from(l1), Line::from(l2)]
    }

    /// The timeline list; returns the selected record.
    fn timeline(&self, area: Rect, buf: &mut Buffer) -> Option<&'a ContextEvent> {
        let ctx = self.ctx;
        let t = ctx.theme();
        let local = ctx.app.settings.local_time;
        let section_ = SessionSection::Timeline;
        let list = ctx.app.nav.top().detail.list_of(section_);
        let rows = events(ctx.app, self.id, list);
        let shown = ctx
            .app
            .session
            .as_ref()
            .filter(|(s, _)| s == self.id)
            .map(|(_, t)| t);
        let empty = match shown {
            None | Some(Timeline::Loading) => {
                vec![Line::styled("loading the timeline…", t.muted())]
            }
            Some(Timeline::Failed(e)) => vec![
                Line::styled("could not load the timeline", t.bad()),
                Line::styled(fmt::one_line(e), t.muted()),
            ],
            Some(Timeline::Loaded(_)) if list.filter.is_empty() => vec![Line::styled(
                "no context recorded for this session",
                t.muted(),
            )],
            Some(Timeline::Loaded(_)) => {
                vec![Line::styled("no record matches the filter", t.muted())]
            }
        };
        let cols = vec![
            Col::left("time", Constraint::Length(8)),
            Col::left("type", Constraint::Length(16)),
            Col::left("data", Constraint::Fill(1)),
        ];
        let table_rows = rows
            .iter()
            .map(|(i, e)| {
                ListRow::new(
                    i.to_string(),
                    vec![
                        Line::from(fmt::time_or_date(ctx.now, e.at, local)),
                        Line::styled(fmt::one_line(&e.context_type), t.accent()),
                        Line::from(fmt::one_line(&e.data.to_string())),
                    ],
                )
            })
            .collect();
        let title = "timeline (monitoring_context, secrets masked)";
        let selected = section(&ctx, area, buf, section_, title, empty, cols, table_rows);
        selected.map(|i| rows[i].1)
    }

    /// The selected record's data, pretty-printed.
    fn data(&self, e: &ContextEvent, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let ctx = self.ctx;
        let title = format!("{} data", fmt::one_line(&e.context_type));
        let block = section_frame(&ctx, &title, None, false, None);
        let inner = block.inner(area);
        block.render(area, buf);
        let pretty = serde_json::to_string_pretty(&e.data).unwrap_or_default();
        Paragraph::new(super::indented(&pretty))
            .wrap(Wrap { trim: false })
            .render(inner, buf);
    }
}
