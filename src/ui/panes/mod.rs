//! The overview panes, one file each. Every pane module exposes its sort
//! columns (`SORTS`), the ordered keys of its visible rows (`keys`, which
//! the app uses to move the selection and open drill-downs, so what is
//! selected is exactly what is drawn) and a widget that draws it.

pub mod alerts;
pub mod business;
pub mod integrations;
pub mod latency;
pub mod sessions;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

use super::chart::{Strip, strips, strips_that_fit};
use super::list::{Choices, ListState};
use super::mode::FilterTarget;
use super::nav::{self, View};
use super::pane::PaneId;
use super::widgets;
use super::{Ctx, Freshness, fmt};
use crate::duration::format_duration;
use crate::model::Minute;
use crate::model::tables::missing_message;
use crate::store::State;

/// Keys of the rows `pane` shows, in display order.
pub fn keys(pane: PaneId, state: &State, list: &ListState) -> Vec<String> {
    match pane {
        PaneId::Latency => latency::items(state, list)
            .iter()
            .map(|e| latency::key(e))
            .collect(),
        PaneId::Integrations => integrations::items(state, list)
            .iter()
            .map(|i| i.name.clone())
            .collect(),
        PaneId::Sessions => sessions::items(state, list)
            .iter()
            .map(|s| s.session_id.clone())
            .collect(),
        PaneId::Alerts => alerts::items(state, list)
            .iter()
            .map(alerts::Item::key)
            .collect(),
        PaneId::Business => Vec::new(),
    }
}

/// The sort columns of a pane (empty: fixed order).
pub fn sorts(pane: PaneId) -> Vec<&'static str> {
    match pane {
        PaneId::Latency => latency::Sort::labels(),
        PaneId::Integrations => integrations::Sort::labels(),
        PaneId::Sessions => sessions::Sort::labels(),
        PaneId::Alerts => alerts::Sort::labels(),
        PaneId::Business => Vec::new(),
    }
}

/// The drill-down of the row selected in `pane`, built from the row itself
/// (no key is parsed back from its text).
pub fn open(pane: PaneId, state: &State, list: &ListState) -> Option<View> {
    match pane {
        PaneId::Latency => list
            .pick(latency::items(state, list), latency::key)
            .map(|e| View::Endpoint(e.key())),
        PaneId::Integrations => list
            .pick(integrations::items(state, list), |i| i.name.clone())
            .map(|i| View::Integration(i.name.clone())),
        PaneId::Sessions => list
            .pick(sessions::items(state, list), |s| s.session_id.clone())
            .map(|s| View::Session(s.session_id.clone())),
        PaneId::Alerts => {
            let items = alerts::items(state, list);
            list.pick(items.iter().collect(), alerts::Item::key)
                .map(|i| match i {
                    alerts::Item::Rule(r) => View::RuleAlert(Box::new(nav::RuleAlertRef {
                        fingerprint: r.fingerprint.clone(),
                        rule: r.rule.clone(),
                    })),
                    alerts::Item::Row(a) => View::Alert(a.id),
                })
        }
        PaneId::Business => None,
    }
}

pub fn filterable(pane: PaneId) -> bool {
    pane != PaneId::Business
}

/// The frame of an overview pane: number, title, extras, filter and sort
/// on the left, freshness on the right (when `width` leaves room for it).
pub fn frame<'a>(ctx: &Ctx<'a>, pane: PaneId, extra: Vec<Span<'a>>, width: u16) -> Block<'a> {
    let t = ctx.theme();
    let focused = ctx.app.focus == pane;
    let list = ctx.app.list(pane);
    let mut title = widgets::pane_title(t, Some(pane.number()), pane.title(), focused, extra);
    let sorts = sorts(pane);
    if !sorts.is_empty() && (list.sort != 0 || list.reversed) {
        title.push(Span::styled(
            format!(
                " {}{}",
                t.sort_arrow(list.reversed),
                sorts[list.sort % sorts.len()]
            ),
            t.accent(),
        ));
    }
    if !list.filter.is_empty() {
        title.push(Span::styled(format!(" /{}", list.filter), t.accent()));
    }
    title.push(Span::raw(" "));
    let mut right = widgets::freshness_spans(ctx, &ctx.freshness());
    let used: usize = title.iter().chain(&right).map(|s| s.width()).sum();
    if used + 4 > width as usize {
        right.clear();
    }
    widgets::frame(t, focused, title, right)
}

/// What to show instead of rows, if anything: a missing table, no data yet,
/// or (with `empty`) the pane's empty state.
pub fn placeholder(
    ctx: &Ctx,
    tables: &[&str],
    empty: Option<String>,
) -> Option<Vec<Line<'static>>> {
    let t = ctx.theme();
    let missing: Vec<&str> = tables
        .iter()
        .copied()
        .filter(|tb| ctx.state.tables_missing().iter().any(|m| m == tb))
        .collect();
    if !missing.is_empty() {
        return Some(
            missing
                .iter()
                .map(|tb| Line::styled(missing_message(tb), t.warn()))
                .collect(),
        );
    }
    if !ctx.state.has_data() {
        return Some(match ctx.freshness() {
            Freshness::Down { reason, .. } => vec![
                Line::styled("no data: the source is down", t.bad()),
                Line::styled(fmt::one_line(&reason), t.muted()),
            ],
            _ => vec![Line::styled("waiting for the first poll…", t.muted())],
        });
    }
    empty.map(|e| vec![Line::styled(e, t.muted())])
}

/// "in the last 15m" for empty states.
pub fn window_phrase(state: &State) -> String {
    format!(
        "in the last {}",
        format_duration(std::time::Duration::from_secs(state.window_secs()))
    )
}

/// Render pane `pane`'s list: its frame, then the placeholder if there is
/// one, else the table; dimmed when stale.
#[allow(clippy::too_many_arguments)]
pub fn render_list<'a, 'l>(
    ctx: &Ctx,
    pane: PaneId,
    block: Block<'_>,
    area: Rect,
    buf: &mut Buffer,
    placeholder: Option<Vec<Line<'static>>>,
    body: impl FnOnce(Rect) -> widgets::ListBody<'a, 'l>,
) {
    let inner = block.inner(area);
    let drawn = widgets::section_table(area, buf, ctx.theme(), block, placeholder, body);
    ctx.hit_rows(FilterTarget::Pane(pane), drawn);
    if ctx.freshness().is_stale() {
        widgets::dim(inner, buf);
    }
}

/// Render a pane frame, then its body (or a placeholder), dimmed when stale.
pub fn render_framed(
    ctx: &Ctx,
    block: Block<'_>,
    area: Rect,
    buf: &mut Buffer,
    placeholder: Option<Vec<Line<'static>>>,
    body: impl FnOnce(Rect, &mut Buffer),
) {
    let inner = block.inner(area);
    block.render(area, buf);
    match placeholder {
        Some(lines) => widgets::message(inner, buf, lines),
        None => body(inner, buf),
    }
    if ctx.freshness().is_stale() {
        widgets::dim(inner, buf);
    }
}

/// A table pane's inner area split for a wall screen: the table gets its
/// `rows` and header; the spare rows below (from two: a heading and one
/// strip) go to charts ([`strip_charts`]), else the table takes
/// everything (the second area is then empty).
pub fn table_then_charts(inner: Rect, rows: usize) -> (Rect, Rect) {
    let table_h = u16::try_from(rows + 1)
        .unwrap_or(u16::MAX)
        .min(inner.height);
    let spare = inner.height - table_h;
    if rows > 0 && spare >= 2 {
        let [a, b] =
            Layout::vertical([Constraint::Length(table_h), Constraint::Min(0)]).areas(inner);
        (a, b)
    } else {
        (inner, Rect::default())
    }
}

/// The charts below a table: a heading ("p95 per minute, log scale" and the
/// span), then one log-scale strip per row of the table, in its order, as
/// many as fit ([`strips_that_fit`]); the heading says so when that is not
/// all of them.
pub fn strip_charts(
    ctx: &Ctx,
    area: Rect,
    buf: &mut Buffer,
    first: Option<Minute>,
    mut items: Vec<Strip>,
    label_w: u16,
) {
    let t = ctx.theme();
    let charts = Rect::new(
        area.x + 1,
        area.y + 1,
        area.width.saturating_sub(1),
        area.height.saturating_sub(1),
    );
    let total = items.len();
    items.truncate(strips_that_fit(total, charts.height));
    let mut heading = format!(
        "p95 per minute, log scale{}",
        widgets::span_label(ctx, first)
    );
    if items.len() < total {
        heading.push_str(&format!(" · first {} of {total} rows", items.len()));
    }
    buf.set_string(area.x + 1, area.y, heading, t.heading());
    strips(charts, buf, &items, label_w);
}
