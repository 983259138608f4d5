//! The screens: the [`overview`] of all panes and one file per drill-down
//! ([`integration`], [`endpoint`], [`alert`], [`session`]). Drill-downs with
//! lists expose their keys per section so the app can move the selection
//! and open what is selected.

pub mod alert;
pub mod endpoint;
pub mod integration;
pub mod overview;
pub mod session;

use ratatui::text::Span;
use ratatui::widgets::Block;

use super::Ctx;
use super::app::App;
use super::list::ListState;
use super::nav::View;
use super::widgets;
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
        View::Overview | View::Alert(_) => Vec::new(),
    }
}

/// The view Enter opens from the current drill-down, if any.
pub fn open_selected(app: &App, state: &State) -> Option<View> {
    let entry = app.nav.top();
    match &entry.view {
        View::Integration(name) => integration::open(state, name, &entry.detail),
        View::Alert(id) => state
            .alerts()
            .iter()
            .find(|a| a.id == *id)
            .and_then(|a| a.integration.clone())
            .map(View::Integration),
        _ => None,
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

/// ` 11:46-now` for chart titles: the time span a series covers.
pub fn span_label(ctx: &Ctx, first: Option<crate::model::Minute>) -> String {
    first.map_or(String::new(), |m| {
        format!(
            " {}-now",
            super::fmt::clock_hm(crate::model::minute_start(m), ctx.app.settings.local_time)
        )
    })
}
