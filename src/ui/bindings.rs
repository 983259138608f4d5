//! The one binding table. Dispatch ([`lookup`]), the footer hints
//! ([`footer_hints`]) and the `?` help overlay ([`help_lines`]) are all read
//! from [`BINDINGS`], so what the help says is what the keys do; the mouse
//! gestures ([`MOUSE`]) gate [`super::mouse::actions`] and are listed by
//! [`mouse_help_lines`] the same way.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::mode::Mode;
use super::pane::PaneId;

/// A key, as written in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    pub const fn ch(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: false,
        }
    }
    pub const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: true,
        }
    }
    pub const fn code(code: KeyCode) -> Key {
        Key { code, ctrl: false }
    }

    /// Does a key event from the terminal press this key? Shift is ignored
    /// for characters (`G`, `?` and `!` arrive with or without it).
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let code = match ev.code {
            KeyCode::Char(c) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            c => c,
        };
        code == self.code && ctrl == self.ctrl && !ev.modifiers.contains(KeyModifiers::ALT)
    }

    /// How the key is written in hints and help.
    pub fn label(&self, ascii: bool) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Backspace => "Bksp".into(),
            KeyCode::Up => if ascii { "Up" } else { "↑" }.into(),
            KeyCode::Down => if ascii { "Down" } else { "↓" }.into(),
            KeyCode::Left => if ascii { "Left" } else { "←" }.into(),
            KeyCode::Right => if ascii { "Right" } else { "→" }.into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{}", base.to_ascii_uppercase())
        } else {
            base
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every mode.
    Global,
    /// Normal mode, any view.
    Normal,
    /// Normal mode, overview only.
    Overview,
    /// Normal mode, drill-down views only.
    Detail,
    /// While typing a filter (other printable keys are typed).
    Filter,
    /// While asked to confirm an acknowledgement.
    Confirm,
    /// While the help overlay is open.
    Help,
}

/// When a binding earns a place in the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    Never,
    Always,
    /// Only when an integration is failing.
    Failing,
    /// Only when an alert is selected or shown.
    Alert,
    /// Only when the view has a list.
    List,
    /// Only when the view has several sections.
    Sections,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    pub action: Action,
    /// What the help overlay says about it; empty = not listed on its own.
    pub help: &'static str,
    /// How the keys are written, when not simply listed (e.g. `1-5`).
    pub label: Option<&'static str>,
    /// Footer hint text and when to show it.
    pub hint: (&'static str, Hint),
}

const fn b(
    scope: Scope,
    keys: &'static [Key],
    action: Action,
    help: &'static str,
    hint: (&'static str, Hint),
) -> Binding {
    Binding {
        scope,
        keys,
        action,
        help,
        label: None,
        hint,
    }
}

const NO_HINT: (&str, Hint) = ("", Hint::Never);

use KeyCode as K;
use Scope::*;

/// Every key jfmon knows, in the order help and footer list them.
pub const BINDINGS: &[Binding] = &[
    b(Global, &[Key::ctrl('c')], Action::Quit, "quit", NO_HINT),
    // -- help overlay
    b(
        Help,
        &[Key::code(K::Esc), Key::ch('?'), Key::ch('q')],
        Action::ToggleHelp,
        "close help",
        ("close", Hint::Always),
    ),
    b(
        Help,
        &[Key::code(K::Down), Key::ch('j')],
        Action::Down,
        "scroll down",
        ("scroll", Hint::Always),
    ),
    b(
        Help,
        &[Key::code(K::Up), Key::ch('k')],
        Action::Up,
        "scroll up",
        NO_HINT,
    ),
    // -- confirming an acknowledgement
    b(
        Confirm,
        &[Key::ch('y'), Key::code(K::Enter)],
        Action::ConfirmYes,
        "acknowledge",
        ("yes", Hint::Always),
    ),
    b(
        Confirm,
        &[Key::ch('n'), Key::code(K::Esc), Key::ch('q')],
        Action::ConfirmNo,
        "cancel",
        ("no", Hint::Always),
    ),
    // -- typing a filter
    b(
        Filter,
        &[Key::code(K::Enter)],
        Action::FilterAccept,
        "keep the filter",
        ("keep", Hint::Always),
    ),
    b(
        Filter,
        &[Key::code(K::Esc)],
        Action::FilterCancel,
        "drop the filter",
        ("clear", Hint::Always),
    ),
    b(
        Filter,
        &[Key::code(K::Backspace)],
        Action::FilterBackspace,
        "delete a character",
        NO_HINT,
    ),
    b(
        Filter,
        &[Key::code(K::Down)],
        Action::Down,
        "move down while filtering",
        NO_HINT,
    ),
    b(
        Filter,
        &[Key::code(K::Up)],
        Action::Up,
        "move up while filtering",
        NO_HINT,
    ),
    // -- normal mode
    b(
        Normal,
        &[Key::ch('!')],
        Action::JumpToFailing,
        "open the failing integration (again: the next one)",
        ("details", Hint::Failing),
    ),
    b(
        Normal,
        &[Key::ch('?')],
        Action::ToggleHelp,
        "this help",
        ("help", Hint::Always),
    ),
    b(
        Normal,
        &[Key::ch('q')],
        Action::Quit,
        "quit",
        ("quit", Hint::Always),
    ),
    b(
        Normal,
        &[Key::ch('a')],
        Action::Acknowledge,
        "acknowledge the selected alert",
        ("ack", Hint::Alert),
    ),
    b(
        Overview,
        &[Key::code(K::Tab), Key::code(K::Right), Key::ch('l')],
        Action::NextPane,
        "next pane",
        ("pane", Hint::Always),
    ),
    b(
        Overview,
        &[Key::code(K::BackTab), Key::code(K::Left), Key::ch('h')],
        Action::PrevPane,
        "previous pane",
        NO_HINT,
    ),
    Binding {
        label: Some("1-5"),
        ..b(
            Overview,
            &[Key::ch('1')],
            Action::FocusPane(PaneId::Latency),
            "focus pane 1-5 (numbered in their titles)",
            NO_HINT,
        )
    },
    b(
        Overview,
        &[Key::ch('2')],
        Action::FocusPane(PaneId::Integrations),
        "",
        NO_HINT,
    ),
    b(
        Overview,
        &[Key::ch('3')],
        Action::FocusPane(PaneId::Sessions),
        "",
        NO_HINT,
    ),
    b(
        Overview,
        &[Key::ch('4')],
        Action::FocusPane(PaneId::Alerts),
        "",
        NO_HINT,
    ),
    b(
        Overview,
        &[Key::ch('5')],
        Action::FocusPane(PaneId::Business),
        "",
        NO_HINT,
    ),
    b(
        Detail,
        &[Key::code(K::Tab), Key::code(K::Right), Key::ch('l')],
        Action::NextPane,
        "next section",
        ("section", Hint::Sections),
    ),
    b(
        Detail,
        &[Key::code(K::BackTab), Key::code(K::Left), Key::ch('h')],
        Action::PrevPane,
        "previous section",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::code(K::Down), Key::ch('j')],
        Action::Down,
        "move down",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::code(K::Up), Key::ch('k')],
        Action::Up,
        "move up",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::code(K::PageDown), Key::ctrl('d')],
        Action::PageDown,
        "page down",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::code(K::PageUp), Key::ctrl('u')],
        Action::PageUp,
        "page up",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::ch('g'), Key::code(K::Home)],
        Action::Top,
        "go to the top",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::ch('G'), Key::code(K::End)],
        Action::Bottom,
        "go to the bottom",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::code(K::Enter)],
        Action::Open,
        "open the selected row",
        ("open", Hint::List),
    ),
    b(
        Detail,
        &[Key::code(K::Esc), Key::code(K::Backspace)],
        Action::Back,
        "go back",
        ("back", Hint::Always),
    ),
    b(
        Overview,
        &[Key::code(K::Esc)],
        Action::Back,
        "clear the focused list's filter",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::ch('/')],
        Action::StartFilter,
        "filter the focused list",
        ("filter", Hint::List),
    ),
    b(
        Overview,
        &[Key::ch('s')],
        Action::SortNext,
        "sort by the next column",
        ("sort", Hint::Always),
    ),
    b(
        Overview,
        &[Key::ch('S')],
        Action::SortReverse,
        "reverse the sort",
        NO_HINT,
    ),
    b(
        Detail,
        &[Key::ch('s')],
        Action::SortNext,
        "sort the focused list by the next column (if it sorts)",
        NO_HINT,
    ),
    b(
        Detail,
        &[Key::ch('S')],
        Action::SortReverse,
        "reverse the focused list's sort",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::ch('u')],
        Action::OpenUsage,
        "usage by service: outcomes, durations, credits, findings",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::ch('[')],
        Action::WindowShrink,
        "shorter window (1m 5m 15m 1h 6h 24h 7d 30d)",
        NO_HINT,
    ),
    b(
        Normal,
        &[Key::ch(']')],
        Action::WindowGrow,
        "longer window",
        ("window", Hint::Always),
    ),
    b(
        Normal,
        &[Key::ch('p'), Key::ch(' ')],
        Action::TogglePause,
        "pause / resume the display (collection goes on)",
        ("pause", Hint::Always),
    ),
    b(
        Normal,
        &[Key::ch('r')],
        Action::Refresh,
        "refresh now",
        NO_HINT,
    ),
];

/// A mouse gesture jfmon answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gesture {
    /// A press of the left button.
    Click,
    /// The wheel, either way.
    Wheel,
}

/// What a gesture lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An overview pane or a drill-down section.
    Pane,
    /// A row that is not selected.
    Row,
    /// The selected row of the focused list.
    SelectedRow,
    /// The banner naming the failing integrations.
    Banner,
    /// A breadcrumb.
    Crumb,
    /// A list (a pane, a section or one of their rows).
    List,
    /// Anywhere else (a page of text such as an alert).
    Page,
}

/// One row of the mouse table.
#[derive(Debug, Clone, Copy)]
pub struct MouseBinding {
    pub gesture: Gesture,
    pub target: Target,
    /// The gesture as the help writes it.
    pub label: &'static str,
    pub help: &'static str,
}

const fn m(
    gesture: Gesture,
    target: Target,
    label: &'static str,
    help: &'static str,
) -> MouseBinding {
    MouseBinding {
        gesture,
        target,
        label,
        help,
    }
}

/// Every mouse gesture jfmon knows (off with `--no-mouse`), in help order.
pub const MOUSE: &[MouseBinding] = &[
    m(
        Gesture::Click,
        Target::Pane,
        "click a pane",
        "focus the pane (or the drill-down section)",
    ),
    m(Gesture::Click, Target::Row, "click a row", "select it"),
    m(
        Gesture::Click,
        Target::SelectedRow,
        "click it again",
        "open the selected row (a double-click does both)",
    ),
    m(
        Gesture::Click,
        Target::Banner,
        "click the banner",
        "open the failing integration (again: the next one)",
    ),
    m(
        Gesture::Click,
        Target::Crumb,
        "click a breadcrumb",
        "go back to that view",
    ),
    m(
        Gesture::Wheel,
        Target::List,
        "wheel on a list",
        "scroll the list under the pointer (it takes the focus)",
    ),
    m(
        Gesture::Wheel,
        Target::Page,
        "wheel elsewhere",
        "scroll the focused list or the page",
    ),
];

/// The mouse section of the help: (gesture, description).
pub fn mouse_help_lines() -> Vec<(&'static str, &'static str)> {
    MOUSE.iter().map(|b| (b.label, b.help)).collect()
}

/// The scopes consulted in `mode`, first match wins.
fn scopes(mode: &Mode, overview: bool) -> &'static [Scope] {
    match mode {
        Mode::Normal if overview => &[Global, Overview, Normal],
        Mode::Normal => &[Global, Detail, Normal],
        Mode::Filter { .. } => &[Global, Filter],
        Mode::ConfirmAck { .. } => &[Global, Confirm],
        Mode::Help { .. } => &[Global, Help],
    }
}

/// The action a key press asks for in `mode` (`overview`: the overview is shown).
pub fn lookup(mode: &Mode, overview: bool, ev: &KeyEvent) -> Option<Action> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    for scope in scopes(mode, overview) {
        if let Some(b) = BINDINGS
            .iter()
            .find(|b| b.scope == *scope && b.keys.iter().any(|k| k.matches(ev)))
        {
            return Some(b.action);
        }
    }
    // Typing a filter: printable characters are text.
    if let (Mode::Filter { .. }, KeyCode::Char(c)) = (mode, ev.code)
        && !ev
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        && !c.is_control()
    {
        return Some(Action::FilterChar(c));
    }
    None
}

/// The keys of a binding as shown: `↑/k`, `1-5`.
pub fn keys_label(b: &Binding, ascii: bool) -> String {
    if let Some(l) = b.label {
        return l.to_string();
    }
    b.keys
        .iter()
        .map(|k| k.label(ascii))
        .collect::<Vec<_>>()
        .join("/")
}

/// Footer hints for `mode`: (first key, hint) pairs in table order, filtered
/// by `show` (which decides the conditional ones).
pub fn footer_hints(
    mode: &Mode,
    overview: bool,
    ascii: bool,
    show: impl Fn(Hint) -> bool,
) -> Vec<(String, &'static str)> {
    let scopes = scopes(mode, overview);
    BINDINGS
        .iter()
        .filter(|b| scopes.contains(&b.scope) && b.hint.1 != Hint::Never && show(b.hint.1))
        .map(|b| {
            let key = match b.label {
                Some(l) => l.to_string(),
                None => b.keys[0].label(ascii),
            };
            (key, b.hint.0)
        })
        .collect()
}

/// The help overlay: sections of (keys, description).
pub fn help_lines(ascii: bool) -> Vec<(&'static str, Vec<(String, &'static str)>)> {
    let section = |title: &'static str, scopes: &[Scope]| {
        let rows = BINDINGS
            .iter()
            .filter(|b| scopes.contains(&b.scope) && !b.help.is_empty())
            .map(|b| (keys_label(b, ascii), b.help))
            .collect();
        (title, rows)
    };
    vec![
        section("Everywhere", &[Normal, Global]),
        section("Overview", &[Overview]),
        section("Drill-down views", &[Detail]),
        section("Typing a filter (other keys are typed)", &[Filter]),
        section("Confirming", &[Confirm]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn dispatch_by_mode() {
        let n = Mode::Normal;
        let none = KeyModifiers::NONE;
        assert_eq!(
            lookup(&n, true, &key(K::Char('q'), none)),
            Some(Action::Quit)
        );
        assert_eq!(
            lookup(&n, true, &key(K::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            lookup(&n, true, &key(K::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            lookup(&n, true, &key(K::Char('g'), none)),
            Some(Action::Top)
        );
        assert_eq!(
            lookup(&n, true, &key(K::Char('3'), none)),
            Some(Action::FocusPane(PaneId::Sessions))
        );
        assert_eq!(lookup(&n, false, &key(K::Char('3'), none)), None);
        assert_eq!(lookup(&n, false, &key(K::Esc, none)), Some(Action::Back));
        let f = Mode::Filter {
            target: super::super::mode::FilterTarget::Pane(PaneId::Latency),
        };
        assert_eq!(
            lookup(&f, true, &key(K::Char('q'), none)),
            Some(Action::FilterChar('q'))
        );
        assert_eq!(
            lookup(&f, true, &key(K::Esc, none)),
            Some(Action::FilterCancel)
        );
        assert_eq!(
            lookup(&f, true, &key(K::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b2 in &BINDINGS[i + 1..] {
                if a.scope == b2.scope {
                    for k in a.keys {
                        assert!(!b2.keys.contains(k), "{k:?} bound twice in {:?}", a.scope);
                    }
                }
            }
        }
    }

    #[test]
    fn help_lists_every_normal_action() {
        let help = help_lines(false);
        let text: Vec<&str> = help
            .iter()
            .flat_map(|(_, r)| r.iter().map(|(_, d)| *d))
            .collect();
        for d in [
            "quit",
            "next pane",
            "filter the focused list",
            "acknowledge the selected alert",
        ] {
            assert!(text.contains(&d), "{d}");
        }
    }
}
