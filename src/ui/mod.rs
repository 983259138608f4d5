//! The live terminal dashboard.
//!
//! Data flows one way: a source task sends [`crate::model::Update`]s, the
//! event loop ([`event_loop`]) applies them to the [`crate::store::State`],
//! and [`Screen`] renders `&State` plus the UI state ([`app::App`]) into a
//! ratatui buffer, noting where it drew what in a [`mouse::HitMap`]. Keys
//! and mouse gestures become [`action::Action`]s through the one binding
//! table ([`bindings`]); applying an action is pure and returns an
//! [`action::Effect`] for the loop to carry out. The clock is always passed
//! in, so rendering is deterministic (see `tests/ui_*.rs`).
//!
//! Files: [`header`], [`footer`], [`help`] and [`layout`] frame the screen;
//! [`panes`] has one file per overview pane, [`views`] one per drill-down;
//! [`theme`] owns colours and glyphs, [`terminal`] the terminal itself.

pub mod action;
pub mod app;
pub mod bell;
pub mod bindings;
pub mod chart;
pub mod event_loop;
pub mod footer;
pub mod header;
pub mod help;
pub mod judged;
pub mod layout;
pub mod list;
pub mod mode;
pub mod mouse;
pub mod nav;
pub mod notice;
pub mod pane;
pub mod panes;
pub mod redraw;
pub mod terminal;
pub mod theme;
pub mod views;
pub mod widgets;

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

// The cell formatting lives in the neutral `crate::format` (shared with
// `jfmon snapshot`); the views and panes reach it as `fmt`.
use crate::format as fmt;
use crate::model::SourceStatus;
use crate::store::State;
use app::App;
use nav::View;
use theme::Theme;

pub use app::UiSettings;

/// Everything a widget may read while drawing one frame.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub app: &'a App,
    /// The data shown (a frozen copy while paused).
    pub state: &'a State,
    /// The live data (the header shows the sources' current state).
    pub live: &'a State,
    /// The clock for this frame.
    pub now: DateTime<Utc>,
    /// Where the frame notes what it drew where (set by [`Screen::draw`]).
    pub hits: Option<&'a RefCell<mouse::HitMap>>,
}

impl<'a> Ctx<'a> {
    pub fn theme(&self) -> &'a Theme {
        &self.app.settings.theme
    }

    /// Note that `spot` was drawn at `area` (for the mouse).
    pub fn hit(&self, area: Rect, spot: mouse::Spot) {
        if let Some(h) = self.hits {
            h.borrow_mut().add(area, spot);
        }
    }

    /// Note the rows a list drew (for the mouse).
    pub fn hit_rows(&self, list: mode::FilterTarget, rows: Option<mouse::DrawnRows>) {
        if let (Some(h), Some(rows)) = (self.hits, rows) {
            rows.record(list, &mut h.borrow_mut());
        }
    }

    /// How fresh the shown data is.
    pub fn freshness(&self) -> Freshness {
        freshness(self.live, self.app, self.now)
    }
}

/// How current the data on screen is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Nothing received yet.
    Waiting,
    /// Delivered `age` seconds ago, within three poll intervals.
    Live { age: i64 },
    /// Last delivered `age` seconds ago: longer than three poll intervals.
    Stale { age: i64 },
    /// The source reports an error; data (if any) is `age` seconds old.
    Down { age: Option<i64>, reason: String },
}

impl Freshness {
    pub fn is_stale(&self) -> bool {
        matches!(self, Freshness::Stale { .. } | Freshness::Down { .. })
    }
}

/// The freshest source decides: a down source only counts when no other
/// source is delivering.
pub fn freshness(state: &State, app: &App, now: DateTime<Utc>) -> Freshness {
    let sources: Vec<&SourceStatus> = state.sources().collect();
    let age = |t: DateTime<Utc>| (now - t).num_seconds().max(0);
    let stale_after = (app.settings.poll_interval.as_secs_f64() * 3.0).max(5.0) as i64;
    if sources.is_empty() {
        return if state.has_data() {
            Freshness::Live {
                age: age(state.now()),
            }
        } else {
            Freshness::Waiting
        };
    }
    let best_up = sources
        .iter()
        .filter(|s| s.up)
        .filter_map(|s| s.last_ok)
        .max();
    if let Some(t) = best_up {
        let a = age(t);
        return if a > stale_after {
            Freshness::Stale { age: a }
        } else {
            Freshness::Live { age: a }
        };
    }
    if let Some(down) = sources.iter().find(|s| !s.up && s.last_error.is_some()) {
        return Freshness::Down {
            age: sources.iter().filter_map(|s| s.last_ok).max().map(age),
            reason: down.last_error.clone().unwrap_or_default(),
        };
    }
    if state.has_data() {
        Freshness::Live {
            age: age(state.now()),
        }
    } else {
        Freshness::Waiting
    }
}

/// Below this the dashboard shows only "terminal too small".
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

/// The whole screen.
pub struct Screen<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for Screen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        self.draw(area, buf);
    }
}

impl Screen<'_> {
    /// Draw the screen; returns where it drew what, for the mouse.
    pub fn draw(self, area: Rect, buf: &mut Buffer) -> mouse::HitMap {
        let hits = RefCell::new(mouse::HitMap::default());
        let ctx = Ctx {
            hits: Some(&hits),
            ..self.ctx
        };
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            too_small(area, buf);
            return hits.into_inner();
        }
        let [head, body, foot] = layout::frame(area);
        header::Header { ctx }.render(head, buf);
        match ctx.app.view() {
            View::Overview => views::overview::Overview { ctx }.render(body, buf),
            View::Integration(name) => {
                views::integration::IntegrationView { ctx, name }.render(body, buf)
            }
            View::Endpoint(key) => views::endpoint::EndpointView { ctx, key }.render(body, buf),
            View::Alert(id) => views::alert::AlertDetail { ctx, id: *id }.render(body, buf),
            View::RuleAlert(r) => views::rule_alert::RuleAlertView {
                ctx,
                fingerprint: &r.fingerprint,
            }
            .render(body, buf),
            View::Session(id) => views::session::SessionView { ctx, id }.render(body, buf),
            View::Usage => views::usage::UsageView { ctx }.render(body, buf),
            View::Call(call) => views::call::CallDetail {
                ctx,
                call: call.as_ref(),
            }
            .render(body, buf),
        }
        footer::Footer { ctx }.render(foot, buf);
        help::overlay(ctx, body, buf);
        if ctx.theme().ascii {
            widgets::asciify(area, buf);
        }
        hits.into_inner()
    }
}

/// "terminal too small: need WxH", as much of it as fits.
fn too_small(area: Rect, buf: &mut Buffer) {
    let text = format!(
        "terminal too small: need {MIN_WIDTH}x{MIN_HEIGHT} (now {}x{})",
        area.width, area.height
    );
    let lines = area.height;
    let y = area.y + lines.saturating_sub(1) / 2;
    let row = Rect::new(
        area.x,
        y,
        area.width,
        area.height.saturating_sub(y - area.y),
    );
    Paragraph::new(Line::from(Span::styled(text, Style::new())))
        .wrap(Wrap { trim: true })
        .centered()
        .render(row, buf);
}
