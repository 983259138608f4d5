//! What a key or a mouse gesture can ask for ([`Action`]) and what applying an action asks of
//! the outside world ([`Effect`]): applying is a pure function of the app
//! state, so keyboard flows are tested without a terminal or a source.

use std::time::Duration;

use super::mode::FilterTarget;
use super::pane::PaneId;

/// Everything the user can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    NextPane,
    PrevPane,
    FocusPane(PaneId),
    /// Focus a section of the current drill-down (by position).
    FocusSection(usize),
    /// A click on the row at this index of a list: when it is the selected
    /// row of the focused list as the click is applied, open it (like
    /// Enter); else focus the list and select the row. Decided on the app
    /// state, not on the frame the click was read against, so a double
    /// click faster than a frame still opens.
    ClickRow(FilterTarget, usize),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    /// Open the Usage view.
    OpenUsage,
    Back,
    /// Go back to the view at this depth of the breadcrumbs (0: overview).
    BackTo(usize),
    /// Jump to the (next) failing integration's detail view.
    JumpToFailing,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    FilterAccept,
    FilterCancel,
    SortNext,
    SortReverse,
    WindowShrink,
    WindowGrow,
    TogglePause,
    Refresh,
    Acknowledge,
    ConfirmYes,
    ConfirmNo,
    ToggleHelp,
}

/// A request for the data source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    RefreshNow,
    SetWindow(Duration),
    Acknowledge(i64),
    SessionContext(String),
}

/// What the event loop must do after an action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Effect {
    #[default]
    None,
    Quit,
    Request(Request),
    /// Keep showing the data as it is now (pause).
    Freeze,
    /// Show live data again.
    Unfreeze,
}
