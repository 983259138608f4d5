//! Where the user is: the view enum and the stack of views behind it (the
//! breadcrumbs), each with its own section focus and list states, so going
//! back restores exactly what was on screen.

use std::cell::Cell;

use crate::model::EndpointKey;

use super::list::ListState;

/// A screen of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Overview,
    Integration(String),
    Endpoint(EndpointKey),
    Alert(i64),
    Session(String),
}

impl View {
    /// The breadcrumb for this view.
    pub fn crumb(&self) -> String {
        match self {
            View::Overview => "Overview".into(),
            View::Integration(n) => format!("Integration {n}"),
            View::Endpoint(k) => format!("{} {}", k.method, k.endpoint),
            View::Alert(id) => format!("Alert #{id}"),
            View::Session(id) => format!("Session {id}"),
        }
    }

    /// Names of the lists in this view that take the selection (Tab moves
    /// between them); empty for a view that only scrolls.
    pub fn sections(&self) -> &'static [&'static str] {
        match self {
            View::Overview => &[],
            View::Integration(_) => &["recent errors", "related alerts", "endpoints"],
            View::Endpoint(_) => &["recent errors", "slowest calls"],
            View::Alert(_) => &[],
            View::Session(_) => &["timeline"],
        }
    }
}

/// Per-view navigation state of a drill-down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailState {
    /// The focused section (index into [`View::sections`]).
    pub section: usize,
    /// One list state per section.
    pub lists: [ListState; 3],
    /// Scroll of a view without sections (lines); the renderer clamps it
    /// to the content.
    pub scroll: Cell<u16>,
}

impl DetailState {
    pub fn list(&self) -> &ListState {
        &self.lists[self.section.min(2)]
    }
    pub fn list_mut(&mut self) -> &mut ListState {
        &mut self.lists[self.section.min(2)]
    }
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
}
