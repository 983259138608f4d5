//! The screens: the [`overview`] of all panes and one file per drill-down
//! ([`integration`], [`endpoint`], [`alert`], [`rule_alert`], [`session`],
//! [`call`], [`usage`]).
//! Drill-downs with lists expose their keys per section so the app can move
//! the selection and open what is selected; the pieces every drill-down
//! shares (a section's frame and table, a page that scrolls, the message
//! for something no longer there) live here.

pub mod alert;
pub mod call;
pub mod endpoint;
pub mod integration;
pub mod overview;
pub mod rule_alert;
pub mod session;
pub mod usage;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};

use super::Ctx;
use super::app::App;
use super::list::{Choices, ListState};
use super::mode::FilterTarget;
use super::mouse::Spot;
use super::nav::{self, View};
use super::widgets::{self, Col, ListBody, ListRow};
use crate::store::State;

/// Keys of the focused section of the current drill-down.
pub fn section_keys(app: &App, state: &State) -> Vec<String> {
    let entry = app.nav.top();
    let list = entry.detail.list();
    match &entry.view {
        View::Integration(name) => {
            integration::section_keys(state, name, entry.detail.focused(), list)
        }
        View::Endpoint(key) => endpoint::section_keys(state, key, entry.detail.focused(), list),
        View::Session(id) => session::keys(app, id, list),
        View::Usage => usage::section_keys(state, &entry.detail),
        View::Overview | View::Alert(_) | View::RuleAlert(_) | View::Call(_) => Vec::new(),
    }
}

/// The view Enter opens from the current drill-down, if any.
pub fn open_selected(app: &App, state: &State) -> Option<View> {
    let entry = app.nav.top();
    match &entry.view {
        View::Integration(name) => integration::open(state, name, &entry.detail),
        View::Endpoint(key) => endpoint::open(state, key, &entry.detail),
        View::Alert(id) => state
            .alerts()
            .iter()
            .find(|a| a.id == *id)
            .and_then(|a| a.integration.clone())
            .map(View::Integration),
        View::RuleAlert(r) => rule_alert::open(state, &r.fingerprint),
        View::Usage => match usage::enter(state, &entry.detail)? {
            usage::Enter::Open(v) => Some(v),
            usage::Enter::Focus(..) => None,
        },
        View::Overview | View::Session(_) | View::Call(_) => None,
    }
}

/// The sort columns of the focused list of the current drill-down (empty:
/// a fixed order).
pub fn sorts(app: &App) -> Vec<&'static str> {
    let entry = app.nav.top();
    match &entry.view {
        View::Usage
            if entry.detail.focused::<nav::UsageSection>() == nav::UsageSection::Services =>
        {
            <usage::Sort as super::list::Choices>::labels()
        }
        _ => Vec::new(),
    }
}

/// The alert selected in the current drill-down, if it lists alerts.
pub fn selected_alert(app: &App, state: &State) -> Option<i64> {
    let entry = app.nav.top();
    match &entry.view {
        View::Integration(name) => integration::selected_alert(state, name, &entry.detail),
        _ => None,
    }
}

/// The frame of a drill-down section: title, count, filter; highlighted
/// when it has the focus.
pub fn section_frame<'a>(
    ctx: &Ctx<'a>,
    title: &str,
    count: Option<usize>,
    focused: bool,
    list: Option<&ListState>,
) -> Block<'a> {
    let t = ctx.theme();
    let mut extra = vec![];
    if let Some(n) = count {
        extra.push(Span::styled(format!("{n} "), t.muted()));
    }
    if let Some(l) = list
        && !l.filter.is_empty()
    {
        extra.push(Span::styled(format!("/{} ", l.filter), t.accent()));
    }
    let title = widgets::pane_title(t, None, title, focused, extra);
    widgets::frame(t, focused, title, vec![])
}

/// One list section of the current drill-down: its frame (title, count,
/// filter, focus), then `empty` when there are no rows or else the table
/// with the selection. Returns the index of the selected row.
#[allow(clippy::too_many_arguments)]
pub fn section<'a, S: Choices>(
    ctx: &Ctx<'a>,
    area: Rect,
    buf: &mut Buffer,
    section: S,
    title: &str,
    empty: Vec<Line<'a>>,
    cols: Vec<Col>,
    rows: Vec<ListRow<'a>>,
) -> Option<usize> {
    if area.is_empty() {
        return None;
    }
    let detail = &ctx.app.nav.top().detail;
    let list = detail.list_of(section);
    let focused = detail.is_focused(section);
    let block = section_frame(ctx, title, Some(rows.len()), focused, Some(list));
    let message = rows.is_empty().then_some(empty);
    let at = section.position();
    ctx.hit(area, Spot::Section(at));
    let drawn = widgets::section_table(area, buf, ctx.theme(), block, message, |_| ListBody {
        cols,
        rows,
        list,
        focused,
    });
    ctx.hit_rows(FilterTarget::Section(at), drawn);
    drawn.and_then(|d| d.selected)
}

/// One muted line: a section's empty state.
pub fn muted<'a>(ctx: &Ctx, text: &str) -> Vec<Line<'a>> {
    vec![Line::styled(text.to_string(), ctx.theme().muted())]
}

/// A drill-down whose subject is no longer in the data: its frame and why.
pub fn gone(ctx: &Ctx, title: &str, why: &str, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme();
    let block = widgets::frame(
        t,
        true,
        widgets::pane_title(t, None, title, true, vec![]),
        vec![],
    );
    let inner = block.inner(area);
    block.render(area, buf);
    widgets::message(inner, buf, muted(ctx, why));
}

/// A page of text that scrolls with j/k (the alert and the call views):
/// framed with `title` and the freshness, `lines` wrapped to the width,
/// the position on the bottom border when it does not fit. `None` shows
/// `missing` instead.
pub fn page(
    ctx: &Ctx,
    title: &str,
    lines: Result<Vec<Line>, String>,
    area: Rect,
    buf: &mut Buffer,
) {
    let t = ctx.theme();
    let right = widgets::freshness_spans(ctx, &ctx.freshness());
    let block = widgets::frame(
        t,
        true,
        widgets::pane_title(t, None, title, true, vec![]),
        right,
    );
    let inner = block.inner(area);
    block.render(area, buf);
    let lines = match lines {
        Ok(lines) => lines,
        Err(missing) => return widgets::message(inner, buf, muted(ctx, &missing)),
    };
    let wrapped = widgets::hard_wrap(lines, inner.width as usize);
    let total = wrapped.len() as u16;
    let detail = &ctx.app.nav.top().detail;
    let max = total.saturating_sub(inner.height);
    let scroll = detail.scroll.get().min(max);
    detail.scroll.set(scroll);
    Paragraph::new(wrapped)
        .scroll((scroll, 0))
        .render(inner, buf);
    if max > 0 && area.height > 0 {
        let more = format!(" {}/{} ", scroll + inner.height.min(total), total);
        let x = area.right().saturating_sub(more.len() as u16 + 1);
        buf.set_string(x, area.bottom() - 1, more, t.muted());
    }
    if ctx.freshness().is_stale() {
        widgets::dim(inner, buf);
    }
}

/// Multi-line text (a pretty-printed JSON document, an error message) as
/// lines: indentation kept, anything unprintable stripped.
pub fn indented<'a>(text: &str) -> Vec<Line<'a>> {
    text.lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            Line::from(format!("{}{}", " ".repeat(indent), super::fmt::one_line(l)))
        })
        .collect()
}

pub use super::widgets::span_label;
