//! Pane 3, Sessions: how many are active, a sparkline of sessions started
//! per minute over the window, and the newest active sessions.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::list::{Choices, ListState};
use super::super::mode::FilterTarget;
use super::super::pane::PaneId;
use super::super::widgets::{self, Col, ListBody, ListRow};
use super::super::{Ctx, fmt};
use crate::model::tables::SESSIONS;
use crate::model::{Session, window_slots};
use crate::store::State;

/// The sort columns, `s` steps through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Started,
    Service,
    Credits,
    User,
}

impl Choices for Sort {
    const ALL: &'static [Self] = &[Self::Started, Self::Service, Self::Credits, Self::User];
    fn label(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Service => "service",
            Self::Credits => "credits",
            Self::User => "user",
        }
    }
}

fn text(s: &Session) -> String {
    format!(
        "{} {} {}",
        s.session_id,
        s.service,
        s.user_id.map(|u| u.to_string()).unwrap_or_default()
    )
}

/// Active sessions passing the filter, in the chosen order.
pub fn items<'s>(state: &'s State, list: &ListState) -> Vec<&'s Session> {
    let mut v: Vec<&Session> = state
        .sessions()
        .items
        .iter()
        .filter(|s| list.matches(&text(s)))
        .collect();
    match Sort::at(list.sort) {
        Sort::Started => {} // newest first, as the source lists them
        Sort::Service => v.sort_by(|a, b| {
            a.service
                .cmp(&b.service)
                .then(b.started_at.cmp(&a.started_at))
        }),
        Sort::Credits => v.sort_by_key(|s| std::cmp::Reverse(s.credits_used)),
        Sort::User => v.sort_by_key(|s| s.user_id),
    }
    if list.reversed {
        v.reverse();
    }
    v
}

/// Sessions started per slot (minute, or coarser for long windows) over the
/// window, oldest first, with zero for slots without starts.
pub fn started_series(state: &State) -> Vec<Option<f64>> {
    let per: std::collections::BTreeMap<i64, u64> = state
        .sessions()
        .started_per_minute
        .iter()
        .copied()
        .collect();
    window_slots(state.now(), state.window_secs())
        .skip(1)
        .map(|m| Some(per.get(&m).copied().unwrap_or(0) as f64))
        .collect()
}

pub struct SessionsPane<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for SessionsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let list = ctx.app.list(PaneId::Sessions);
        let rows = items(ctx.state, list);
        let sv = ctx.state.sessions();
        let extra = vec![Span::styled(
            format!("{} active", fmt::count(sv.active)),
            t.accent(),
        )];
        let block = super::frame(&ctx, PaneId::Sessions, extra, area.width);
        let empty = if sv.items.is_empty() && sv.started_per_minute.is_empty() {
            Some("no active sessions".to_string())
        } else {
            None
        };
        let ph = super::placeholder(&ctx, &[SESSIONS], empty);
        super::render_framed(&ctx, block, area, buf, ph, |inner, buf| {
            if inner.height == 0 {
                return;
            }
            // The sparkline of starts per minute.
            let label = "started/min ";
            let series = started_series(ctx.state);
            let max = series.iter().flatten().copied().fold(0.0, f64::max);
            let tail = format!(" max {max:.0}");
            let spark_w = (inner.width as usize).saturating_sub(label.len() + tail.len());
            let line = Line::from(vec![
                Span::styled(label, t.muted()),
                Span::styled(
                    fmt::sparkline(&series, spark_w, t.spark_levels()),
                    t.accent(),
                ),
                Span::styled(tail, t.muted()),
            ]);
            buf.set_line(inner.x, inner.y, &line, inner.width);
            let body = Rect::new(inner.x, inner.y + 1, inner.width, inner.height - 1);
            let empty = rows.is_empty().then(|| {
                let msg = if list.filter.is_empty() {
                    "no active sessions".to_string()
                } else {
                    format!("no session matches /{}", list.filter)
                };
                vec![Line::styled(msg, t.muted())]
            });
            let wide = inner.width >= 44;
            let mut cols = vec![Col::left("service", Constraint::Fill(1))];
            if wide {
                cols.push(Col::right("user", Constraint::Length(7)));
            }
            cols.push(Col::right("age", Constraint::Length(4)));
            cols.push(Col::right("credits", Constraint::Length(7)));
            let table_rows = rows
                .iter()
                .map(|s| {
                    let mut cells = vec![Line::from(fmt::one_line(&s.service))];
                    if wide {
                        cells.push(Line::from(
                            s.user_id.map_or("-".to_string(), |u| u.to_string()),
                        ));
                    }
                    cells.push(Line::from(fmt::age(ctx.now, s.started_at)));
                    cells.push(Line::from(fmt::count(s.credits_used.max(0) as u64)));
                    ListRow::new(s.session_id.clone(), cells)
                })
                .collect();
            let drawn = widgets::list_or_message(body, buf, t, empty, |_| ListBody {
                cols,
                rows: table_rows,
                list,
                focused: ctx.app.focus == PaneId::Sessions,
            });
            ctx.hit_rows(FilterTarget::Pane(PaneId::Sessions), drawn);
        });
    }
}
