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
use jfmon::ui::event_loop::{Exit, MIN_FRAME, run};
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
