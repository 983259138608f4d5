//! Keyboard flows as sequences of key presses on the app state, through the
//! real binding table and the pure `App::apply`: no terminal, no source.
//! Each test checks the resulting view, mode, notices and the effects the
//! event loop would carry out (requests to the source, quit, freeze).

mod ui_support;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jfmon::model::{ApiCall, EndpointKey};
use jfmon::store::State;
use jfmon::ui::action::{Effect, Request};
use jfmon::ui::app::App;
use jfmon::ui::bindings::lookup;
use jfmon::ui::mode::Mode;
use jfmon::ui::nav::{FailedCall, View};
use jfmon::ui::notice::Level;
use jfmon::ui::pane::PaneId;
use jfmon::ui::panes;
use ui_support::*;

/// A key as written in the tests: single characters, or `<Enter>`,
/// `<Esc>`, `<Tab>`, `<S-Tab>`, `<Down>`, `<Up>`, `<BS>`, `<C-c>`.
fn key(k: &str) -> KeyEvent {
    let code = match k {
        "<Enter>" => KeyCode::Enter,
        "<Esc>" => KeyCode::Esc,
        "<Tab>" => KeyCode::Tab,
        "<S-Tab>" => KeyCode::BackTab,
        "<Down>" => KeyCode::Down,
        "<Up>" => KeyCode::Up,
        "<BS>" => KeyCode::Backspace,
        "<C-c>" => return KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        s => {
            let mut chars = s.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                panic!("unknown key name {s:?}: add it to `key`");
            };
            let m = if c.is_ascii_uppercase() || "!?".contains(c) {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            return KeyEvent::new(KeyCode::Char(c), m);
        }
    };
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Press keys; returns the effects that were not `None`. A key name `key`
/// does not know fails the test (a typo must not pass as "nothing happened").
fn press(app: &mut App, state: &State, keys: &[&str]) -> Vec<Effect> {
    let mut out = vec![];
    for k in keys {
        let ev = key(k);
        let Some(action) = lookup(&app.mode, app.nav.is_overview(), &ev) else {
            // A real key bound to nothing here (tests check keys that must
            // not leak through the help or a read-only mode).
            continue;
        };
        let e = app.apply(state, action, now());
        if e != Effect::None {
            out.push(e);
        }
    }
    out
}

/// Type text (one key per character).
fn typed(s: &str) -> Vec<String> {
    s.chars().map(|c| c.to_string()).collect()
}

fn notice(app: &App) -> (Level, String) {
    let n = app.notices.last().expect("a notice");
    (n.level, n.text.clone())
}

#[test]
fn drill_into_an_integration_and_back() {
    let s = state();
    let mut a = app();
    assert_eq!(a.focus, PaneId::Integrations);
    // Failing first: openai, then elevenlabs.
    let keys = panes::keys(PaneId::Integrations, &s, a.list(PaneId::Integrations));
    assert_eq!(&keys[..2], ["openai", "elevenlabs"]);
    press(&mut a, &s, &["j", "<Enter>"]);
    assert_eq!(a.view(), &View::Integration("elevenlabs".into()));
    // Sections: errors → related alerts; Enter opens the alert.
    press(&mut a, &s, &["<Tab>", "<Enter>"]);
    assert_eq!(a.view(), &View::Alert(6));
    assert_eq!(a.nav.depth(), 3);
    press(&mut a, &s, &["<Esc>"]);
    assert_eq!(a.view(), &View::Integration("elevenlabs".into()));
    assert_eq!(
        a.nav.top().detail.section,
        1,
        "the section focus is restored"
    );
    press(&mut a, &s, &["<BS>"]);
    assert_eq!(a.view(), &View::Overview);
    // The selection is where it was.
    let keys = panes::keys(PaneId::Integrations, &s, a.list(PaneId::Integrations));
    assert_eq!(
        a.list(PaneId::Integrations).selected_key(&keys).unwrap(),
        "elevenlabs"
    );
    // Esc at the overview does nothing harmful.
    press(&mut a, &s, &["<Esc>", "<Esc>"]);
    assert_eq!(a.view(), &View::Overview);
}

#[test]
fn bang_jumps_to_the_failing_integration_and_cycles() {
    let s = state();
    let mut a = app();
    press(&mut a, &s, &["1", "j"]);
    assert_eq!(a.focus, PaneId::Latency);
    press(&mut a, &s, &["!"]);
    assert_eq!(a.view(), &View::Integration("openai".into()));
    press(&mut a, &s, &["!"]);
    assert_eq!(a.view(), &View::Integration("elevenlabs".into()));
    press(&mut a, &s, &["!"]);
    assert_eq!(a.view(), &View::Integration("openai".into()));
    assert_eq!(a.nav.depth(), 2, "jumping replaces, it does not pile up");
    press(&mut a, &s, &["<Esc>"]);
    assert_eq!(
        a.focus,
        PaneId::Integrations,
        "back lands on the integrations pane"
    );
    // From an endpoint view, too.
    press(&mut a, &s, &["1", "<Enter>", "!"]);
    assert_eq!(a.view(), &View::Integration("openai".into()));
}

#[test]
fn nothing_failing_says_so() {
    let s = state_from(Some(empty_batch()), Some(postgres(true, 1, None)));
    let mut a = app();
    assert!(press(&mut a, &s, &["!"]).is_empty());
    assert_eq!(a.view(), &View::Overview);
    assert_eq!(notice(&a).1, "no integration is failing");
}

#[test]
fn pane_focus_keys() {
    let s = state();
    let mut a = app();
    press(&mut a, &s, &["<Tab>"]);
    assert_eq!(a.focus, PaneId::Sessions);
    press(&mut a, &s, &["<S-Tab>", "<S-Tab>"]);
    assert_eq!(a.focus, PaneId::Latency);
    press(&mut a, &s, &["h"]);
    assert_eq!(a.focus, PaneId::Business);
    press(&mut a, &s, &["l", "4"]);
    assert_eq!(a.focus, PaneId::Alerts);
    press(&mut a, &s, &["G"]);
    let keys = panes::keys(PaneId::Alerts, &s, a.list(PaneId::Alerts));
    assert_eq!(a.list(PaneId::Alerts).index_in(&keys), Some(keys.len() - 1));
    press(&mut a, &s, &["g"]);
    assert_eq!(a.list(PaneId::Alerts).index_in(&keys), Some(0));
}

#[test]
fn filter_the_focused_list() {
    let s = state();
    let mut a = app();
    press(&mut a, &s, &["1", "/"]);
    assert!(matches!(a.mode, Mode::Filter { .. }));
    let t = typed("CREDITS");
    let keys: Vec<&str> = t.iter().map(String::as_str).collect();
    // While typing, letters are text (q does not quit, s does not sort).
    press(&mut a, &s, &keys);
    let visible = panes::keys(PaneId::Latency, &s, a.list(PaneId::Latency));
    assert_eq!(
        visible,
        ["GET /api/credits/balance", "POST /api/credits/purchase"]
    );
    press(
        &mut a,
        &s,
        &["<BS>", "<BS>", "<BS>", "<BS>", "<BS>", "<BS>", "<BS>"],
    );
    press(
        &mut a,
        &s,
        &typed("q s").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(a.list(PaneId::Latency).filter, "q s");
    press(&mut a, &s, &["<Esc>"]);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(a.list(PaneId::Latency).filter, "", "Esc clears");
    // Enter keeps it; Esc in normal mode then clears it.
    press(&mut a, &s, &["/", "p", "o", "s", "t", "<Enter>"]);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(
        panes::keys(PaneId::Latency, &s, a.list(PaneId::Latency)).len(),
        3
    );
    press(&mut a, &s, &["<Esc>"]);
    assert_eq!(
        panes::keys(PaneId::Latency, &s, a.list(PaneId::Latency)).len(),
        5
    );
}

#[test]
fn filter_a_drill_down_section() {
    let s = state();
    let mut a = app();
    press(&mut a, &s, &["!", "/"]);
    press(
        &mut a,
        &s,
        &typed("503").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    press(&mut a, &s, &["<Enter>"]);
    let keys = jfmon::ui::views::section_keys(&a, &s);
    assert_eq!(keys.len(), 16, "half of openai's 32 failures are 503s");
}

#[test]
fn sort_columns() {
    let s = state();
    let mut a = app();
    press(&mut a, &s, &["1"]);
    let first = |a: &App| panes::keys(PaneId::Latency, &s, a.list(PaneId::Latency))[0].clone();
    assert_eq!(
        first(&a),
        "POST /api/spiritual/guidance",
        "worst error rate first"
    );
    press(&mut a, &s, &["s"]);
    assert_eq!(first(&a), "GET /api/credits/balance", "busiest first");
    press(&mut a, &s, &["S"]);
    assert_eq!(
        first(&a),
        "POST /api/credits/purchase",
        "reversed: quietest first"
    );
    press(&mut a, &s, &["s", "s", "s", "s", "s"]);
    assert_eq!(
        a.list(PaneId::Latency).sort,
        0,
        "cycles back to the default"
    );
    assert!(!a.list(PaneId::Latency).reversed);
    // Integrations: by name.
    press(&mut a, &s, &["2", "s"]);
    assert_eq!(
        panes::keys(PaneId::Integrations, &s, a.list(PaneId::Integrations))[0],
        "did"
    );
}

#[test]
fn window_change_asks_the_source() {
    let s = state();
    let mut a = app();
    assert_eq!(
        press(&mut a, &s, &["]"]),
        [Effect::Request(Request::SetWindow(Duration::from_secs(
            3600
        )))]
    );
    assert_eq!(
        press(&mut a, &s, &["[", "[", "["]),
        [
            Effect::Request(Request::SetWindow(Duration::from_secs(900))),
            Effect::Request(Request::SetWindow(Duration::from_secs(300))),
            Effect::Request(Request::SetWindow(Duration::from_secs(60))),
        ]
    );
    // At the shortest: nothing to ask, a word instead.
    assert!(press(&mut a, &s, &["["]).is_empty());
    assert!(notice(&a).1.contains("shortest"));
    // 5m 15m 1h 6h 24h 7d 30d, then nothing longer to ask for.
    let grows: Vec<Effect> = press(&mut a, &s, &["]", "]", "]", "]", "]", "]", "]", "]"]);
    assert_eq!(grows.len(), 7);
    assert_eq!(a.window, Duration::from_secs(30 * 24 * 3600));
}

#[test]
fn acknowledge_after_confirmation() {
    let s = state();
    let mut a = app();
    // Nothing selected outside the alerts: a hint, no write.
    assert!(press(&mut a, &s, &["a"]).is_empty());
    assert!(notice(&a).1.contains("select an alert"));
    press(&mut a, &s, &["4", "a"]);
    assert_eq!(
        a.mode,
        Mode::ConfirmAck {
            id: 7,
            title: "OpenAI integration down".into()
        }
    );
    // n cancels.
    assert!(press(&mut a, &s, &["n"]).is_empty());
    assert_eq!(a.mode, Mode::Normal);
    // y writes.
    let e = press(&mut a, &s, &["a", "y"]);
    assert_eq!(e, [Effect::Request(Request::Acknowledge(7))]);
    assert_eq!(a.mode, Mode::Normal);
    a.on_acknowledged(7, Ok(()), now());
    assert_eq!(notice(&a), (Level::Success, "alert #7 acknowledged".into()));
    // A role without UPDATE: the source's one line, shown as an error.
    press(&mut a, &s, &["a", "y"]);
    a.on_acknowledged(
        7,
        Err("permission denied for table monitoring_alerts".into()),
        now(),
    );
    let (level, text) = notice(&a);
    assert_eq!(level, Level::Error);
    assert!(
        text.contains("permission denied for table monitoring_alerts"),
        "{text}"
    );
    // Already acknowledged alerts are not asked about.
    press(&mut a, &s, &["G", "a"]);
    assert_eq!(a.mode, Mode::Normal);
    assert!(notice(&a).1.contains("already acknowledged"));
    // From the alert view.
    let e = press(&mut a, &s, &["g", "<Enter>", "a", "<Enter>"]);
    assert_eq!(e, [Effect::Request(Request::Acknowledge(7))]);
}

#[test]
fn read_only_refuses_to_acknowledge() {
    let s = state();
    let mut settings = settings(true, false);
    settings.read_only = true;
    let mut a = App::new(settings, WINDOW);
    let e = press(&mut a, &s, &["4", "a", "y"]);
    assert!(e.is_empty(), "no write requested: {e:?}");
    assert_eq!(a.mode, Mode::Normal);
    let (level, text) = notice(&a);
    assert_eq!(level, Level::Warning);
    assert!(text.contains("read-only"), "{text}");
    // The alert view says so too.
    press(&mut a, &s, &["<Enter>"]);
    let text = render(&a, &s, 120, 40);
    assert!(
        text.contains("read-only mode: acknowledging is disabled"),
        "{text}"
    );
}

#[test]
fn pause_refresh_help_quit() {
    let s = state();
    let mut a = app();
    assert_eq!(press(&mut a, &s, &["p"]), [Effect::Freeze]);
    assert!(a.paused.is_some());
    assert!(render(&a, &s, 80, 24).contains("PAUSED 12:00:30"));
    assert_eq!(press(&mut a, &s, &["p"]), [Effect::Unfreeze]);
    assert!(a.paused.is_none());
    assert_eq!(
        press(&mut a, &s, &["r"]),
        [Effect::Request(Request::RefreshNow)]
    );
    press(&mut a, &s, &["?"]);
    assert_eq!(a.mode, Mode::Help { scroll: 0 });
    // Keys do not leak through the help.
    assert!(press(&mut a, &s, &["]", "j", "j"]).is_empty());
    assert_eq!(a.mode, Mode::Help { scroll: 2 });
    press(&mut a, &s, &["?"]);
    assert_eq!(a.mode, Mode::Normal);
    assert_eq!(press(&mut a, &s, &["q"]), [Effect::Quit]);
    let mut b = app();
    press(&mut b, &s, &["/"]);
    assert_eq!(
        press(&mut b, &s, &["<C-c>"]),
        [Effect::Quit],
        "Ctrl-C quits even while typing"
    );
}

#[test]
fn usage_view_by_keys() {
    let s = usage_state();
    let mut a = app();
    // `u` opens it from anywhere; Esc goes back.
    press(&mut a, &s, &["u"]);
    assert_eq!(a.view(), &View::Usage);
    let services = |a: &App| jfmon::ui::views::section_keys(a, &s);
    assert_eq!(
        services(&a),
        [
            "spiritual_guidance",
            "voice_guidance",
            "live_chat",
            "avatar_video"
        ]
    );
    // s: by service name; s again: by completion, worst first; S reverses.
    press(&mut a, &s, &["s"]);
    assert_eq!(services(&a)[0], "avatar_video");
    press(&mut a, &s, &["s"]);
    assert_eq!(services(&a)[0], "voice_guidance");
    press(&mut a, &s, &["S"]);
    assert_eq!(
        services(&a).last().map(String::as_str),
        Some("voice_guidance")
    );
    // A filter keeps matching services.
    press(&mut a, &s, &["/", "c", "h", "a", "t", "<Enter>"]);
    assert_eq!(services(&a), ["live_chat"]);
    press(&mut a, &s, &["/", "<Esc>"]);
    // Tab to the findings; Enter on the completion drop selects its service.
    press(&mut a, &s, &["<Tab>"]);
    let findings = services(&a);
    assert!(!findings.is_empty());
    press(&mut a, &s, &["<Enter>"]);
    let d = &a.nav.top().detail;
    assert_eq!(
        jfmon::ui::views::usage::selected_service(&s, d).as_deref(),
        Some("voice_guidance")
    );
    // Enter on a service lists its active sessions; Enter opens one.
    press(&mut a, &s, &["<Enter>"]);
    assert_eq!(services(&a), ["sess-9001", "sess-9005"]);
    let e = press(&mut a, &s, &["<Enter>"]);
    assert_eq!(
        e,
        [Effect::Request(Request::SessionContext("sess-9001".into()))]
    );
    press(&mut a, &s, &["<Esc>", "<Esc>"]);
    assert!(a.nav.is_overview());
}

#[test]
fn session_timeline_is_fetched_and_masked() {
    let s = state();
    let mut a = app();
    // Enter in the Sessions pane: the Usage view, the session selected
    // among its service's active sessions; Enter again: its timeline.
    assert!(press(&mut a, &s, &["3", "j", "<Enter>"]).is_empty());
    assert_eq!(a.view(), &View::Usage);
    let e = press(&mut a, &s, &["<Enter>"]);
    assert_eq!(
        e,
        [Effect::Request(Request::SessionContext("sess-9001".into()))]
    );
    assert_eq!(a.view(), &View::Session("sess-9001".into()));
    // A late answer for another session is ignored.
    a.on_session_context("sess-1234", Ok(vec![]));
    let mut events = timeline();
    // Even if a source forgot to mask, the view masks.
    events[1].data = serde_json::json!({"token": "abc.def", "password": "hunter2"});
    a.on_session_context("sess-9001", Ok(events));
    let text = render(&a, &s, 160, 48);
    assert!(
        !text.contains("abc.def") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(text.contains("session_start"));
    // r reloads the timeline.
    assert_eq!(
        press(&mut a, &s, &["r"]),
        [Effect::Request(Request::SessionContext("sess-9001".into()))]
    );
    // An error is shown, not a crash.
    a.on_session_context(
        "sess-9001",
        Err("table monitoring_context not found — run `jfmon migrate`".into()),
    );
    assert!(render(&a, &s, 120, 40).contains("table monitoring_context not found"));
}

#[test]
fn selection_follows_the_row_when_data_reorders() {
    let mut s = state();
    let mut a = app();
    press(&mut a, &s, &["j", "j", "j"]);
    let keys = panes::keys(PaneId::Integrations, &s, a.list(PaneId::Integrations));
    let chosen = a
        .list(PaneId::Integrations)
        .selected_key(&keys)
        .unwrap()
        .clone();
    // New data arrives (a reset with the same rows) — the selection stays on the row.
    s.apply(jfmon::model::Update::Batch(Box::new(full_batch())));
    let keys = panes::keys(PaneId::Integrations, &s, a.list(PaneId::Integrations));
    assert_eq!(
        a.list(PaneId::Integrations).selected_key(&keys).unwrap(),
        &chosen
    );
}

#[test]
#[should_panic(expected = "unknown key name \"<PgDn>\"")]
fn an_unknown_key_name_fails_the_test() {
    let s = state();
    press(&mut app(), &s, &["<PgDn>"]);
}

#[test]
fn enter_on_a_recent_error_opens_it_in_full() {
    let s = state();
    let mut a = app();
    // The integration view opens with its recent errors focused.
    press(&mut a, &s, &["!"]);
    let keys = jfmon::ui::views::section_keys(&a, &s);
    press(&mut a, &s, &["j", "<Enter>"]);
    let View::Call(call) = a.view().clone() else {
        panic!("not a call: {:?}", a.view())
    };
    let FailedCall::Integration(c) = *call else {
        panic!("not an integration call")
    };
    assert_eq!(c.integration, "openai");
    assert_eq!(c.id.to_string(), keys[1], "the selected row, not the first");
    assert_eq!(a.nav.depth(), 3);
    let screen = render(&a, &s, 160, 48);
    assert!(screen.contains(&format!("Error #{}", c.id)), "{screen}");
    assert!(screen.contains(c.error.as_deref().unwrap()), "{screen}");
    press(&mut a, &s, &["<Esc>"]);
    assert_eq!(a.view(), &View::Integration("openai".into()));

    // The endpoint view: Enter on its newest error.
    press(&mut a, &s, &["<Esc>", "1", "<Enter>"]);
    let endpoint = EndpointKey::new("POST", "/api/spiritual/guidance");
    assert_eq!(a.view(), &View::Endpoint(endpoint.clone()));
    press(&mut a, &s, &["<Enter>"]);
    let View::Call(call) = a.view().clone() else {
        panic!("not a call: {:?}", a.view())
    };
    let FailedCall::Api(c) = *call else {
        panic!("not an API call")
    };
    assert_eq!(
        (c.method.as_str(), c.endpoint.as_str()),
        ("POST", "/api/spiritual/guidance")
    );
    assert_eq!(c.error.as_deref(), Some("UpstreamError: openai timed out"));
    let newest = s
        .api_errors()
        .find(|e| e.endpoint == endpoint.endpoint)
        .unwrap();
    assert_eq!(c.id, newest.id);
    // j/k scroll the page; Esc goes back to the list, where the slowest
    // calls (not errors) open nothing.
    press(&mut a, &s, &["j", "k", "<Esc>", "<Tab>", "<Enter>"]);
    assert_eq!(a.view(), &View::Endpoint(endpoint));
}

#[test]
fn an_opened_error_shows_no_secret() {
    let mut batch = full_batch();
    let secret_error = "upstream 502 from postgres://svc:pw-in-url@db.internal/app \
                        Authorization: Bearer tok-in-header api_key=key-in-pair";
    batch.api_errors.push(ApiCall {
        id: 999_999,
        at: now() - chrono::TimeDelta::seconds(5),
        endpoint: "/api/spiritual/guidance".into(),
        method: "POST".into(),
        status_code: Some(502),
        response_ms: Some(1234),
        user_id: Some(42),
        error: Some(secret_error.into()),
    });
    let s = state_from(Some(batch), Some(postgres(true, 1, None)));
    let mut a = app();
    a.nav.push(View::Endpoint(EndpointKey::new(
        "POST",
        "/api/spiritual/guidance",
    )));
    press(&mut a, &s, &["<Enter>"]);
    assert!(matches!(a.view(), View::Call(_)), "{:?}", a.view());
    for (w, h) in [(80, 24), (160, 48)] {
        let screen = render(&a, &s, w, h);
        for secret in ["pw-in-url", "tok-in-header", "key-in-pair"] {
            assert!(
                !screen.contains(secret),
                "{secret} shown at {w}x{h}:\n{screen}"
            );
        }
        assert!(screen.contains("***"), "{screen}");
        assert!(
            screen.contains("1.23s") && screen.contains("user 42"),
            "{screen}"
        );
    }
}

/// The Alerts pane with rule alerts: the first row is the most severe
/// firing one; a filter finds the flapping one, Enter opens its drill-down,
/// `a` explains that rule alerts are not acknowledged, Enter opens the
/// endpoint it is about, Esc comes back the same way.
#[test]
fn rule_alert_flow() {
    use jfmon::model::RuleOrigin;
    use jfmon::ui::nav::RuleAlertRef;
    let s = rules::rule_state(RuleOrigin::Local);
    let mut app = app();
    press(&mut app, &s, &["4"]);
    let keys = panes::keys(PaneId::Alerts, &s, app.list(PaneId::Alerts));
    let first = &s.rule_alerts()[0];
    assert_eq!(first.rule, "IntegrationDown");
    assert_eq!(keys[0], format!("rule:{}", first.fingerprint));
    // The row of monitoring_alerts follow the rule alerts.
    assert_eq!(keys.len(), s.rule_alerts().len() + s.alerts().len());
    let mut k = vec!["/"];
    let f = typed("flapping");
    k.extend(f.iter().map(String::as_str));
    k.extend(["<Enter>", "<Enter>"]);
    press(&mut app, &s, &k);
    let flapping = s
        .rule_alerts()
        .iter()
        .find(|a| a.rule == "EndpointErrorRate")
        .unwrap();
    assert_eq!(
        *app.view(),
        View::RuleAlert(Box::new(RuleAlertRef {
            fingerprint: flapping.fingerprint.clone(),
            rule: "EndpointErrorRate".into(),
        }))
    );
    assert!(press(&mut app, &s, &["a"]).is_empty());
    let (level, text) = notice(&app);
    assert_eq!(level, Level::Info);
    assert!(text.contains("not acknowledged"), "{text}");
    press(&mut app, &s, &["<Enter>"]);
    assert_eq!(
        *app.view(),
        View::Endpoint(EndpointKey::new("POST", "/api/spiritual/guidance"))
    );
    press(&mut app, &s, &["<Esc>", "<Esc>"]);
    assert!(app.nav.is_overview());
    assert_eq!(app.focus, PaneId::Alerts);
}
