//! The event loop with a `TestBackend`, a fake source and synthetic key
//! events: it draws what arrives, forwards requests to the source, shows the
//! source's answers, and stops on `q`, on a signal, and when the terminal's
//! input closes.

mod ui_support;

use std::io;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use jfmon::model::Update;
use jfmon::source::SourceCommand;
use jfmon::source::SourceHandle;
use jfmon::ui::event_loop::{Clock, Exit, Judging, MIN_FRAME, run, run_clocked, run_judging};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;
use ui_support::*;

struct Rig {
    events: mpsc::Sender<io::Result<Event>>,
    updates: mpsc::Sender<Update>,
    commands: mpsc::Receiver<SourceCommand>,
}

fn rig() -> (Rig, SourceHandle, mpsc::Receiver<io::Result<Event>>) {
    let (etx, erx) = mpsc::channel(16);
    let (utx, urx) = mpsc::channel(16);
    let (ctx, crx) = mpsc::channel(16);
    (
        Rig {
            events: etx,
            updates: utx,
            commands: crx,
        },
        SourceHandle {
            updates: urx,
            commands: ctx,
        },
        erx,
    )
}

fn ch(c: char) -> io::Result<Event> {
    Ok(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

/// Let the loop take in everything sent so far and draw it. The tests run on
/// tokio's paused clock, which moves only when every task is waiting: this
/// returns after the loop has handled all it was sent and reached its next
/// frame deadline ([`MIN_FRAME`]), so what it shows is on the screen, with no
/// real time spent.
async fn settle() {
    tokio::time::sleep(MIN_FRAME * 2).await;
}

fn screen(t: &Terminal<TestBackend>) -> String {
    t.backend().to_string()
}

#[tokio::test(start_paused = true)]
async fn draws_data_and_quits_on_q() {
    let (rig, handle, events) = rig();
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let driver = tokio::spawn(async move {
        rig.updates
            .send(Update::Batch(Box::new(full_batch())))
            .await
            .unwrap();
        rig.updates
            .send(Update::Source(postgres(true, 1, None)))
            .await
            .unwrap();
        settle().await;
        rig.events.send(ch('q')).await.unwrap();
        rig
    });
    let exit = tokio::time::timeout(
        Duration::from_secs(5),
        run(
            &mut term,
            app(),
            state_from(None, None),
            handle,
            events,
            std::future::pending(),
        ),
    )
    .await
    .expect("the loop ends");
    assert_eq!(exit, Exit::Quit);
    let text = screen(&term);
    assert!(text.contains("DOWN: openai"), "{text}");
    driver.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn window_change_and_acknowledge_reach_the_source() {
    let (mut rig, handle, events) = rig();
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let driver = tokio::spawn(async move {
        rig.events.send(ch(']')).await.unwrap();
        match rig.commands.recv().await {
            Some(SourceCommand::SetWindow(w)) => assert_eq!(w, Duration::from_secs(3600)),
            other => panic!("expected SetWindow, got {other:?}"),
        }
        for c in ['4', 'a', 'y'] {
            rig.events.send(ch(c)).await.unwrap();
        }
        match rig.commands.recv().await {
            Some(SourceCommand::Acknowledge { id, reply }) => {
                assert_eq!(id, 7);
                reply
                    .send(Err("permission denied for table monitoring_alerts".into()))
                    .unwrap();
            }
            other => panic!("expected Acknowledge, got {other:?}"),
        }
        settle().await;
        settle().await;
        rig.events.send(ch('q')).await.unwrap();
        rig
    });
    let exit = tokio::time::timeout(
        Duration::from_secs(5),
        run(
            &mut term,
            app(),
            state(),
            handle,
            events,
            std::future::pending(),
        ),
    )
    .await
    .expect("the loop ends");
    assert_eq!(exit, Exit::Quit);
    let text = screen(&term);
    assert!(
        text.contains("could not acknowledge alert #7: permission denied"),
        "{text}"
    );
    driver.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_signal_stops_it() {
    let (_rig, handle, events) = rig();
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let signal = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Exit::Signal(15)
    };
    let exit = tokio::time::timeout(
        Duration::from_secs(5),
        run(&mut term, app(), state(), handle, events, signal),
    )
    .await
    .expect("the loop ends");
    assert_eq!(exit, Exit::Signal(15));
}

#[tokio::test(start_paused = true)]
async fn closed_input_means_the_terminal_is_gone() {
    let (rig, handle, events) = rig();
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    drop(rig.events);
    let exit = tokio::time::timeout(
        Duration::from_secs(5),
        run(
            &mut term,
            app(),
            state(),
            handle,
            events,
            std::future::pending(),
        ),
    )
    .await
    .expect("the loop ends");
    assert!(matches!(exit, Exit::TerminalGone(_)), "{exit:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stopped_source_is_reported_and_the_data_kept() {
    let (rig, handle, events) = rig();
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let Rig {
        events: etx,
        updates,
        commands,
    } = rig;
    drop(updates);
    drop(commands);
    let driver = tokio::spawn(async move {
        settle().await;
        // A request to a stopped source: a message, no hang.
        etx.send(ch('r')).await.unwrap();
        settle().await;
        let shown = etx.clone();
        shown.send(ch('q')).await.unwrap();
        etx
    });
    let exit = tokio::time::timeout(
        Duration::from_secs(5),
        run(
            &mut term,
            app(),
            state(),
            handle,
            events,
            std::future::pending(),
        ),
    )
    .await
    .expect("the loop ends");
    assert_eq!(exit, Exit::Quit);
    let text = screen(&term);
    assert!(text.contains("the data source has stopped"), "{text}");
    assert!(text.contains("openai"), "the last data stays: {text}");
    driver.await.unwrap();
}

/// A `TestBackend` that counts the frames flushed to it and, when asked,
/// copies each flushed screen out (for checks while the loop runs).
struct Counting {
    inner: TestBackend,
    frames: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    screen: Option<std::sync::Arc<std::sync::Mutex<String>>>,
}

impl ratatui::backend::Backend for Counting {
    type Error = <TestBackend as ratatui::backend::Backend>::Error;
    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a ratatui::buffer::Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<ratatui::layout::Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<ratatui::layout::Position>>(
        &mut self,
        p: P,
    ) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(p)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, t: ratatui::backend::ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(t)
    }
    fn size(&self) -> Result<ratatui::layout::Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<ratatui::backend::WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.frames
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(screen) = &self.screen {
            *screen.lock().unwrap() = self.inner.to_string();
        }
        self.inner.flush()
    }
}

/// A live source's status as of `clock` (the loop's clock).
fn live_status(clock: &Clock, poll_ms: f64) -> jfmon::model::SourceStatus {
    let mut s = postgres(true, 0, None);
    s.last_ok = Some(clock.now());
    s.poll_ms = Some(poll_ms);
    s
}

/// An idle dashboard (a poll a second, nothing new) draws no frame for the
/// status updates, whose only change is the last poll's time and duration,
/// nor for the clock within a minute; a status that shows (the source went
/// down) is drawn at once. One clock only: the loop's runs on tokio's paused
/// clock (starting a second into a minute, so 30 s stay within it, a day
/// after the data) and the statuses are stamped from it; frames are
/// counted, nothing is timed.
#[tokio::test(start_paused = true)]
async fn an_idle_dashboard_draws_only_what_changes() {
    let (rig, handle, events) = rig();
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut term = Terminal::new(Counting {
        inner: TestBackend::new(120, 40),
        frames: frames.clone(),
        screen: None,
    })
    .unwrap();
    let count = frames.clone();
    // 25 hours after the data (its ages read "1d" throughout), a second into
    // a minute.
    let minute = jfmon::model::minute_start(jfmon::model::minute_of(now()));
    let clock =
        Clock::tokio_at(minute + chrono::TimeDelta::hours(25) + chrono::TimeDelta::seconds(1));
    let driver = tokio::spawn(async move {
        rig.updates
            .send(Update::Batch(Box::new(full_batch())))
            .await
            .unwrap();
        rig.updates
            .send(Update::Source(live_status(&clock, 10.0)))
            .await
            .unwrap();
        settle().await;
        let before = count.load(std::sync::atomic::Ordering::SeqCst);
        for i in 0..30 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rig.updates
                .send(Update::Source(live_status(&clock, 10.0 + i as f64)))
                .await
                .unwrap();
        }
        settle().await;
        let idle = count.load(std::sync::atomic::Ordering::SeqCst) - before;
        assert_eq!(idle, 0, "frames for 30 s of unchanged data");
        let mut down = live_status(&clock, 10.0);
        down.up = false;
        down.last_error = Some("connection refused".into());
        rig.updates.send(Update::Source(down)).await.unwrap();
        settle().await;
        let after = count.load(std::sync::atomic::Ordering::SeqCst) - before - idle;
        assert!(after >= 1, "the source going down was not drawn");
        rig.events.send(ch('q')).await.unwrap();
        rig
    });
    let exit = tokio::time::timeout(
        Duration::from_secs(120),
        run_clocked(
            &mut term,
            app(),
            state_from(None, None),
            handle,
            events,
            std::future::pending(),
            Judging::default(),
            clock,
        ),
    )
    .await
    .expect("the loop ends");
    assert_eq!(exit, Exit::Quit);
    assert!(screen_of(&term).contains("down"), "{}", screen_of(&term));
    driver.await.unwrap();
}

fn screen_of(t: &Terminal<Counting>) -> String {
    t.backend().inner.to_string()
}

/// Rule alerts arriving as a hub sends them: the alerts already firing
/// when the dashboard first learns the set ring nothing; the bell rings
/// once for each alert that starts firing after that, never again while it
/// stays firing or flapping, nor when it drops out of the set and comes back
/// (a capped list), and anew when it fires again after resolving.
#[tokio::test(start_paused = true)]
async fn the_bell_rings_once_per_newly_firing_alert() {
    use jfmon::model::{RuleAlertState, RuleOrigin};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (rig, handle, events) = rig();
    let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let rung = Arc::new(AtomicUsize::new(0));
    let counter = rung.clone();
    let judging = Judging {
        rules: None,
        ring: Box::new(move |n| {
            counter.fetch_add(n, Ordering::SeqCst);
        }),
    };
    let mut settings = settings(true, false);
    settings.bell = true;
    let app = jfmon::ui::app::App::new(settings, WINDOW);
    let base = rules::rule_alerts(RuleOrigin::Hub);
    let min = |m: i64| now() + chrono::TimeDelta::minutes(m);
    // The hub's set judged at minute `at`, with openai's IntegrationDown in
    // `state` since minute `since`; `all`: with the other alerts as they
    // were (firing since before the start), else openai's alone.
    let with = |at: i64, state: RuleAlertState, since: i64, all: bool| {
        let mut r = base.clone();
        r.at = min(at);
        if !all {
            r.alerts.retain(|a| a.rule == "IntegrationDown");
        }
        let a = r
            .alerts
            .iter_mut()
            .find(|a| a.rule == "IntegrationDown")
            .unwrap();
        a.state = state;
        a.since = (state != RuleAlertState::Resolved).then(|| min(since));
        a.resolved_at = (state == RuleAlertState::Resolved).then(|| min(since));
        Update::RuleAlerts(Box::new(r))
    };
    use RuleAlertState::*;
    let check = rung.clone();
    let steps = [
        // Three alerts already firing at start: learned, not rung.
        (Update::RuleAlerts(Box::new(base.clone())), 0),
        (with(1, Firing, -3, true), 0),
        // openai resolves; the others drop out of the set (a cap).
        (with(2, Resolved, 2, false), 0),
        (with(3, Pending, 3, false), 0),
        // openai fires again: one ring; the others come back: none.
        (with(5, Firing, 5, true), 1),
        (with(6, Firing, 5, true), 1),
        (with(7, Flapping, 5, true), 1),
        (with(8, Firing, 5, false), 1),
        (with(9, Firing, 5, true), 1),
        (with(10, Resolved, 10, true), 1),
        (with(11, Firing, 11, true), 2),
        (with(11, Firing, 11, true), 2),
    ];
    let driver = tokio::spawn(async move {
        for (u, expected) in steps {
            rig.updates.send(u).await.unwrap();
            settle().await;
            assert_eq!(check.load(Ordering::SeqCst), expected);
        }
        rig.events.send(ch('q')).await.unwrap();
        rig
    });
    let exit = tokio::time::timeout(
        Duration::from_secs(5),
        run_judging(
            &mut term,
            app,
            state(),
            handle,
            events,
            std::future::pending(),
            judging,
        ),
    )
    .await
    .expect("the loop ends");
    assert_eq!(exit, Exit::Quit);
    driver.await.unwrap();
    assert_eq!(rung.load(Ordering::SeqCst), 2);
    let text = screen(&term);
    assert!(text.contains("3 alerts FIRING"), "{text}");
}

/// A dashboard without a hub judges the default rules itself after each
/// batch: openai down fires as the database clock moves on, shown in the
/// Alerts pane and counted in the header; without `--bell` nothing rings.
#[tokio::test(start_paused = true)]
async fn a_direct_dashboard_judges_the_rules_itself() {
    use jfmon::rules::{LocalRules, RuleSet};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (rig, handle, events) = rig();
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let rung = Arc::new(AtomicUsize::new(0));
    let counter = rung.clone();
    let judging = Judging {
        rules: Some(LocalRules::new(RuleSet::defaults(), None)),
        ring: Box::new(move |n| {
            counter.fetch_add(n, Ordering::SeqCst);
        }),
    };
    let driver = tokio::spawn(async move {
        rig.updates
            .send(Update::Batch(Box::new(full_batch())))
            .await
            .unwrap();
        rig.updates
            .send(Update::Source(postgres(true, 1, None)))
            .await
            .unwrap();
        settle().await;
        // Two minutes later by the database's clock, no new rows.
        let later = jfmon::model::Batch {
            now: now() + chrono::TimeDelta::minutes(2),
            window_secs: WINDOW.as_secs(),
            ..Default::default()
        };
        rig.updates
            .send(Update::Batch(Box::new(later)))
            .await
            .unwrap();
        settle().await;
        rig.events.send(ch('4')).await.unwrap();
        settle().await;
        rig.events.send(ch('q')).await.unwrap();
        rig
    });
    let exit = tokio::time::timeout(
        Duration::from_secs(5),
        run_judging(
            &mut term,
            app(),
            state_from(None, None),
            handle,
            events,
            std::future::pending(),
            judging,
        ),
    )
    .await
    .expect("the loop ends");
    assert_eq!(exit, Exit::Quit);
    driver.await.unwrap();
    let text = screen(&term);
    assert!(text.contains("openai is down"), "{text}");
    assert!(text.contains("FIRE"), "{text}");
    assert!(text.contains("FIRING"), "{text}");
    assert_eq!(rung.load(Ordering::SeqCst), 0, "no --bell, no ring");
}

/// The redraw face follows the rule alerts' ages: an idle overview whose
/// only moving text is "since 50s" → "54s" (a firing alert) or "resolved 2m"
/// → "3m" ago must redraw, within one clock minute (the header's clock
/// does not turn). Faces are compared directly: no clock runs.
#[test]
fn a_rule_alert_age_that_changes_moves_the_redraw_face() {
    use jfmon::model::{RuleAlertState, RuleOrigin};
    use jfmon::ui::Ctx;
    use jfmon::ui::redraw::time_face;
    let minute = jfmon::model::minute_start(jfmon::model::minute_of(now()));
    let secs = |s: i64| minute + chrono::TimeDelta::seconds(s);
    let face_at = |state: &jfmon::store::State, at| {
        let app = app();
        time_face(&Ctx {
            app: &app,
            state,
            live: state,
            now: at,
            hits: None,
        })
    };
    let mut set = rules::rule_alerts(RuleOrigin::Hub);
    set.at = minute;
    set.alerts.retain(|a| a.rule == "IntegrationDown");
    let mut firing = state_from(None, None);
    set.alerts[0].state = RuleAlertState::Firing;
    set.alerts[0].since = Some(secs(5));
    firing.apply(Update::RuleAlerts(Box::new(set.clone())));
    assert_eq!(face_at(&firing, secs(55)), face_at(&firing, secs(55)));
    assert_ne!(
        face_at(&firing, secs(55)),
        face_at(&firing, secs(59)),
        "firing since 50s, then 54s: the face must move"
    );
    let mut resolved = state_from(None, None);
    set.alerts[0].state = RuleAlertState::Resolved;
    set.alerts[0].since = None;
    set.alerts[0].resolved_at = Some(secs(-150));
    resolved.apply(Update::RuleAlerts(Box::new(set)));
    assert_eq!(resolved.rule_alerts().len(), 1);
    assert_ne!(
        face_at(&resolved, secs(10)),
        face_at(&resolved, secs(40)),
        "resolved 2m ago, then 3m: the face must move"
    );
}

/// The stream's status (a `--ws` dashboard), up or down.
fn stream(up: bool) -> Update {
    let mut s = jfmon::model::SourceStatus::new(jfmon::model::SourceId::Stream, "hub:7878");
    s.up = up;
    s.last_ok = Some(now());
    if !up {
        s.last_error = Some("connection refused".into());
    }
    Update::Source(s)
}

/// A batch of no new rows `minutes` after the fixture's time (the database
/// clock moving on).
fn later(minutes: i64) -> Update {
    Update::Batch(Box::new(jfmon::model::Batch {
        now: now() + chrono::TimeDelta::minutes(minutes),
        window_secs: WINDOW.as_secs(),
        ..Default::default()
    }))
}

/// One step: an update, then what the screen must and must not show.
type Step = (Update, &'static [&'static str], &'static [&'static str]);

/// Run the loop with `judging` over the fixture's data, sending `steps` in
/// order and checking the screen after each.
async fn run_steps(judging: Judging, steps: Vec<Step>) {
    let (rig, handle, events) = rig();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut term = Terminal::new(Counting {
        inner: TestBackend::new(200, 48),
        frames: Default::default(),
        screen: Some(screen.clone()),
    })
    .unwrap();
    let driver = tokio::spawn(async move {
        for (i, (u, shows, hides)) in steps.into_iter().enumerate() {
            rig.updates.send(u).await.unwrap();
            settle().await;
            let text = screen.lock().unwrap().clone();
            for s in shows {
                assert!(text.contains(s), "step {i}: {s:?} missing:\n{text}");
            }
            for s in hides {
                assert!(!text.contains(s), "step {i}: {s:?} shown:\n{text}");
            }
        }
        rig.events.send(ch('q')).await.unwrap();
        rig
    });
    let exit = tokio::time::timeout(
        Duration::from_secs(60),
        run_judging(
            &mut term,
            app(),
            state(),
            handle,
            events,
            std::future::pending(),
            judging,
        ),
    )
    .await
    .expect("the loop ends");
    assert_eq!(exit, Exit::Quit);
    driver.await.unwrap();
}

/// A `--ws` dashboard without a database: when the hub goes away its rule
/// alerts stay on screen (never blanked), marked as the hub's last known
/// states with their time; when it is back the mark goes.
#[tokio::test(start_paused = true)]
async fn a_gone_hubs_alerts_stay_marked_last_known() {
    use jfmon::model::RuleOrigin;
    let hub = || Update::RuleAlerts(Box::new(rules::rule_alerts(RuleOrigin::Hub)));
    let judging = Judging {
        rules: None,
        ring: Box::new(|_| {}),
    };
    run_steps(
        judging,
        vec![
            (stream(true), &[], &[]),
            (
                hub(),
                &["3 alerts FIRING", "openai is down"],
                &["last known"],
            ),
            (
                stream(false),
                &[
                    "3 alerts FIRING (hub's, last known 12:00)",
                    "openai is down",
                ],
                &[],
            ),
            (stream(true), &["3 alerts FIRING"], &["last known"]),
        ],
    )
    .await;
}

/// A `--ws` dashboard with a database fallback: while the hub judges, the
/// dashboard does not; when the hub goes away it judges locally (marked),
/// starting from the hub's firing alerts (a fresh judgement would show
/// openai's outage as merely pending for the rule's `for`); when the hub is
/// back its states replace the local ones and the local judgement stands by.
#[tokio::test(start_paused = true)]
async fn with_a_database_the_dashboard_judges_while_the_hub_is_away() {
    use jfmon::model::RuleOrigin;
    use jfmon::rules::{LocalRules, RuleSet, Standing};
    let hub = || Update::RuleAlerts(Box::new(rules::rule_alerts(RuleOrigin::Hub)));
    let judging = Judging {
        rules: Some(LocalRules::standing(
            Standing::WhileNoHub,
            RuleSet::defaults(),
            None,
        )),
        ring: Box::new(|_| {}),
    };
    run_steps(
        judging,
        vec![
            (stream(true), &[], &[]),
            (hub(), &["3 alerts FIRING"], &["judged here"]),
            // New data while the hub judges: nothing judged here.
            (later(1), &["3 alerts FIRING"], &["judged here"]),
            (
                stream(false),
                &["(hub's, last known 12:00)"],
                &["judged here"],
            ),
            // The poller's data after the hub left: judged here, openai's
            // outage still firing.
            (
                later(2),
                &["FIRING (judged here: no hub)", "openai is down"],
                &["last known"],
            ),
            (stream(true), &["judged here"], &[]),
            (hub(), &["3 alerts FIRING"], &["judged here", "last known"]),
            (later(3), &["3 alerts FIRING"], &["judged here"]),
        ],
    )
    .await;
}
