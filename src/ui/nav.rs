//! Where the user is: the view enum and the stack of views behind it (the
//! breadcrumbs), each with its own section focus and list states, so going
//! back restores exactly what was on screen. Also the sections of each
//! drill-down and the state of the session timeline being shown.

use std::cell::Cell;

use crate::model::{ApiCall, ContextEvent, EndpointKey, IntegrationCall};

use super::list::{Choices, ListState};

/// A screen of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Overview,
    Integration(String),
    Endpoint(EndpointKey),
    Alert(i64),
    /// A rule alert: the metric against its threshold or band over time.
    RuleAlert(Box<RuleAlertRef>),
    Session(String),
    /// Feature usage per service (from the Sessions pane, or `u`).
    Usage,
    /// A failed call opened from a recent-errors list.
    Call(Box<FailedCall>),
}

/// Which rule alert a drill-down shows: its fingerprint, and its rule's
/// name for the breadcrumb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAlertRef {
    pub fingerprint: String,
    pub rule: String,
}

/// A failed call shown in full: a copy taken when it was opened, so it
/// stays readable after newer errors push it out of the recent list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedCall {
    Api(ApiCall),
    Integration(IntegrationCall),
}

impl FailedCall {
    /// Its row id in its table.
    pub fn id(&self) -> i64 {
        match self {
            FailedCall::Api(c) => c.id,
            FailedCall::Integration(c) => c.id,
        }
    }
}

impl View {
    /// The breadcrumb for this view.
    pub fn crumb(&self) -> String {
        match self {
            View::Overview => "Overview".into(),
            View::Integration(n) => format!("Integration {n}"),
            View::Endpoint(k) => format!("{} {}", k.method, k.endpoint),
            View::Alert(id) => format!("Alert #{id}"),
            View::RuleAlert(r) => format!("Alert {}", r.rule),
            View::Session(id) => format!("Session {id}"),
            View::Usage => "Usage".into(),
            View::Call(c) => format!("Error #{}", c.id()),
        }
    }

    /// How many lists in this view take the selection (Tab moves between
    /// them); 0 for a view that only scrolls.
    pub fn section_count(&self) -> usize {
        match self {
            View::Overview | View::Alert(_) | View::RuleAlert(_) | View::Call(_) => 0,
            View::Integration(_) => IntegrationSection::ALL.len(),
            View::Endpoint(_) => EndpointSection::ALL.len(),
            View::Session(_) => SessionSection::ALL.len(),
            View::Usage => UsageSection::ALL.len(),
        }
    }
}

/// The lists of the integration drill-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationSection {
    Errors,
    Alerts,
    Endpoints,
}

impl Choices for IntegrationSection {
    const ALL: &'static [Self] = &[Self::Errors, Self::Alerts, Self::Endpoints];
    fn label(self) -> &'static str {
        match self {
            Self::Errors => "recent errors",
            Self::Alerts => "related alerts",
            Self::Endpoints => "endpoints",
        }
    }
}

/// The lists of the endpoint drill-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSection {
    Errors,
    Slow,
}

impl Choices for EndpointSection {
    const ALL: &'static [Self] = &[Self::Errors, Self::Slow];
    fn label(self) -> &'static str {
        match self {
            Self::Errors => "recent errors",
            Self::Slow => "slowest calls",
        }
    }
}

/// The one list of the session drill-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSection {
    Timeline,
}

impl Choices for SessionSection {
    const ALL: &'static [Self] = &[Self::Timeline];
    fn label(self) -> &'static str {
        "timeline"
    }
}

/// The lists of the Usage view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageSection {
    Services,
    Findings,
    Sessions,
}

impl Choices for UsageSection {
    const ALL: &'static [Self] = &[Self::Services, Self::Findings, Self::Sessions];
    fn label(self) -> &'static str {
        match self {
            Self::Services => "services",
            Self::Findings => "findings",
            Self::Sessions => "active sessions",
        }
    }
}

/// The most sections a drill-down has.
pub const MAX_SECTIONS: usize = 3;

/// Per-view navigation state of a drill-down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailState {
    /// The position of the focused section (below [`View::section_count`];
    /// read it typed with [`DetailState::focused`]).
    pub section: usize,
    /// One list state per section, by position.
    pub lists: [ListState; MAX_SECTIONS],
    /// Scroll of a view without sections (lines); the renderer clamps it
    /// to the content.
    pub scroll: Cell<u16>,
}

impl DetailState {
    /// The focused section of a view whose sections are `S`.
    pub fn focused<S: Choices>(&self) -> S {
        S::at(self.section)
    }
    pub fn is_focused<S: Choices>(&self, s: S) -> bool {
        self.section == s.position()
    }
    /// The list state of section `s`.
    pub fn list_of<S: Choices>(&self, s: S) -> &ListState {
        &self.lists[s.position()]
    }
    /// The list state of the focused section.
    pub fn list(&self) -> &ListState {
        &self.lists[self.section]
    }
    pub fn list_mut(&mut self) -> &mut ListState {
        &mut self.lists[self.section]
    }
    /// Move the focus to the next (or previous) of `count` sections.
    pub fn cycle_section(&mut self, count: usize, forward: bool) {
        if count > 1 {
            let n = count.min(MAX_SECTIONS);
            self.section = if forward {
                (self.section + 1) % n
            } else {
                (self.section + n - 1) % n
            };
        }
    }
}

/// The session timeline being shown (fetched from the source on demand).
#[derive(Debug, Clone, PartialEq)]
pub enum Timeline {
    Loading,
    Loaded(Vec<ContextEvent>),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub view: View,
    pub detail: DetailState,
}

/// Views deeper than this drop the oldest drill-down (after the overview).
pub const MAX_DEPTH: usize = 12;

/// The stack of open views; the bottom is always the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewStack {
    stack: Vec<Entry>,
}

impl Default for ViewStack {
    fn default() -> Self {
        ViewStack {
            stack: vec![Entry {
                view: View::Overview,
                detail: DetailState::default(),
            }],
        }
    }
}

impl ViewStack {
    pub fn current(&self) -> &View {
        &self.top().view
    }

    pub fn top(&self) -> &Entry {
        self.stack.last().expect("the overview is never popped")
    }

    pub fn top_mut(&mut self) -> &mut Entry {
        self.stack.last_mut().expect("the overview is never popped")
    }

    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    pub fn is_overview(&self) -> bool {
        self.stack.len() == 1
    }

    /// Open `view` on top (nothing happens if it is already on top).
    pub fn push(&mut self, view: View) {
        if *self.current() == view {
            return;
        }
        if self.stack.len() >= MAX_DEPTH {
            self.stack.remove(1);
        }
        self.stack.push(Entry {
            view,
            detail: DetailState::default(),
        });
    }

    /// Replace the top view (not the overview).
    pub fn replace(&mut self, view: View) {
        if self.is_overview() {
            self.push(view);
        } else {
            *self.top_mut() = Entry {
                view,
                detail: DetailState::default(),
            };
        }
    }

    /// Go back one view; false at the overview.
    pub fn pop(&mut self) -> bool {
        if self.stack.len() > 1 {
            self.stack.pop();
            true
        } else {
            false
        }
    }

    /// Back to the view at `depth` (0: the overview), dropping the ones
    /// above it; false if that is already the current view.
    pub fn back_to(&mut self, depth: usize) -> bool {
        if depth + 1 >= self.stack.len() {
            return false;
        }
        self.stack.truncate(depth + 1);
        true
    }

    /// Back to the overview, dropping every drill-down.
    pub fn reset(&mut self) {
        self.stack.truncate(1);
    }

    /// The views from the overview to the current one.
    pub fn views(&self) -> impl Iterator<Item = &View> {
        self.stack.iter().map(|e| &e.view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_never_loses_the_overview_and_stays_bounded() {
        let mut s = ViewStack::default();
        assert!(!s.pop());
        s.push(View::Alert(1));
        s.push(View::Alert(1));
        assert_eq!(s.depth(), 2);
        for i in 0..100 {
            s.push(View::Alert(i + 2));
        }
        assert_eq!(s.depth(), MAX_DEPTH);
        assert_eq!(s.views().next(), Some(&View::Overview));
        s.reset();
        assert!(s.is_overview());
    }

    #[test]
    fn every_section_has_a_list_and_tab_stays_among_them() {
        let views = [
            View::Integration("x".into()),
            View::Endpoint(EndpointKey::new("GET", "/")),
            View::Session("s".into()),
            View::Usage,
        ];
        for v in views {
            let n = v.section_count();
            assert!((1..=MAX_SECTIONS).contains(&n), "{v:?}");
            let mut d = DetailState::default();
            for _ in 0..7 {
                d.cycle_section(n, true);
                assert!(d.section < n);
            }
            d.cycle_section(n, false);
            assert!(d.section < n);
        }
        let mut d = DetailState::default();
        d.cycle_section(3, false);
        assert_eq!(
            d.focused::<IntegrationSection>(),
            IntegrationSection::Endpoints
        );
        assert!(d.is_focused(IntegrationSection::Endpoints));
    }
}
