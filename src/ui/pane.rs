//! The five overview panes as an enum: their numbers (the `1`-`5` keys),
//! titles and focus order.

/// A pane of the overview screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaneId {
    Latency,
    Integrations,
    Sessions,
    Alerts,
    Business,
}

impl PaneId {
    /// Focus order (Tab), which is also the numbering (`1`-`5`).
    pub const ALL: [PaneId; 5] = [
        PaneId::Latency,
        PaneId::Integrations,
        PaneId::Sessions,
        PaneId::Alerts,
        PaneId::Business,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The digit that focuses this pane.
    pub fn number(self) -> usize {
        self.index() + 1
    }

    pub fn title(self) -> &'static str {
        match self {
            PaneId::Latency => "API latency",
            PaneId::Integrations => "Integrations",
            PaneId::Sessions => "Sessions",
            PaneId::Alerts => "Alerts",
            PaneId::Business => "Business",
        }
    }

    pub fn next(self) -> PaneId {
        Self::ALL[(self.index() + 1) % Self::ALL.len()]
    }

    pub fn prev(self) -> PaneId {
        Self::ALL[(self.index() + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}
