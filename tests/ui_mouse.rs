//! Mouse flows as sequences of clicks and wheel notches on the app state:
//! each gesture is read against the hit map of a real frame (rendered with
//! the fixed test state), turned into actions by the mouse table and
//! applied with the pure `App::apply`, exactly as the event loop does. The
//! tests aim at what is drawn (text on screen), never at guessed layout
//! coordinates.

mod ui_support;

use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use jfmon::store::State;
use jfmon::ui::action::{Action, Effect};
use jfmon::ui::app::App;
use jfmon::ui::mode::Mode;
use jfmon::ui::mouse;
use jfmon::ui::nav::View;
use jfmon::ui::pane::PaneId;
use jfmon::ui::panes;
use ui_support::*;

const W: u16 = 80;
const H: u16 = 24;

/// The cell where `text` is first drawn in a `w`×`h` frame.
fn locate(app: &App, state: &State, text: &str, w: u16, h: u16) -> (u16, u16) {
    let (screen, _) = draw_with_hits(app, state, w, h);
    for (y, line) in screen.lines().enumerate() {
        if let Some(byte) = line.find(text) {
            return (line[..byte].chars().count() as u16, y as u16);
        }
    }
    panic!("{text:?} is not on screen:\n{screen}");
}

/// Send one mouse event at (x, y) through a fresh frame's hit map.
fn gesture(app: &mut App, state: &State, kind: MouseEventKind, x: u16, y: u16, w: u16, h: u16) {
    let (_, hits) = draw_with_hits(app, state, w, h);
    let ev = MouseEvent {
        kind,
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    };
    for a in mouse::actions(&hits, &app.mode, &ev) {
        assert_eq!(app.apply(state, a, now()), Effect::None, "{a:?}");
    }
}

/// Click on the first place `text` is drawn, `dx` cells into it.
fn click_sized(app: &mut App, state: &State, text: &str, dx: u16, w: u16, h: u16) {
    let (x, y) = locate(app, state, text, w, h);
    let left = MouseEventKind::Down(MouseButton::Left);
    gesture(app, state, left, x + dx, y, w, h);
}

fn click(app: &mut App, state: &State, text: &str) {
    click_sized(app, state, text, 1, W, H);
}

fn selected(app: &App, state: &State, p: PaneId) -> Option<String> {
    let keys = panes::keys(p, state, app.list(p));
    app.list(p).selected_key(&keys).cloned()
}

#[test]
fn the_banner_opens_the_failing_integration_and_a_crumb_goes_back() {
    let s = state();
    let mut a = app();
    click(&mut a, &s, "DOWN: openai");
    assert_eq!(a.view(), &View::Integration("openai".into()));
    click(&mut a, &s, "Overview");
    assert_eq!(a.view(), &View::Overview);
    assert_eq!(a.focus, PaneId::Integrations);
}

#[test]
fn a_click_selects_and_a_second_click_opens() {
    let s = state();
    let mut a = app();
    click(&mut a, &s, "elevenlabs  ");
    assert_eq!(a.view(), &View::Overview, "one click only selects");
    assert_eq!(
        selected(&a, &s, PaneId::Integrations).as_deref(),
        Some("elevenlabs")
    );
    click(&mut a, &s, "elevenlabs  ");
    assert_eq!(a.view(), &View::Integration("elevenlabs".into()));
}

/// A left press at (x, y) read against `hits` (a frame drawn earlier) and
/// applied; no frame is drawn.
fn press_on(app: &mut App, state: &State, hits: &mouse::HitMap, x: u16, y: u16) {
    let ev = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    };
    for a in mouse::actions(hits, &app.mode, &ev) {
        app.apply(state, a, now());
    }
}

/// A double-click faster than a frame: both clicks are read against the
/// frame drawn before the first, in which the row is not selected yet; the
/// second click still opens it. And the other way round: a row drawn
/// selected but no longer selected when the click arrives (a key moved the
/// selection in between) is selected, not opened.
#[test]
fn a_double_click_within_one_frame_opens() {
    let s = state();
    let mut a = app();
    let (x, y) = locate(&a, &s, "elevenlabs  ", W, H);
    let (_, hits) = draw_with_hits(&a, &s, W, H);
    press_on(&mut a, &s, &hits, x + 1, y);
    assert_eq!(a.view(), &View::Overview, "the first click only selects");
    press_on(&mut a, &s, &hits, x + 1, y);
    assert_eq!(a.view(), &View::Integration("elevenlabs".into()));

    let mut a = app();
    let (x, y) = locate(&a, &s, "openai  ", W, H);
    let (_, hits) = draw_with_hits(&a, &s, W, H);
    a.apply(&s, Action::Down, now());
    press_on(&mut a, &s, &hits, x + 1, y);
    assert_eq!(a.view(), &View::Overview, "openai was no longer selected");
    assert_eq!(
        selected(&a, &s, PaneId::Integrations).as_deref(),
        Some("openai")
    );
}

#[test]
fn a_click_in_another_pane_focuses_it_without_opening() {
    let s = state();
    let mut a = app();
    assert_eq!(a.focus, PaneId::Integrations);
    // The first latency row is its cursor row, but the pane had no focus:
    // the click focuses and selects, it does not open.
    click(&mut a, &s, "POST /api/spiritual/guidance");
    assert_eq!(a.focus, PaneId::Latency);
    assert_eq!(a.view(), &View::Overview);
    assert_eq!(
        selected(&a, &s, PaneId::Latency).as_deref(),
        Some("POST /api/spiritual/guidance")
    );
    click(&mut a, &s, "POST /api/spiritual/guidance");
    assert!(matches!(a.view(), View::Endpoint(k) if k.endpoint == "/api/spiritual/guidance"));
    // The pane's title focuses it.
    let mut a = app();
    click(&mut a, &s, "4 Alerts");
    assert_eq!(a.focus, PaneId::Alerts);
    assert_eq!(a.view(), &View::Overview);
}

#[test]
fn the_wheel_scrolls_the_list_under_the_pointer() {
    let s = state();
    let mut a = app();
    let (x, y) = locate(&a, &s, "OpenAI integration down", W, H);
    gesture(&mut a, &s, MouseEventKind::ScrollDown, x, y, W, H);
    assert_eq!(a.focus, PaneId::Alerts, "the list under the pointer");
    let keys = panes::keys(PaneId::Alerts, &s, a.list(PaneId::Alerts));
    assert_eq!(
        a.list(PaneId::Alerts).index_in(&keys),
        Some(mouse::WHEEL_ROWS.min(keys.len() - 1))
    );
    gesture(&mut a, &s, MouseEventKind::ScrollUp, x, y, W, H);
    assert_eq!(a.list(PaneId::Alerts).index_in(&keys), Some(0));
    // The integrations pane kept its own (untouched) selection.
    assert_eq!(a.list(PaneId::Integrations).selected, None);
}

#[test]
fn sections_of_a_drill_down_take_clicks_and_crumbs_go_back_one_level() {
    let s = state();
    let mut a = app();
    let (w, h) = (160, 48);
    click_sized(&mut a, &s, "DOWN: openai", 1, w, h);
    assert_eq!(a.view(), &View::Integration("openai".into()));
    // A related alert: the section takes the focus and the row the selection.
    click_sized(&mut a, &s, "OpenAI integration down", 1, w, h);
    assert_eq!(a.nav.top().detail.section, 1);
    assert_eq!(a.view(), &View::Integration("openai".into()));
    click_sized(&mut a, &s, "OpenAI integration down", 1, w, h);
    assert_eq!(a.view(), &View::Alert(7));
    assert_eq!(a.nav.depth(), 3);
    // The middle crumb goes back to the integration, as it was left.
    click_sized(&mut a, &s, "Integration openai", 2, w, h);
    assert_eq!(a.view(), &View::Integration("openai".into()));
    assert_eq!(a.nav.depth(), 2);
    assert_eq!(a.nav.top().detail.section, 1, "the section focus is kept");
    // Another section's frame moves the focus there.
    click_sized(&mut a, &s, "recent errors", 1, w, h);
    assert_eq!(a.nav.top().detail.section, 0);
}

#[test]
fn modes_come_first() {
    let s = state();
    let mut a = app();
    // Help: a click anywhere closes it.
    a.apply(&s, Action::ToggleHelp, now());
    let left = MouseEventKind::Down(MouseButton::Left);
    gesture(&mut a, &s, left, 5, 5, W, H);
    assert_eq!(a.mode, Mode::Normal);
    // Typing a filter: a click keeps the filter (as Enter) and then acts.
    a.apply(&s, Action::FocusPane(PaneId::Latency), now());
    a.apply(&s, Action::StartFilter, now());
    for c in "credits".chars() {
        a.apply(&s, Action::FilterChar(c), now());
    }
    click(&mut a, &s, "POST /api/credits/purchase");
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.list(PaneId::Latency).filter, "credits");
    assert_eq!(
        selected(&a, &s, PaneId::Latency).as_deref(),
        Some("POST /api/credits/purchase")
    );
    // Confirming an acknowledgement: the mouse cannot answer.
    a.apply(&s, Action::FocusPane(PaneId::Alerts), now());
    a.apply(&s, Action::Acknowledge, now());
    assert!(matches!(a.mode, Mode::ConfirmAck { .. }));
    gesture(&mut a, &s, left, 40, 12, W, H);
    assert!(matches!(a.mode, Mode::ConfirmAck { .. }));
}

#[test]
fn the_wall_screen_charts_belong_to_their_pane() {
    let s = state();
    let mut a = app();
    let (w, h) = (240, 64);
    click_sized(&mut a, &s, "p95 per minute, log scale", 1, w, h);
    assert_eq!(a.focus, PaneId::Latency);
    assert_eq!(a.view(), &View::Overview);
}
