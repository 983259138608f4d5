//! The session drill-down: the session as last seen, and its timeline from
//! `monitoring_context` (fetched from the source on demand, values under
//! secret-looking keys masked). The selected record's data is shown in
//! full below the list.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::super::app::App;
use super::super::list::ListState;
use super::super::nav::{SessionSection, Timeline};
use super::super::widgets::{self, Col};
use super::super::{Ctx, fmt};
use super::section_frame;
use crate::model::ContextEvent;

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
        let ctx = self.ctx;
        let t = ctx.theme();
        let local = ctx.app.settings.local_time;
        let [sum, rest] = Layout::vertical([Constraint::Length(4), Constraint::Min(0)]).areas(area);
        let title = widgets::pane_title(t, None, &format!("Session {}", self.id), false, vec![]);
        let block = widgets::frame(
            t,
            false,
            title,
            widgets::freshness_spans(&ctx, &ctx.freshness()),
        );
        let inner = block.inner(sum);
        block.render(sum, buf);
        let session = ctx
            .state
            .sessions()
            .items
            .iter()
            .find(|s| s.session_id == self.id);
        let lines = match session {
            Some(s) => {
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
            None => vec![Line::styled(
                "no longer among the active sessions",
                t.muted(),
            )],
        };
        Paragraph::new(lines).render(inner, buf);

        let detail = &ctx.app.nav.top().detail;
        let list = detail.list_of(SessionSection::Timeline);
        let rows = events(ctx.app, self.id, list);
        let [tl, data] = if rest.height >= 14 {
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(rest)
        } else {
            [rest, Rect::default()]
        };
        let block = section_frame(
            &ctx,
            "timeline (monitoring_context, secrets masked)",
            Some(rows.len()),
            true,
            Some(list),
        );
        let inner = block.inner(tl);
        block.render(tl, buf);
        let state = ctx
            .app
            .session
            .as_ref()
            .filter(|(s, _)| s == self.id)
            .map(|(_, t)| t);
        match state {
            None | Some(Timeline::Loading) => {
                widgets::message(
                    inner,
                    buf,
                    vec![Line::styled("loading the timeline…", t.muted())],
                );
            }
            Some(Timeline::Failed(e)) => {
                widgets::message(
                    inner,
                    buf,
                    vec![
                        Line::styled("could not load the timeline", t.bad()),
                        Line::styled(fmt::one_line(e), t.muted()),
                    ],
                );
            }
            Some(Timeline::Loaded(_)) if rows.is_empty() => {
                let msg = if list.filter.is_empty() {
                    "no context recorded for this session"
                } else {
                    "no record matches the filter"
                };
                widgets::message(inner, buf, vec![Line::styled(msg, t.muted())]);
            }
            Some(Timeline::Loaded(_)) => {
                let cols = [
                    Col::left("time", Constraint::Length(8)),
                    Col::left("type", Constraint::Length(16)),
                    Col::left("data", Constraint::Fill(1)),
                ];
                let keys: Vec<String> = rows.iter().map(|(i, _)| i.to_string()).collect();
                let sel = list.index_in(&keys);
                let table_rows = rows
                    .iter()
                    .map(|(_, e)| {
                        (
                            vec![
                                Line::from(fmt::time_or_date(ctx.now, e.at, local)),
                                Line::styled(fmt::one_line(&e.context_type), t.accent()),
                                Line::from(fmt::one_line(&e.data.to_string())),
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
                    widgets::Selection {
                        list,
                        index: sel,
                        focused: true,
                    },
                );
                if !data.is_empty()
                    && let Some(i) = sel
                {
                    let e = rows[i].1;
                    let block = section_frame(
                        &ctx,
                        &format!("{} data", fmt::one_line(&e.context_type)),
                        None,
                        false,
                        None,
                    );
                    let inner = block.inner(data);
                    block.render(data, buf);
                    let pretty = serde_json::to_string_pretty(&e.data).unwrap_or_default();
                    let lines: Vec<Line> = pretty
                        .lines()
                        .map(|l| {
                            let indent = l.len() - l.trim_start().len();
                            Line::from(vec![
                                Span::raw(" ".repeat(indent)),
                                Span::raw(fmt::one_line(l)),
                            ])
                        })
                        .collect();
                    Paragraph::new(lines)
                        .wrap(Wrap { trim: false })
                        .render(inner, buf);
                }
            }
        }
    }
}
