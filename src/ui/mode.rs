//! The input mode: what keys mean right now. Normal navigation, typing a
//! filter, confirming an acknowledgement, or reading the help overlay.

use super::pane::PaneId;

/// Which list a filter being typed applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterTarget {
    /// An overview pane's list.
    Pane(PaneId),
    /// A section of the current drill-down.
    Section(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// Typing a filter (it applies as it is typed; Esc clears it).
    Filter { target: FilterTarget },
    /// Waiting for y/n before acknowledging alert `id`.
    ConfirmAck { id: i64, title: String },
    /// The key help overlay, scrolled by `scroll` lines.
    Help { scroll: u16 },
}
