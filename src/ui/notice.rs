//! One-line messages in the footer (outcomes of actions, refusals, errors),
//! each shown for a while and then gone. Time is passed in.

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Success,
    Warning,
    Error,
}

impl Level {
    /// How long a notice of this level stays.
    pub fn ttl(self) -> TimeDelta {
        match self {
            Level::Info | Level::Success => TimeDelta::seconds(6),
            Level::Warning => TimeDelta::seconds(10),
            Level::Error => TimeDelta::seconds(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: Level,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// The current notice, if any (a new one replaces the old).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notices {
    current: Option<Notice>,
}

impl Notices {
    pub fn post(&mut self, level: Level, text: impl Into<String>, now: DateTime<Utc>) {
        self.current = Some(Notice {
            level,
            text: text.into(),
            at: now,
        });
    }

    /// The notice to show at `now`.
    pub fn visible(&self, now: DateTime<Utc>) -> Option<&Notice> {
        self.current.as_ref().filter(|n| now < n.at + n.level.ttl())
    }

    /// The latest notice, shown or expired (for tests).
    pub fn last(&self) -> Option<&Notice> {
        self.current.as_ref()
    }

    pub fn clear(&mut self) {
        self.current = None;
    }
}
