//! The event loop: one task that owns the state store and the UI state and
//! waits on four things, the terminal's events (keys, mouse, resize; a
//! mouse event is read against the hit map of the last frame), the
//! source's updates, the replies to requests, and the clock. After the
//! updates it takes in, a dashboard without a hub judges the alert rules
//! itself ([`Judging`]: read-only, never in the draw loop) and rings the
//! bell for each newly firing alert (`--bell`). It redraws
//! only when something visible changed (new data, an input that did
//! something, a resize, a reply, or what the clock and the sources' states
//! show: [`super::redraw`], checked once a second and after each status
//! update), never more often than every [`MIN_FRAME`]; between those it
//! sleeps. Its wall clock is a [`Clock`]: the system's, or in tests one
//! that moves with tokio's paused clock, so a test runs on one clock only.
//! It stops on `q`, on a signal, when the terminal stops
//! taking input or output (an SSH session that dropped), and returns why.

use std::fmt::Display;
use std::future::Future;
use std::io;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::Event;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use super::action::{Effect, Request};
use super::app::App;
use super::bindings::lookup;
use super::mouse::{self, HitMap};
use super::redraw::{TimeFace, time_face};
use super::{Ctx, Screen};
use crate::model::{ContextEvent, Update};
use crate::rules::LocalRules;
use crate::source::{SourceCommand, SourceHandle};
use crate::store::State;

/// Shortest time between two frames.
pub const MIN_FRAME: Duration = Duration::from_millis(50);
/// How long a request may wait for the source's answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// Updates applied before drawing, when they arrive faster than frames.
const DRAIN: usize = 256;

/// Why the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The user quit.
    Quit,
    /// A signal asked us to stop (its number).
    Signal(i32),
    /// The terminal went away (input closed, output failing).
    TerminalGone(String),
}

/// A source's answer, delivered back to the loop.
enum Reply {
    Acknowledged(i64, Result<(), String>),
    Context(String, Result<Vec<ContextEvent>, String>),
}

/// What the loop does with the state besides drawing it: judge the alert
/// rules (a dashboard without a hub) and ring the bell.
pub struct Judging {
    /// The dashboard's own read-only evaluation; `None` when the rule
    /// alerts come from a hub (`--ws`).
    pub rules: Option<LocalRules>,
    /// Rings the bell `n` times (the terminal's BEL; a counter in tests).
    pub ring: Box<dyn FnMut(usize) + Send>,
}

impl Default for Judging {
    /// No evaluation; the bell is the terminal's.
    fn default() -> Self {
        Judging {
            rules: None,
            ring: Box::new(terminal_bell),
        }
    }
}

/// The loop's wall clock: what the frame's `now` is, and when the next
/// second starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The system's clock (the dashboard).
    Wall,
    /// `at` when tokio's clock read `since`, moving with tokio's clock: on
    /// tokio's paused test clock, the one clock a test runs on (the wall
    /// clock would keep running while the paused one skips ahead).
    Tokio { at: DateTime<Utc>, since: Instant },
}

impl Clock {
    /// A clock reading `at` now, moving with tokio's clock.
    pub fn tokio_at(at: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            at,
            since: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::Wall => Utc::now(),
            Clock::Tokio { at, since } => {
                *at + chrono::TimeDelta::from_std(since.elapsed()).unwrap_or_default()
            }
        }
    }
}

/// BEL on the terminal, `n` times.
pub fn terminal_bell(n: usize) {
    use std::io::Write;
    let mut out = io::stdout();
    let _ = out.write_all(&vec![0x07; n]);
    let _ = out.flush();
}

/// Run until quit. `events` are terminal events, `shutdown` resolves when a
/// signal arrives.
pub async fn run<B>(
    terminal: &mut Terminal<B>,
    app: App,
    state: State,
    source: SourceHandle,
    events: mpsc::Receiver<io::Result<Event>>,
    shutdown: impl Future<Output = Exit>,
) -> Exit
where
    B: Backend,
    B::Error: Display,
{
    run_judging(
        terminal,
        app,
        state,
        source,
        events,
        shutdown,
        Judging::default(),
    )
    .await
}

/// [`run`], judging the rules and ringing the bell as `judging` says.
pub async fn run_judging<B>(
    terminal: &mut Terminal<B>,
    app: App,
    state: State,
    source: SourceHandle,
    events: mpsc::Receiver<io::Result<Event>>,
    shutdown: impl Future<Output = Exit>,
    judging: Judging,
) -> Exit
where
    B: Backend,
    B::Error: Display,
{
    run_clocked(
        terminal,
        app,
        state,
        source,
        events,
        shutdown,
        judging,
        Clock::Wall,
    )
    .await
}

/// [`run_judging`] on `clock`.
#[allow(clippy::too_many_arguments)]
pub async fn run_clocked<B>(
    terminal: &mut Terminal<B>,
    mut app: App,
    mut state: State,
    mut source: SourceHandle,
    mut events: mpsc::Receiver<io::Result<Event>>,
    shutdown: impl Future<Output = Exit>,
    mut judging: Judging,
    clock: Clock,
) -> Exit
where
    B: Backend,
    B::Error: Display,
{
    let (reply_tx, mut reply_rx) = mpsc::channel::<Reply>(16);
    let mut frozen: Option<State> = None;
    let mut source_open = true;
    let mut dirty = true;
    let mut last_frame: Option<Instant> = None;
    // What the last frame showed of the clock and the sources' states.
    let mut face: Option<TimeFace> = None;
    // Where the last frame drew what: mouse events are read against it.
    let mut hits = HitMap::default();
    tokio::pin!(shutdown);
    loop {
        let now = clock.now();
        let shown = frozen.as_ref().unwrap_or(&state);
        let ctx = Ctx {
            app: &app,
            state: shown,
            live: &state,
            now,
            hits: None,
        };
        if !dirty && face.as_ref() != Some(&time_face(&ctx)) {
            dirty = true;
        }
        if dirty && last_frame.is_none_or(|t| t.elapsed() >= MIN_FRAME) {
            face = Some(time_face(&ctx));
            let drawn = terminal.draw(|f| {
                let area = f.area();
                hits = Screen { ctx }.draw(area, f.buffer_mut());
            });
            if let Err(e) = drawn {
                return Exit::TerminalGone(format!("cannot draw: {e}"));
            }
            dirty = false;
            last_frame = Some(Instant::now());
        }
        let frame_due = last_frame.map_or_else(Instant::now, |t| t + MIN_FRAME);
        let tick = next_second(clock.now());
        tokio::select! {
            biased;
            exit = &mut shutdown => return exit,
            ev = events.recv() => match ev {
                None => return Exit::TerminalGone("the terminal input closed".into()),
                Some(Err(e)) => return Exit::TerminalGone(format!("cannot read the terminal: {e}")),
                Some(Ok(ev @ (Event::Key(_) | Event::Mouse(_)))) => {
                    let actions = match &ev {
                        Event::Key(key) => {
                            lookup(&app.mode, app.nav.is_overview(), key).into_iter().collect()
                        }
                        Event::Mouse(m) if app.settings.mouse => {
                            mouse::actions(&hits, &app.mode, m)
                        }
                        _ => vec![],
                    };
                    for action in actions {
                        let shown = frozen.as_ref().unwrap_or(&state);
                        let effect = app.apply(shown, action, clock.now());
                        dirty = true;
                        match effect {
                            Effect::None => {}
                            Effect::Quit => return Exit::Quit,
                            Effect::Freeze => frozen = Some(state.clone()),
                            Effect::Unfreeze => frozen = None,
                            Effect::Request(r) => {
                                request(&mut app, &source.commands, &reply_tx, r, clock.now())
                            }
                        }
                    }
                }
                Some(Ok(Event::Resize(..))) => {
                    // Redraw at once, at the new size.
                    dirty = true;
                    last_frame = None;
                }
                Some(Ok(_)) => {}
            },
            u = source.updates.recv(), if source_open => match u {
                Some(u) => {
                    let mut changed = apply(&mut state, u);
                    for _ in 0..DRAIN {
                        match source.updates.try_recv() {
                            Ok(u) => changed |= apply(&mut state, u),
                            Err(_) => break,
                        }
                    }
                    if changed
                        && let Some(rules) = &mut judging.rules
                        && let Some(u) = rules.judge(&state)
                    {
                        changed |= state.apply(u);
                    }
                    let rings = app.bell.rings(state.rule_alert_book().last());
                    if rings > 0 {
                        (judging.ring)(rings);
                    }
                    // While paused the header still shows the live sources.
                    dirty |= changed;
                }
                None => {
                    source_open = false;
                    tracing::error!("the data source stopped");
                    app.on_request_failed(
                        "the data source stopped",
                        "the data shown is frozen; see the log file",
                        clock.now(),
                    );
                    dirty = true;
                }
            },
            Some(r) = reply_rx.recv() => {
                let now = clock.now();
                match r {
                    Reply::Acknowledged(id, res) => app.on_acknowledged(id, res, now),
                    Reply::Context(id, res) => app.on_session_context(&id, res),
                }
                dirty = true;
            }
            _ = sleep_until(tick) => {
                // The clock moved on: the face is compared at the top.
            }
            _ = sleep_until(frame_due), if dirty => {}
        }
    }
}

/// Apply an update; whether the frame must be redrawn for it. A source's
/// status never forces one: what it shows is in [`TimeFace`].
fn apply(state: &mut State, u: Update) -> bool {
    let is_status = matches!(u, Update::Source(_));
    state.apply(u) && !is_status
}

/// The instant the clock, reading `now`, reaches its next whole second
/// (plus a little, so the second shown has surely changed).
fn next_second(now: DateTime<Utc>) -> Instant {
    let into = now.timestamp_subsec_millis() as u64;
    Instant::now() + Duration::from_millis(1000 - into.min(999) + 5)
}

/// Hand a request to the source; its answer comes back on `replies`.
fn request(
    app: &mut App,
    commands: &mpsc::Sender<SourceCommand>,
    replies: &mpsc::Sender<Reply>,
    r: Request,
    now: DateTime<Utc>,
) {
    let (what, sent) = match r {
        Request::RefreshNow => ("refresh", commands.try_send(SourceCommand::RefreshNow)),
        Request::SetWindow(w) => (
            "window change",
            commands.try_send(SourceCommand::SetWindow(w)),
        ),
        Request::Acknowledge(id) => {
            let (tx, rx) = oneshot::channel();
            let sent = commands.try_send(SourceCommand::Acknowledge { id, reply: tx });
            if sent.is_ok() {
                let replies = replies.clone();
                tokio::spawn(async move {
                    let res = await_reply(rx).await;
                    let _ = replies.send(Reply::Acknowledged(id, res)).await;
                });
            }
            ("acknowledge", sent)
        }
        Request::SessionContext(session_id) => {
            let (tx, rx) = oneshot::channel();
            let sent = commands.try_send(SourceCommand::SessionContext {
                session_id: session_id.clone(),
                reply: tx,
            });
            if sent.is_ok() {
                let replies = replies.clone();
                tokio::spawn(async move {
                    let res = await_reply(rx).await;
                    let _ = replies.send(Reply::Context(session_id, res)).await;
                });
            }
            ("session timeline", sent)
        }
    };
    match sent {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            app.on_request_failed(what, "the source is busy — try again in a moment", now)
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            app.on_request_failed(what, "the data source has stopped", now)
        }
    }
}

async fn await_reply<T>(rx: oneshot::Receiver<Result<T, String>>) -> Result<T, String> {
    match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err("the source dropped the request".into()),
        Err(_) => Err(format!(
            "no answer within {}s — is the database reachable?",
            REPLY_TIMEOUT.as_secs()
        )),
    }
}
