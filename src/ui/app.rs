//! The dashboard's UI state and the pure function that applies an
//! [`Action`] to it. The state is split into small pieces: focus and one
//! [`ListState`] per overview pane, the [`ViewStack`] (breadcrumbs), the
//! input [`Mode`], the footer [`Notices`], the pause marker, the requested
//! window and the one session [`Timeline`] fetched on demand. Nothing here does
//! I/O: effects (source requests, quit, freeze) are returned to the event
//! loop, so keyboard flows are tested without a terminal.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::action::{Action, Effect, Request};
use super::bell::Bell;
use super::list::Choices;
use super::list::ListState;
use super::mode::{FilterTarget, Mode};
use super::nav::{Timeline, UsageSection, View, ViewStack};
use super::notice::{Level, Notices};
use super::pane::PaneId;
use super::theme::Theme;
use super::{panes, views};
use crate::duration::format_duration;
use crate::model::{ContextEvent, IntegrationStats};
use crate::redact::mask_json;
use crate::store::State;

/// The window steps `[` and `]` move through. The long ones are held at a
/// coarser resolution (see [`crate::model::slot_minutes`]), so they cost no
/// more memory than a short one; where the database's history does not reach
/// back that far, the header says how much of the window was loaded.
pub const WINDOW_STEPS: [Duration; 8] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(24 * 3600),
    Duration::from_secs(7 * 86_400),
    Duration::from_secs(30 * 86_400),
];

/// Rows moved by PageUp / PageDown.
const PAGE: isize = 10;

/// What does not change while the dashboard runs.
#[derive(Debug, Clone, PartialEq)]
pub struct UiSettings {
    /// Environment label (`production`, `staging`).
    pub environment: String,
    /// Where the data comes from, for the header: `host:port/db` or the simulator.
    pub target: String,
    /// Running on the built-in simulator.
    pub demo: bool,
    pub read_only: bool,
    pub local_time: bool,
    /// The source's poll interval: data older than three of them is stale.
    pub poll_interval: Duration,
    pub theme: Theme,
    /// Mouse reporting is on (`--no-mouse` turns it off).
    pub mouse: bool,
    /// Ring the bell for each newly firing rule alert (`--bell`).
    pub bell: bool,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            environment: "production".into(),
            target: String::new(),
            demo: false,
            read_only: false,
            local_time: false,
            poll_interval: Duration::from_secs(2),
            theme: Theme::new(true, false),
            mouse: true,
            bell: false,
        }
    }
}

/// The UI state.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub settings: UiSettings,
    /// The focused overview pane.
    pub focus: PaneId,
    /// Per overview pane (indexed by [`PaneId::index`]).
    pub lists: [ListState; 5],
    pub nav: ViewStack,
    pub mode: Mode,
    pub notices: Notices,
    /// Since when the display is paused.
    pub paused: Option<DateTime<Utc>>,
    /// The window last asked for.
    pub window: Duration,
    /// The timeline of the session last opened.
    pub session: Option<(String, Timeline)>,
    /// The rule alerts the bell rang for (`--bell`).
    pub bell: Bell,
}

impl App {
    pub fn new(settings: UiSettings, window: Duration) -> Self {
        let settings_bell = settings.bell;
        App {
            settings,
            focus: PaneId::Integrations,
            lists: Default::default(),
            nav: ViewStack::default(),
            mode: Mode::Normal,
            notices: Notices::default(),
            paused: None,
            window,
            session: None,
            bell: Bell::new(settings_bell),
        }
    }

    pub fn theme(&self) -> &Theme {
        &self.settings.theme
    }

    pub fn list(&self, p: PaneId) -> &ListState {
        &self.lists[p.index()]
    }

    fn list_mut(&mut self, p: PaneId) -> &mut ListState {
        &mut self.lists[p.index()]
    }

    pub fn view(&self) -> &View {
        self.nav.current()
    }

    /// The selected alert: in the alerts pane, or the alert shown.
    pub fn selected_alert(&self, state: &State) -> Option<i64> {
        match self.view() {
            View::Alert(id) => Some(*id),
            View::Overview if self.focus == PaneId::Alerts => {
                match panes::open(PaneId::Alerts, state, self.list(PaneId::Alerts)) {
                    Some(View::Alert(id)) => Some(id),
                    _ => None,
                }
            }
            View::Overview => None,
            _ => views::selected_alert(self, state),
        }
    }

    /// Whether the alert shown, or selected in the alerts pane, is a rule
    /// alert (judged, not a row that can be acknowledged).
    fn rule_alert_selected(&self, state: &State) -> bool {
        match self.view() {
            View::RuleAlert(_) => true,
            View::Overview if self.focus == PaneId::Alerts => matches!(
                panes::open(PaneId::Alerts, state, self.list(PaneId::Alerts)),
                Some(View::RuleAlert(_))
            ),
            _ => false,
        }
    }

    fn note(&mut self, level: Level, text: impl Into<String>, now: DateTime<Utc>) {
        self.notices.post(level, text, now);
    }

    /// Apply one action; returns what the event loop must do.
    pub fn apply(&mut self, state: &State, action: Action, now: DateTime<Utc>) -> Effect {
        if action == Action::Quit {
            return Effect::Quit;
        }
        match self.mode.clone() {
            Mode::Help { scroll } => {
                match action {
                    Action::ToggleHelp => self.mode = Mode::Normal,
                    Action::Down => {
                        self.mode = Mode::Help {
                            scroll: scroll.saturating_add(1),
                        }
                    }
                    Action::Up => {
                        self.mode = Mode::Help {
                            scroll: scroll.saturating_sub(1),
                        }
                    }
                    _ => {}
                }
                Effect::None
            }
            Mode::ConfirmAck { id, .. } => match action {
                Action::ConfirmYes => {
                    self.mode = Mode::Normal;
                    self.note(Level::Info, format!("acknowledging alert #{id}…"), now);
                    Effect::Request(Request::Acknowledge(id))
                }
                Action::ConfirmNo => {
                    self.mode = Mode::Normal;
                    self.note(Level::Info, "not acknowledged", now);
                    Effect::None
                }
                _ => Effect::None,
            },
            Mode::Filter { target } => {
                match action {
                    Action::FilterChar(c) => {
                        let l = self.filter_list(target);
                        l.filter.push(c);
                        l.cursor = 0;
                        l.selected = None;
                    }
                    Action::FilterBackspace => {
                        let l = self.filter_list(target);
                        l.filter.pop();
                        l.cursor = 0;
                        l.selected = None;
                    }
                    Action::FilterAccept => self.mode = Mode::Normal,
                    Action::FilterCancel => {
                        self.filter_list(target).filter.clear();
                        self.mode = Mode::Normal;
                    }
                    Action::Up => self.move_selection(state, -1),
                    Action::Down => self.move_selection(state, 1),
                    _ => {}
                }
                Effect::None
            }
            Mode::Normal => self.apply_normal(state, action, now),
        }
    }

    fn filter_list(&mut self, target: FilterTarget) -> &mut ListState {
        match target {
            FilterTarget::Pane(p) => self.list_mut(p),
            FilterTarget::Section(i) => &mut self.nav.top_mut().detail.lists[i],
        }
    }

    fn apply_normal(&mut self, state: &State, action: Action, now: DateTime<Utc>) -> Effect {
        let overview = self.nav.is_overview();
        match action {
            Action::Quit => return Effect::Quit,
            Action::NextPane | Action::PrevPane => {
                let fwd = action == Action::NextPane;
                if overview {
                    self.focus = if fwd {
                        self.focus.next()
                    } else {
                        self.focus.prev()
                    };
                } else {
                    let n = self.view().section_count();
                    self.nav.top_mut().detail.cycle_section(n, fwd);
                }
            }
            Action::FocusPane(p) => {
                if overview {
                    self.focus = p
                }
            }
            Action::FocusSection(i) => {
                if i < self.view().section_count() {
                    self.nav.top_mut().detail.section = i;
                }
            }
            Action::ClickRow(list, index) => {
                if self.is_selected_row(state, list, index) {
                    return self.open(state, now);
                }
                self.select_row(state, list, index)
            }
            Action::Up => self.move_selection(state, -1),
            Action::Down => self.move_selection(state, 1),
            Action::PageUp => self.move_selection(state, -PAGE),
            Action::PageDown => self.move_selection(state, PAGE),
            Action::Top => self.move_selection(state, isize::MIN / 2),
            Action::Bottom => self.move_selection(state, isize::MAX / 2),
            Action::Open => return self.open(state, now),
            Action::OpenUsage => return self.push(View::Usage),
            Action::Back => return self.back(now),
            Action::BackTo(depth) => {
                if self.nav.back_to(depth) {
                    let view = self.view().clone();
                    return self.fetch_for(&view);
                }
            }
            Action::JumpToFailing => return self.jump_to_failing(state, now),
            Action::StartFilter => {
                if overview {
                    if panes::filterable(self.focus) {
                        self.mode = Mode::Filter {
                            target: FilterTarget::Pane(self.focus),
                        };
                    } else {
                        self.note(Level::Info, "nothing to filter in this pane", now);
                    }
                } else if self.view().section_count() > 0 {
                    let s = self.nav.top().detail.section;
                    self.mode = Mode::Filter {
                        target: FilterTarget::Section(s),
                    };
                } else {
                    self.note(Level::Info, "nothing to filter in this view", now);
                }
            }
            Action::SortNext | Action::SortReverse if !overview => {
                let sorts = views::sorts(self);
                if sorts.is_empty() {
                    self.note(Level::Info, "this list has a fixed order", now);
                } else {
                    let l = self.nav.top_mut().detail.list_mut();
                    if action == Action::SortNext {
                        l.cycle_sort(sorts.len());
                    } else {
                        l.reversed = !l.reversed;
                    }
                    let (col, rev) = (sorts[l.sort % sorts.len()], l.reversed);
                    let dir = if rev { "reversed" } else { "default order" };
                    self.note(Level::Info, format!("sorted by {col} ({dir})"), now);
                }
            }
            Action::SortNext | Action::SortReverse => {
                let sorts = panes::sorts(self.focus);
                if sorts.is_empty() {
                    self.note(Level::Info, "this list has a fixed order", now);
                } else {
                    let l = self.list_mut(self.focus);
                    if action == Action::SortNext {
                        l.cycle_sort(sorts.len());
                    } else {
                        l.reversed = !l.reversed;
                    }
                    let (col, rev) = (sorts[l.sort], l.reversed);
                    let dir = if rev { "reversed" } else { "default order" };
                    self.note(Level::Info, format!("sorted by {col} ({dir})"), now);
                }
            }
            Action::WindowShrink | Action::WindowGrow => {
                let next = step_window(self.window, action == Action::WindowGrow);
                if next == self.window {
                    let edge = if action == Action::WindowGrow {
                        "longest"
                    } else {
                        "shortest"
                    };
                    self.note(
                        Level::Info,
                        format!("the window is at its {edge} ({})", format_duration(next)),
                        now,
                    );
                } else {
                    self.window = next;
                    self.note(
                        Level::Info,
                        format!("window {} — reloading…", format_duration(next)),
                        now,
                    );
                    return Effect::Request(Request::SetWindow(next));
                }
            }
            Action::TogglePause => {
                return if self.paused.is_some() {
                    self.paused = None;
                    self.note(Level::Info, "resumed", now);
                    Effect::Unfreeze
                } else {
                    self.paused = Some(now);
                    self.note(
                        Level::Info,
                        "display paused — data collection goes on; p resumes",
                        now,
                    );
                    Effect::Freeze
                };
            }
            Action::Refresh => {
                if let View::Session(id) = self.view().clone() {
                    self.session = Some((id.clone(), Timeline::Loading));
                    return Effect::Request(Request::SessionContext(id));
                }
                self.note(Level::Info, "refreshing…", now);
                return Effect::Request(Request::RefreshNow);
            }
            Action::Acknowledge => return self.acknowledge(state, now),
            Action::ToggleHelp => self.mode = Mode::Help { scroll: 0 },
            Action::ConfirmYes
            | Action::ConfirmNo
            | Action::FilterChar(_)
            | Action::FilterBackspace
            | Action::FilterAccept
            | Action::FilterCancel => {}
        }
        Effect::None
    }

    fn move_selection(&mut self, state: &State, delta: isize) {
        if self.nav.is_overview() {
            let keys = panes::keys(self.focus, state, self.list(self.focus));
            let l = self.list_mut(self.focus);
            match delta {
                d if d <= isize::MIN / 4 => l.top(&keys),
                d if d >= isize::MAX / 4 => l.bottom(&keys),
                d => l.move_by(&keys, d),
            }
        } else if self.view().section_count() == 0 {
            let d = &self.nav.top().detail;
            let cur = d.scroll.get() as isize;
            let next = (cur + delta).clamp(0, u16::MAX as isize) as u16;
            d.scroll.set(next);
        } else {
            let keys = views::section_keys(self, state);
            let l = self.nav.top_mut().detail.list_mut();
            match delta {
                d if d <= isize::MIN / 4 => l.top(&keys),
                d if d >= isize::MAX / 4 => l.bottom(&keys),
                d => l.move_by(&keys, d),
            }
        }
    }

    /// Focus `list` and select its row `index` (a click on that row).
    /// Whether row `index` of `list` is the selected row of the focused list.
    fn is_selected_row(&self, state: &State, list: FilterTarget, index: usize) -> bool {
        let (focused, keys, l) = match list {
            FilterTarget::Pane(p) if self.nav.is_overview() => (
                self.focus == p,
                panes::keys(p, state, self.list(p)),
                self.list(p),
            ),
            FilterTarget::Section(i) if !self.nav.is_overview() => {
                let d = &self.nav.top().detail;
                (d.section == i, views::section_keys(self, state), d.list())
            }
            _ => return false,
        };
        focused && l.index_in(&keys) == Some(index)
    }

    fn select_row(&mut self, state: &State, list: FilterTarget, index: usize) {
        match list {
            FilterTarget::Pane(p) if self.nav.is_overview() => self.focus = p,
            FilterTarget::Section(i) if i < self.view().section_count() => {
                self.nav.top_mut().detail.section = i
            }
            _ => return,
        }
        let keys = if self.nav.is_overview() {
            panes::keys(self.focus, state, self.list(self.focus))
        } else {
            views::section_keys(self, state)
        };
        if index < keys.len() {
            let l = match list {
                FilterTarget::Pane(p) => self.list_mut(p),
                FilterTarget::Section(_) => self.nav.top_mut().detail.list_mut(),
            };
            l.select_index(&keys, index);
        }
    }

    fn push(&mut self, view: View) -> Effect {
        let effect = self.fetch_for(&view);
        self.nav.push(view);
        effect
    }

    /// A session view needs its timeline from the source.
    fn fetch_for(&mut self, view: &View) -> Effect {
        if let View::Session(id) = view
            && self.session.as_ref().is_none_or(|(s, _)| s != id)
        {
            self.session = Some((id.clone(), Timeline::Loading));
            return Effect::Request(Request::SessionContext(id.clone()));
        }
        Effect::None
    }

    fn open(&mut self, state: &State, now: DateTime<Utc>) -> Effect {
        if self.nav.is_overview() {
            let p = self.focus;
            if p == PaneId::Business {
                self.note(Level::Info, "business metrics have no detail view", now);
                return Effect::None;
            }
            if p == PaneId::Sessions {
                return self.open_usage_from_sessions(state);
            }
            let Some(view) = panes::open(p, state, self.list(p)) else {
                self.note(Level::Info, "nothing selected", now);
                return Effect::None;
            };
            return self.push(view);
        }
        if *self.view() == View::Usage
            && let Some(views::usage::Enter::Focus(section, key)) =
                views::usage::enter(state, &self.nav.top().detail)
        {
            let d = &mut self.nav.top_mut().detail;
            d.section = section.position();
            if key.is_some() {
                d.lists[d.section].selected = key;
            }
            return Effect::None;
        }
        match views::open_selected(self, state) {
            Some(view) => self.push(view),
            None => Effect::None,
        }
    }

    /// Enter in the Sessions pane: the Usage view, on the selected
    /// session's service, with the session selected among its active ones
    /// (Enter again opens its timeline).
    fn open_usage_from_sessions(&mut self, state: &State) -> Effect {
        let picked = panes::open(PaneId::Sessions, state, self.list(PaneId::Sessions));
        let effect = self.push(View::Usage);
        if let Some(View::Session(id)) = picked
            && let Some(s) = state.sessions().items.iter().find(|s| s.session_id == id)
        {
            let d = &mut self.nav.top_mut().detail;
            d.lists[UsageSection::Services.position()].selected = Some(s.service.clone());
            d.lists[UsageSection::Sessions.position()].selected = Some(id);
            d.section = UsageSection::Sessions.position();
        }
        effect
    }

    fn back(&mut self, _now: DateTime<Utc>) -> Effect {
        if self.nav.is_overview() {
            self.list_mut(self.focus).filter.clear();
            return Effect::None;
        }
        self.nav.pop();
        let view = self.view().clone();
        self.fetch_for(&view)
    }

    fn jump_to_failing(&mut self, state: &State, now: DateTime<Utc>) -> Effect {
        let failing: Vec<&IntegrationStats> = state.failing_integrations().collect();
        if failing.is_empty() {
            self.note(Level::Success, "no integration is failing", now);
            return Effect::None;
        }
        // Again on a failing integration: the next one.
        let target = match self.view() {
            View::Integration(cur) => failing
                .iter()
                .position(|i| &i.name == cur)
                .map_or(0, |p| (p + 1) % failing.len()),
            _ => 0,
        };
        let name = failing[target].name.clone();
        // Going back lands on that row of the integrations pane.
        self.focus = PaneId::Integrations;
        let keys = panes::keys(PaneId::Integrations, state, self.list(PaneId::Integrations));
        if let Some(i) = keys.iter().position(|k| *k == name) {
            self.list_mut(PaneId::Integrations).select_index(&keys, i);
        }
        self.nav.reset();
        self.nav.push(View::Integration(name));
        Effect::None
    }

    fn acknowledge(&mut self, state: &State, now: DateTime<Utc>) -> Effect {
        if self.settings.read_only {
            self.note(
                Level::Warning,
                "read-only mode (--read-only / read_only in the config): acknowledging is disabled",
                now,
            );
            return Effect::None;
        }
        let Some(id) = self.selected_alert(state) else {
            let text = if self.rule_alert_selected(state) {
                "a rule alert is not acknowledged: it resolves by itself once its condition clears"
            } else {
                "select an alert first (press 4 for the alerts pane)"
            };
            self.note(Level::Info, text, now);
            return Effect::None;
        };
        let Some(alert) = state.alerts().iter().find(|a| a.id == id) else {
            self.note(
                Level::Warning,
                format!("alert #{id} is no longer listed"),
                now,
            );
            return Effect::None;
        };
        if alert.acknowledged {
            self.note(
                Level::Info,
                format!("alert #{id} is already acknowledged"),
                now,
            );
            return Effect::None;
        }
        self.mode = Mode::ConfirmAck {
            id,
            title: alert.title.clone(),
        };
        Effect::None
    }

    // ---- replies from the source ---------------------------------------

    /// The outcome of an acknowledgement.
    pub fn on_acknowledged(&mut self, id: i64, result: Result<(), String>, now: DateTime<Utc>) {
        match result {
            Ok(()) => self.note(Level::Success, format!("alert #{id} acknowledged"), now),
            Err(e) => self.note(
                Level::Error,
                format!("could not acknowledge alert #{id}: {e}"),
                now,
            ),
        }
    }

    /// A session timeline arrived (ignored if another session is shown now).
    pub fn on_session_context(&mut self, id: &str, result: Result<Vec<ContextEvent>, String>) {
        if let Some((shown, t)) = &mut self.session
            && shown == id
        {
            *t = match result {
                Ok(events) => Timeline::Loaded(
                    events
                        .into_iter()
                        .map(|e| ContextEvent {
                            data: mask_json(&e.data),
                            ..e
                        })
                        .collect(),
                ),
                Err(e) => Timeline::Failed(e),
            };
        }
    }

    /// A request could not be handed to the source.
    pub fn on_request_failed(&mut self, what: &str, why: &str, now: DateTime<Utc>) {
        self.note(Level::Error, format!("{what}: {why}"), now);
    }
}

/// The next window step up or down from `w`.
pub fn step_window(w: Duration, grow: bool) -> Duration {
    if grow {
        WINDOW_STEPS
            .iter()
            .copied()
            .find(|s| *s > w)
            .unwrap_or(WINDOW_STEPS[WINDOW_STEPS.len() - 1].max(w))
    } else {
        WINDOW_STEPS
            .iter()
            .rev()
            .copied()
            .find(|s| *s < w)
            .unwrap_or(WINDOW_STEPS[0].min(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_steps() {
        let m = |n: u64| Duration::from_secs(n * 60);
        assert_eq!(step_window(m(15), true), m(60));
        assert_eq!(step_window(m(15), false), m(5));
        assert_eq!(step_window(m(1), false), m(1));
        assert_eq!(step_window(m(1440), true), m(7 * 1440));
        assert_eq!(step_window(m(7 * 1440), true), m(30 * 1440));
        assert_eq!(step_window(m(30 * 1440), true), m(30 * 1440));
        assert_eq!(step_window(m(30 * 1440), false), m(7 * 1440));
        assert_eq!(step_window(m(30), true), m(60));
        assert_eq!(step_window(m(30), false), m(15));
    }
}
