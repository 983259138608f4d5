//! The terminal itself: entering and leaving raw mode, the alternate
//! screen and mouse reporting, restoring it on every way out (normal exit, panic, signal), the
//! input thread, and the output writer that drops colour escape codes when
//! colour is off (`NO_COLOR` means none at all, not even resets).
//!
//! Input is read on its own thread with crossterm's blocking reader and
//! handed to the event loop over a channel: if the terminal hangs up, that
//! thread may spin inside crossterm, but the event loop keeps running and
//! leaves on the signal or the next failed write instead of hanging with it.

use std::io::{self, BufWriter, Stdout, Write};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::event::Event;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

/// The backend the dashboard draws with.
pub type Backend = CrosstermBackend<Output>;

/// Switch the terminal to raw mode and the alternate screen, cursor
/// hidden, with mouse reporting when `mouse` is set.
pub fn enter(no_color: bool, mouse: bool) -> io::Result<Terminal<Backend>> {
    enable_raw_mode()?;
    ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut out = io::stdout();
    if let Err(e) = execute!(out, EnterAlternateScreen, Hide) {
        restore();
        return Err(e);
    }
    if mouse {
        MOUSE.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = execute!(out, MouseReporting(true)) {
            restore();
            return Err(e);
        }
    }
    match Terminal::new(CrosstermBackend::new(Output::new(no_color))) {
        Ok(t) => Ok(t),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// Whether the terminal is set up (and not yet restored).
static ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Whether mouse reporting was turned on (and not yet off).
static MOUSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Mouse reporting on or off: button presses and the wheel (`?1000`), in
/// the SGR encoding (`?1006`, no 223-column limit; tmux and SSH pass it
/// through). Not crossterm's `EnableMouseCapture`, which also asks for
/// every pointer movement (`?1003`): a stream of events jfmon would only
/// throw away, over the network when on SSH.
pub struct MouseReporting(pub bool);

impl crossterm::Command for MouseReporting {
    fn write_ansi(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        if self.0 {
            f.write_str("\x1b[?1000h\x1b[?1006h")
        } else {
            f.write_str("\x1b[?1006l\x1b[?1000l")
        }
    }
}

/// Put the terminal back: raw mode off, mouse reporting off, alternate
/// screen left, cursor shown. Safe to call any number of times (only the first one after
/// [`enter`] acts: leaving the alternate screen twice would move the cursor
/// back over what was printed in between, such as a panic report), and when
/// the terminal is gone (errors are ignored).
pub fn restore() {
    if !ENTERED.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let mut out = io::stdout();
    if MOUSE.swap(false, std::sync::atomic::Ordering::SeqCst) {
        let _ = execute!(out, MouseReporting(false));
    }
    let _ = execute!(out, LeaveAlternateScreen, Show);
    let _ = out.flush();
}

/// Restores the terminal when dropped (also while unwinding).
pub struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Wrap the installed panic hook (color-eyre's). A panic on the main
/// thread (the dashboard itself) restores the terminal first, so the report
/// is readable and the shell usable. A panic on another thread (a source
/// task) goes to the log only: printing it would tear the screen, and the
/// dashboard carries on, saying that its source stopped.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("main") {
                restore();
                previous(info);
            } else {
                tracing::error!(panic = %info, "a background task panicked");
            }
        }));
    });
}

/// Read terminal events on a thread of their own.
pub fn spawn_input() -> mpsc::Receiver<io::Result<Event>> {
    let (tx, rx) = mpsc::channel(64);
    let spawned = std::thread::Builder::new()
        .name("jfmon-input".into())
        .spawn(move || {
            loop {
                let ev = crossterm::event::read();
                let failed = ev.is_err();
                if tx.blocking_send(ev).is_err() || failed {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the input thread");
    }
    rx
}

/// Standard output, buffered (one write per frame), with colour escape codes
/// either removed (no colour) or written the classic 16-colour way.
pub struct Output {
    out: BufWriter<Stdout>,
    filter: SgrFilter,
}

impl Output {
    pub fn new(no_color: bool) -> Self {
        Output {
            out: BufWriter::with_capacity(32 * 1024, io::stdout()),
            filter: SgrFilter::new(if no_color {
                SgrMode::StripColour
            } else {
                SgrMode::Classic16
            }),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.filter.feed(buf, &mut self.out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// What [`SgrFilter`] does to colour sequences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SgrMode {
    /// Remove every sequence that only sets colours (`NO_COLOR`).
    #[default]
    StripColour,
    /// Write the 16 named colours as the classic `ESC[31m` / `ESC[91m` /
    /// `ESC[41m` codes: crossterm writes them as 256-colour indexes
    /// (`ESC[38;5;1m`), which serial consoles and old terminals ignore.
    Classic16,
}

/// Rewrites SGR colour sequences in a byte stream as [`SgrMode`] says,
/// passing everything else through, even when a sequence is split across
/// writes.
#[derive(Debug, Default)]
pub struct SgrFilter {
    pending: Vec<u8>,
    mode: SgrMode,
}

/// Longest escape sequence held back before giving up and passing it on.
const MAX_SEQ: usize = 64;

impl SgrFilter {
    pub fn new(mode: SgrMode) -> Self {
        SgrFilter {
            pending: Vec::new(),
            mode,
        }
    }

    pub fn feed(&mut self, input: &[u8], out: &mut impl Write) -> io::Result<()> {
        let mut plain_start = 0;
        for (i, &b) in input.iter().enumerate() {
            if self.pending.is_empty() {
                if b == 0x1b {
                    out.write_all(&input[plain_start..i])?;
                    self.pending.push(b);
                }
                continue;
            }
            self.pending.push(b);
            plain_start = i + 1;
            let len = self.pending.len();
            if len == 2 && b != b'[' {
                out.write_all(&self.pending)?;
                self.pending.clear();
            } else if len > 2 && (0x40..=0x7e).contains(&b) {
                let params = &self.pending[2..len - 1];
                match self.mode {
                    SgrMode::StripColour if b == b'm' && colour_only(params) => {}
                    SgrMode::Classic16 if b == b'm' => match classic_code(params) {
                        Some(code) => write!(out, "\x1b[{code}m")?,
                        None => out.write_all(&self.pending)?,
                    },
                    _ => out.write_all(&self.pending)?,
                }
                self.pending.clear();
            } else if len >= MAX_SEQ {
                out.write_all(&self.pending)?;
                self.pending.clear();
            }
        }
        if self.pending.is_empty() && plain_start < input.len() {
            out.write_all(&input[plain_start..])?;
        }
        Ok(())
    }
}

/// The classic SGR code for `38;5;N` / `48;5;N` with N one of the 16 named
/// colours.
fn classic_code(params: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(params).ok()?;
    let mut it = s.split(';');
    let (ground, five, n) = (it.next()?, it.next()?, it.next()?);
    if five != "5" || it.next().is_some() {
        return None;
    }
    let n: u16 = n.parse().ok()?;
    let base = match (ground, n) {
        ("38", 0..=7) => 30,
        ("38", 8..=15) => 90 - 8,
        ("48", 0..=7) => 40,
        ("48", 8..=15) => 100 - 8,
        _ => return None,
    };
    Some(base + n)
}

/// Are these SGR parameters only colour settings?
fn colour_only(params: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(params) else {
        return false;
    };
    if s.is_empty() {
        return false; // ESC[m is a full reset
    }
    let nums: Vec<Option<u16>> = s.split([';', ':']).map(|p| p.parse().ok()).collect();
    match nums.first() {
        Some(Some(38 | 48 | 58)) => true,
        _ => nums.iter().all(|n| {
            matches!(
                n,
                Some(30..=37 | 39 | 40..=47 | 49 | 59 | 90..=97 | 100..=107)
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut f = SgrFilter::default();
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn colour_codes_are_dropped_others_kept() {
        let out = run(&[b"a\x1b[31mb\x1b[1mc\x1b[39m\x1b[49m\x1b[0m\x1b[10;5Hd\x1b[38;5;196me"]);
        assert_eq!(out, b"ab\x1b[1mc\x1b[0m\x1b[10;5Hde");
    }

    #[test]
    fn named_colours_are_written_the_classic_way() {
        let mut f = SgrFilter::new(SgrMode::Classic16);
        let mut out = Vec::new();
        for c in [
            &b"a\x1b[38;5"[..],
            b";1mb\x1b[48;5;12m",
            b"c\x1b[38;5;196md\x1b[1;4m\x1b[39m",
        ] {
            f.feed(c, &mut out).unwrap();
        }
        assert_eq!(
            out,
            b"a\x1b[31mb\x1b[104mc\x1b[38;5;196md\x1b[1;4m\x1b[39m".to_vec()
        );
    }

    #[test]
    fn sequences_split_across_writes() {
        let out = run(&[b"x\x1b", b"[3", b"9m", b"y\x1b[", b"1m"]);
        assert_eq!(out, b"xy\x1b[1m");
    }
}
