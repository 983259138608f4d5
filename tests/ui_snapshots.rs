//! Every view of the dashboard rendered with ratatui's `TestBackend` from a
//! fixed state and a fixed clock, at 80x24 and 160x48, compared with the
//! snapshots in `tests/snapshots/` (insta). Also: stale and down sources,
//! missing tables, an empty database, a terminal too small, `--ascii`,
//! no-colour, and no panic at any size.

mod ui_support;

use insta::assert_snapshot;
use jfmon::model::RuleOrigin;
use jfmon::store::State;
use jfmon::ui::action::Action;
use jfmon::ui::app::App;
use jfmon::ui::pane::PaneId;
use ratatui::style::Color;
use ui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn act(app: &mut App, state: &State, actions: &[Action]) {
    for a in actions {
        app.apply(state, *a, now());
    }
}

fn snap_sizes(name: &str, app: &App, state: &State) {
    for (w, h) in SIZES {
        assert_snapshot!(format!("{name}_{w}x{h}"), render(app, state, w, h));
    }
}

/// The wall screen and a mid-sized terminal, for the overview and the
/// integration view.
const MORE_SIZES: [(u16, u16); 2] = [(240, 64), (100, 30)];

fn snap_more_sizes(name: &str, app: &App, state: &State) {
    snap_sizes(name, app, state);
    for (w, h) in MORE_SIZES {
        assert_snapshot!(format!("{name}_{w}x{h}"), render(app, state, w, h));
    }
}

#[test]
fn overview() {
    snap_more_sizes("overview", &app(), &state());
}

/// Thirty endpoints and twelve integrations on the wall screen: the tables
/// take their rows and the rows left go to charts of the first endpoints
/// and of every integration.
#[test]
fn overview_with_many_endpoints() {
    let s = many_state();
    for (w, h) in [(240, 64), (160, 48)] {
        assert_snapshot!(format!("overview_many_{w}x{h}"), render(&app(), &s, w, h));
    }
}

/// The longest run of lines on which one pane (a stretch between two
/// vertical borders, at least 10 cells) is entirely blank.
fn longest_blank_run(text: &str) -> usize {
    let mut runs: std::collections::HashMap<usize, usize> = Default::default();
    let mut worst = 0;
    for line in text.lines() {
        let cells: Vec<char> = line.trim_matches('"').chars().collect();
        let mut next = std::collections::HashMap::new();
        let mut start = 0;
        for (x, c) in cells.iter().chain(std::iter::once(&'│')).enumerate() {
            if "│┃|".contains(*c) {
                let seg = &cells[start.min(cells.len())..x.min(cells.len())];
                if seg.len() >= 10 {
                    let run = if seg.iter().all(|c| *c == ' ') {
                        runs.get(&start).copied().unwrap_or(0) + 1
                    } else {
                        0
                    };
                    worst = worst.max(run);
                    next.insert(start, run);
                }
                start = x + 1;
            }
        }
        runs = next;
    }
    worst
}

/// No pane of the wall screen (nor of a 160x48 or 100x30 terminal) shows a
/// block of empty rows, with the usual five endpoints and four integrations
/// or with thirty endpoints and twelve integrations.
#[test]
fn the_wall_screen_has_no_big_blank_blocks() {
    // A strip chart's headroom above a low value may be blank for a few
    // rows on a tall screen; a list ending in a block of blank rows is what
    // fails. At 100x30 every row counts: two at most.
    let sizes = [(240, 64, 5), (160, 48, 5), (100, 30, 2)];
    for (fixture, s) in [("usual", state()), ("many", many_state())] {
        let mut drill = app();
        act(&mut drill, &s, &[Action::JumpToFailing]);
        for (name, a) in [("overview", app()), ("integration", drill)] {
            for (w, h, most) in sizes {
                let text = render(&a, &s, w, h);
                let worst = longest_blank_run(&text);
                assert!(
                    worst <= most,
                    "{fixture} {name} {w}x{h}: {worst} blank rows in a pane:\n{text}"
                );
            }
        }
    }
    // The check itself.
    let blank_pane = "\"│x│          │\"\n".repeat(5);
    assert_eq!(longest_blank_run(&blank_pane), 5);
}

#[test]
fn integration_view_of_the_down_integration() {
    let s = state();
    let mut a = app();
    act(&mut a, &s, &[Action::JumpToFailing]);
    snap_more_sizes("integration_openai", &a, &s);
}

#[test]
fn endpoint_view() {
    let s = state();
    let mut a = app();
    act(
        &mut a,
        &s,
        &[Action::FocusPane(PaneId::Latency), Action::Open],
    );
    snap_sizes("endpoint_guidance", &a, &s);
}

#[test]
fn alert_view() {
    let s = state();
    let mut a = app();
    act(
        &mut a,
        &s,
        &[Action::FocusPane(PaneId::Alerts), Action::Open],
    );
    let text = render(&a, &s, 160, 48);
    assert!(text.contains("\"api_key\": \"***\""), "{text}");
    assert!(!text.contains("sk-live-SECRET"));
    snap_sizes("alert_7", &a, &s);
}

/// The Alerts pane with rule alerts (firing, flapping, pending, resolved:
/// most severe first, each with why), the header's firing count.
#[test]
fn rule_alerts_pane() {
    let s = rules::rule_state(RuleOrigin::Local);
    let mut a = app();
    act(&mut a, &s, &[Action::FocusPane(PaneId::Alerts)]);
    let text = render(&a, &s, 160, 48);
    assert!(text.contains("3 alerts FIRING"), "{text}");
    for tag in ["FIRE", "FLAP", "PEND", "res"] {
        assert!(text.contains(tag), "{tag}: {text}");
    }
    snap_sizes("rule_alerts", &a, &s);
}

/// The drill-down of a rule alert: the error rate per minute against its
/// threshold and recovery threshold, and of an anomaly: p95 against its band.
#[test]
fn rule_alert_drill_downs() {
    let s = rules::rule_state(RuleOrigin::Hub);
    let mut a = app();
    act(
        &mut a,
        &s,
        &[
            Action::FocusPane(PaneId::Alerts),
            Action::Down,
            Action::Open,
        ],
    );
    let text = render(&a, &s, 160, 48);
    assert!(text.contains("Alert EndpointErrorRate"), "{text}");
    assert!(text.contains("40.0% > 10.0%"), "{text}");
    assert!(text.contains("recovers below 5.0%"), "{text}");
    snap_sizes("rule_alert_error_rate", &a, &s);
    let mut a = app();
    act(
        &mut a,
        &s,
        &[
            Action::FocusPane(PaneId::Alerts),
            Action::Down,
            Action::Down,
            Action::Down,
            Action::Down,
            Action::Open,
        ],
    );
    let text = render(&a, &s, 160, 48);
    assert!(text.contains("Alert EndpointLatencyAnomaly"), "{text}");
    snap_sizes("rule_alert_band", &a, &s);
}

#[test]
fn session_view_with_masked_timeline() {
    let s = state();
    let mut a = app();
    act(
        &mut a,
        &s,
        &[
            Action::FocusPane(PaneId::Sessions),
            Action::Down,
            // The Usage view, on the session's service; Enter again opens it.
            Action::Open,
            Action::Open,
        ],
    );
    a.on_session_context("sess-9001", Ok(timeline()));
    act(&mut a, &s, &[Action::Down]);
    let text = render(&a, &s, 160, 48);
    assert!(text.contains("***"), "{text}");
    assert!(!text.contains("abc.def"));
    snap_sizes("session_9001", &a, &s);
}

#[test]
fn usage_view() {
    let s = usage_state();
    let mut a = app();
    act(&mut a, &s, &[Action::OpenUsage]);
    let text = render(&a, &s, 160, 48);
    for want in [
        "voice_guidance",
        "completion fell",
        "quick ends",
        "vs 7d: no history",
        "sign-ups 30",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    snap_sizes("usage", &a, &s);
    // Sorted by completion, worst first; filtered to one service.
    act(
        &mut a,
        &s,
        &[Action::SortNext, Action::SortNext, Action::StartFilter],
    );
    for c in "voice".chars() {
        act(&mut a, &s, &[Action::FilterChar(c)]);
    }
    act(&mut a, &s, &[Action::FilterAccept]);
    assert_snapshot!("usage_sorted_filtered_80x24", render(&a, &s, 80, 24));
}

#[test]
fn help_overlay() {
    let s = state();
    let mut a = app();
    act(&mut a, &s, &[Action::ToggleHelp]);
    snap_sizes("help", &a, &s);
}

#[test]
fn confirm_acknowledge() {
    let s = state();
    let mut a = app();
    act(
        &mut a,
        &s,
        &[Action::FocusPane(PaneId::Alerts), Action::Acknowledge],
    );
    assert_snapshot!("confirm_ack_80x24", render(&a, &s, 80, 24));
}

#[test]
fn filtering_and_sorting() {
    let s = state();
    let mut a = app();
    act(
        &mut a,
        &s,
        &[Action::FocusPane(PaneId::Latency), Action::StartFilter],
    );
    for c in "credits".chars() {
        act(&mut a, &s, &[Action::FilterChar(c)]);
    }
    assert_snapshot!("filter_typing_80x24", render(&a, &s, 80, 24));
    act(
        &mut a,
        &s,
        &[Action::FilterAccept, Action::SortNext, Action::SortReverse],
    );
    assert_snapshot!("filter_sorted_80x24", render(&a, &s, 80, 24));
}

#[test]
fn paused() {
    let s = state();
    let mut a = app();
    act(&mut a, &s, &[Action::TogglePause]);
    assert_snapshot!("paused_80x24", render(&a, &s, 80, 24));
}

#[test]
fn stale_source() {
    // The last poll was a minute ago: panes dimmed and marked stale.
    let s = state_from(Some(full_batch()), Some(postgres(true, 60, None)));
    let text = render(&app(), &s, 80, 24);
    assert!(text.contains("stale for 1m00s"), "{text}");
    assert!(text.contains("STALE 1m"));
    snap_sizes("stale", &app(), &s);
    let b = draw(&app(), &s, 80, 24);
    let dimmed = b
        .buffer()
        .content
        .iter()
        .filter(|c| c.modifier.contains(ratatui::style::Modifier::DIM))
        .count();
    assert!(dimmed > 500, "stale panes are dimmed ({dimmed} cells)");
}

#[test]
fn source_down_keeps_last_data() {
    let s = state_from(
        Some(full_batch()),
        Some(postgres(
            false,
            125,
            Some("cannot reach PostgreSQL at db.example.com:5432: connection refused"),
        )),
    );
    let text = render(&app(), &s, 160, 48);
    assert!(
        text.contains("postgres down: cannot reach PostgreSQL"),
        "{text}"
    );
    assert!(text.contains("openai"), "last data stays");
    snap_sizes("down", &app(), &s);
}

#[test]
fn missing_tables() {
    let mut b = full_batch();
    b.tables_missing = Some(vec![
        "monitoring_sessions".into(),
        "monitoring_business_metrics".into(),
    ]);
    b.sessions = None;
    b.business.clear();
    b.today = None;
    let s = state_from(Some(b), Some(postgres(true, 1, None)));
    let text = render(&app(), &s, 160, 48);
    assert!(
        text.contains("table monitoring_sessions not found — run `jfmon migrate`"),
        "{text}"
    );
    snap_sizes("missing_tables", &app(), &s);
}

#[test]
fn empty_database() {
    let s = state_from(Some(empty_batch()), Some(postgres(true, 1, None)));
    snap_sizes("empty_db", &app(), &s);
}

#[test]
fn before_the_first_poll() {
    let s = state_from(None, None);
    assert_snapshot!("waiting_80x24", render(&app(), &s, 80, 24));
}

#[test]
fn terminal_too_small() {
    let s = state();
    assert_snapshot!("too_small_30x8", render(&app(), &s, 30, 8));
    assert_snapshot!("too_small_39x10", render(&app(), &s, 39, 10));
    assert_snapshot!("too_small_1x1", render(&app(), &s, 1, 1));
    assert_snapshot!("smallest_40x10", render(&app(), &s, 40, 10));
}

#[test]
fn ascii_only() {
    let s = state();
    let ascii = App::new(settings(true, true), WINDOW);
    snap_sizes("ascii_overview", &ascii, &s);
    let mut a = ascii.clone();
    act(&mut a, &s, &[Action::JumpToFailing]);
    snap_sizes("ascii_integration", &a, &s);
    let mut e = ascii.clone();
    act(
        &mut e,
        &s,
        &[Action::FocusPane(PaneId::Latency), Action::Open],
    );
    for app in [&ascii, &a, &e] {
        for (w, h) in SIZES {
            let b = draw(app, &s, w, h);
            for c in &b.buffer().content {
                assert!(
                    c.symbol().is_ascii(),
                    "non-ASCII {:?} at {w}x{h}",
                    c.symbol()
                );
            }
        }
    }
}

#[test]
fn no_colour_sets_no_colour() {
    let s = state();
    let mono = App::new(settings(false, false), WINDOW);
    let mut views = vec![mono.clone()];
    for actions in [
        vec![Action::JumpToFailing],
        vec![Action::FocusPane(PaneId::Latency), Action::Open],
        vec![Action::FocusPane(PaneId::Alerts), Action::Open],
        vec![Action::ToggleHelp],
    ] {
        let mut a = mono.clone();
        act(&mut a, &s, &actions);
        views.push(a);
    }
    for a in &views {
        for (w, h) in SIZES {
            let b = draw(a, &s, w, h);
            for c in &b.buffer().content {
                assert_eq!((c.fg, c.bg), (Color::Reset, Color::Reset));
            }
        }
    }
    // The text is the same as with colour: nothing is said by colour alone.
    assert_eq!(render(&mono, &s, 80, 24), render(&app(), &s, 80, 24));
    assert_snapshot!("mono_overview_80x24", render(&mono, &s, 80, 24));
}

#[test]
fn no_panic_at_any_size() {
    let s = state();
    let empty = state_from(None, None);
    let mut apps = vec![app()];
    for actions in [
        vec![Action::JumpToFailing],
        vec![Action::FocusPane(PaneId::Latency), Action::Open],
        vec![Action::FocusPane(PaneId::Alerts), Action::Open],
        vec![Action::FocusPane(PaneId::Sessions), Action::Open],
        vec![Action::OpenUsage],
        vec![Action::ToggleHelp],
        vec![Action::FocusPane(PaneId::Alerts), Action::Acknowledge],
        vec![Action::FocusPane(PaneId::Business)],
    ] {
        let mut a = app();
        act(&mut a, &s, &actions);
        apps.push(a);
    }
    let mut ascii = App::new(settings(false, true), WINDOW);
    act(&mut ascii, &s, &[Action::JumpToFailing]);
    apps.push(ascii);
    let mut sizes = vec![];
    for w in (1..=130).step_by(3) {
        for h in (1..=52).step_by(3) {
            sizes.push((w, h));
        }
    }
    sizes.extend([(40, 10), (39, 9), (80, 24), (1, 100), (300, 1), (250, 80)]);
    for a in &apps {
        for &(w, h) in &sizes {
            draw(a, &s, w, h);
            draw(a, &empty, w, h);
        }
    }
}

#[test]
fn snapshot_text_formats_latency_as_the_dashboard_does() {
    // One duration format everywhere: `jfmon snapshot`'s summary shows the
    // same latency cells as the dashboard (`30.1s`, `1.25s`, `840ms`).
    let s = state();
    let text = jfmon::cmd::snapshot::summary(&s);
    let mut seconds = 0;
    for e in s.endpoints() {
        for v in [e.p50_ms, e.p95_ms, e.p99_ms] {
            let cell = jfmon::format::ms(v);
            assert!(text.contains(&cell), "{cell} not in\n{text}");
            seconds += usize::from(v.is_some_and(|v| v >= 1000.0));
        }
    }
    for i in s.integrations() {
        let cell = format!("p95 {:>7}", jfmon::format::ms(i.p95_ms));
        assert!(text.contains(&cell), "{cell} not in\n{text}");
        seconds += usize::from(i.p95_ms.is_some_and(|v| v >= 1000.0));
    }
    assert!(seconds > 0, "the fixture has latencies of a second or more");
}

#[test]
fn recent_error_in_full() {
    let s = state();
    // The integration view's first recent error, and an API error of the
    // endpoint view.
    let mut a = app();
    act(&mut a, &s, &[Action::JumpToFailing, Action::Open]);
    snap_sizes("error_openai", &a, &s);
    let mut a = app();
    act(
        &mut a,
        &s,
        &[
            Action::FocusPane(PaneId::Latency),
            Action::Open,
            Action::Open,
        ],
    );
    snap_sizes("error_guidance", &a, &s);
}
