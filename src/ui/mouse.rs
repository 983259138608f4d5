//! The mouse: what the last frame drew where ([`HitMap`], filled by the
//! render itself, never a second guess at the layout), and the translation
//! of a mouse event into the same [`Action`]s the keys produce, gated by the
//! mouse table in [`super::bindings::MOUSE`] (which also writes the help and
//! the README's mouse table). A click on a row selects it; a click on the
//! row that is already selected (so also a double-click) opens it, decided
//! when the click is applied ([`Action::ClickRow`]), not by the frame it
//! was read against.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::action::Action;
use super::bindings::{Gesture, MOUSE, Target};
use super::mode::{FilterTarget, Mode};
use super::pane::PaneId;

/// Rows the wheel moves per notch.
pub const WHEEL_ROWS: usize = 3;

/// What a region of the screen is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spot {
    /// An overview pane (anywhere in it that is not a row).
    Pane(PaneId),
    /// A drill-down section (anywhere in it that is not a row).
    Section(usize),
    /// Row `index` of a list (counted over the whole list, not the
    /// visible part); `selected`: it was drawn selected, in a focused list.
    Row {
        list: FilterTarget,
        index: usize,
        selected: bool,
    },
    /// The banner naming the failing integrations.
    Banner,
    /// The breadcrumb of the view at this depth (0 is the overview).
    Crumb(usize),
}

impl Spot {
    /// The list (or pane) the spot belongs to, for the wheel.
    fn list(self) -> Option<FilterTarget> {
        match self {
            Spot::Pane(p) => Some(FilterTarget::Pane(p)),
            Spot::Section(i) => Some(FilterTarget::Section(i)),
            Spot::Row { list, .. } => Some(list),
            Spot::Banner | Spot::Crumb(_) => None,
        }
    }
}

/// Where things were drawn in the last frame; later regions sit on top of
/// earlier ones (a row inside its pane).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HitMap {
    regions: Vec<(Rect, Spot)>,
}

impl HitMap {
    pub fn add(&mut self, area: Rect, spot: Spot) {
        if !area.is_empty() {
            self.regions.push((area, spot));
        }
    }

    /// The topmost spot at a cell.
    pub fn at(&self, column: u16, row: u16) -> Option<Spot> {
        let p = Position::new(column, row);
        self.regions
            .iter()
            .rev()
            .find(|(r, _)| r.contains(p))
            .map(|(_, s)| *s)
    }

    /// Where a spot was drawn (its first region), for tests and tools.
    pub fn find(&self, pred: impl Fn(&Spot) -> bool) -> Option<Rect> {
        self.regions.iter().find(|(_, s)| pred(s)).map(|(r, _)| *r)
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}

/// The rows a list drew: where the visible rows are, the first one shown,
/// how many there are in all, which is selected and whether the list has
/// the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawnRows {
    pub area: Rect,
    pub offset: usize,
    pub count: usize,
    pub selected: Option<usize>,
    pub focused: bool,
}

impl DrawnRows {
    /// Record each visible row of `list` in `hits`.
    pub fn record(&self, list: FilterTarget, hits: &mut HitMap) {
        let visible = self.count.saturating_sub(self.offset);
        for i in 0..visible.min(self.area.height as usize) {
            let index = self.offset + i;
            let row = Rect::new(self.area.x, self.area.y + i as u16, self.area.width, 1);
            hits.add(
                row,
                Spot::Row {
                    list,
                    index,
                    selected: self.focused && self.selected == Some(index),
                },
            );
        }
    }
}

/// The gesture of a mouse event, if it is one jfmon uses (left press and
/// the wheel; releases, drags and moves do nothing).
fn gesture(ev: &MouseEvent) -> Option<(Gesture, bool)> {
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) => Some((Gesture::Click, false)),
        MouseEventKind::ScrollUp => Some((Gesture::Wheel, true)),
        MouseEventKind::ScrollDown => Some((Gesture::Wheel, false)),
        _ => None,
    }
}

/// What the table calls the spot under the pointer for this gesture.
fn target(g: Gesture, spot: Option<Spot>) -> Target {
    match (g, spot) {
        (Gesture::Wheel, Some(s)) if s.list().is_some() => Target::List,
        (Gesture::Wheel, _) => Target::Page,
        (_, Some(Spot::Pane(_) | Spot::Section(_))) => Target::Pane,
        (_, Some(Spot::Row { selected: true, .. })) => Target::SelectedRow,
        (_, Some(Spot::Row { .. })) => Target::Row,
        (_, Some(Spot::Banner)) => Target::Banner,
        (_, Some(Spot::Crumb(_))) => Target::Crumb,
        (_, None) => Target::Page,
    }
}

fn focus(list: FilterTarget) -> Action {
    match list {
        FilterTarget::Pane(p) => Action::FocusPane(p),
        FilterTarget::Section(i) => Action::FocusSection(i),
    }
}

/// The actions a mouse event asks for, given what the last frame drew
/// (`hits`) and the input mode. Empty when the event means nothing.
pub fn actions(hits: &HitMap, mode: &Mode, ev: &MouseEvent) -> Vec<Action> {
    let Some((g, up)) = gesture(ev) else {
        return vec![];
    };
    let step = if up { Action::Up } else { Action::Down };
    match mode {
        // The help: the wheel scrolls it, a click closes it.
        Mode::Help { .. } => {
            return match g {
                Gesture::Click => vec![Action::ToggleHelp],
                Gesture::Wheel => vec![step; WHEEL_ROWS],
            };
        }
        // An acknowledgement waits for y or n: the mouse cannot answer.
        Mode::ConfirmAck { .. } => return vec![],
        Mode::Filter { .. } | Mode::Normal => {}
    }
    let spot = hits.at(ev.column, ev.row);
    let t = target(g, spot);
    if !MOUSE.iter().any(|b| b.gesture == g && b.target == t) {
        return vec![];
    }
    let mut out = vec![];
    if matches!(mode, Mode::Filter { .. }) {
        // Clicking away from a filter being typed keeps it, as Enter does.
        out.push(Action::FilterAccept);
    }
    match (t, spot) {
        (Target::List, Some(s)) => {
            out.extend(s.list().map(focus));
            out.extend(std::iter::repeat_n(step, WHEEL_ROWS));
        }
        (Target::Page, _) if g == Gesture::Wheel => {
            out.extend(std::iter::repeat_n(step, WHEEL_ROWS))
        }
        (Target::Pane, Some(s)) => out.extend(s.list().map(focus)),
        // Select or open: decided when the action is applied, on the
        // selection then (this frame may be older than the last click).
        (Target::Row | Target::SelectedRow, Some(Spot::Row { list, index, .. })) => {
            out.push(Action::ClickRow(list, index))
        }
        (Target::Banner, _) => out.push(Action::JumpToFailing),
        (Target::Crumb, Some(Spot::Crumb(depth))) => out.push(Action::BackTo(depth)),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn ev(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
        MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }
    }

    fn click(c: u16, r: u16) -> MouseEvent {
        ev(MouseEventKind::Down(MouseButton::Left), c, r)
    }

    fn map() -> HitMap {
        let mut h = HitMap::default();
        h.add(Rect::new(0, 0, 10, 1), Spot::Crumb(0));
        h.add(Rect::new(20, 0, 20, 1), Spot::Banner);
        h.add(Rect::new(0, 2, 40, 10), Spot::Pane(PaneId::Alerts));
        let rows = DrawnRows {
            area: Rect::new(1, 4, 38, 3),
            offset: 5,
            count: 7,
            selected: Some(6),
            focused: true,
        };
        rows.record(FilterTarget::Pane(PaneId::Alerts), &mut h);
        h
    }

    #[test]
    fn rows_are_counted_from_the_scroll_offset_and_only_where_drawn() {
        let h = map();
        let alerts = FilterTarget::Pane(PaneId::Alerts);
        let row = |y| h.at(5, y);
        assert_eq!(
            row(4),
            Some(Spot::Row {
                list: alerts,
                index: 5,
                selected: false
            })
        );
        assert_eq!(
            row(5),
            Some(Spot::Row {
                list: alerts,
                index: 6,
                selected: true
            })
        );
        // Only two rows are left below the offset: the third line is the pane.
        assert_eq!(row(6), Some(Spot::Pane(PaneId::Alerts)));
        assert_eq!(h.at(50, 50), None);
    }

    #[test]
    fn gestures_become_the_actions_of_the_keys() {
        let h = map();
        let n = Mode::Normal;
        let alerts = FilterTarget::Pane(PaneId::Alerts);
        assert_eq!(
            actions(&h, &n, &click(3, 4)),
            vec![Action::ClickRow(alerts, 5)]
        );
        assert_eq!(
            actions(&h, &n, &click(3, 5)),
            vec![Action::ClickRow(alerts, 6)]
        );
        assert_eq!(
            actions(&h, &n, &click(3, 10)),
            vec![Action::FocusPane(PaneId::Alerts)]
        );
        assert_eq!(actions(&h, &n, &click(25, 0)), vec![Action::JumpToFailing]);
        assert_eq!(actions(&h, &n, &click(2, 0)), vec![Action::BackTo(0)]);
        assert_eq!(actions(&h, &n, &click(60, 30)), vec![]);
        assert_eq!(
            actions(&h, &n, &ev(MouseEventKind::ScrollDown, 3, 4)),
            vec![
                Action::FocusPane(PaneId::Alerts),
                Action::Down,
                Action::Down,
                Action::Down
            ]
        );
        assert_eq!(
            actions(&h, &n, &ev(MouseEventKind::ScrollUp, 60, 30)),
            vec![Action::Up; WHEEL_ROWS]
        );
        for ignored in [
            MouseEventKind::Moved,
            MouseEventKind::Up(MouseButton::Left),
            MouseEventKind::Drag(MouseButton::Left),
            MouseEventKind::Down(MouseButton::Right),
        ] {
            assert_eq!(actions(&h, &n, &ev(ignored, 3, 4)), vec![]);
        }
    }

    #[test]
    fn modes_decide_first() {
        let h = map();
        let help = Mode::Help { scroll: 0 };
        assert_eq!(actions(&h, &help, &click(3, 4)), vec![Action::ToggleHelp]);
        let confirm = Mode::ConfirmAck {
            id: 1,
            title: "x".into(),
        };
        assert_eq!(actions(&h, &confirm, &click(3, 4)), vec![]);
        let filter = Mode::Filter {
            target: FilterTarget::Pane(PaneId::Alerts),
        };
        assert_eq!(
            actions(&h, &filter, &click(25, 0)),
            vec![Action::FilterAccept, Action::JumpToFailing]
        );
    }
}
