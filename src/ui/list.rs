//! The state of one scrollable list (a pane's rows or a drill-down
//! section): the selected item, remembered by key so the selection follows
//! the item when rows reorder as data arrives, the filter text and the sort
//! column. The scroll offset is kept up to date by the renderer.

use std::cell::Cell;

/// Selection, filter and sort of one list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListState {
    /// Key of the selected item (`None`: the first row).
    pub selected: Option<String>,
    /// Index of the selection when it was last placed, used when the
    /// selected item disappears (the nearest row takes over).
    pub cursor: usize,
    /// First visible row; maintained by the renderer to keep the selection
    /// in view with as little scrolling as possible.
    pub offset: Cell<usize>,
    /// Case-insensitive substring filter; empty = everything.
    pub filter: String,
    /// Index into the list's sort columns.
    pub sort: usize,
    /// Sort in the opposite direction.
    pub reversed: bool,
}

impl ListState {
    /// Index of the selection among `keys` (the visible rows, in order).
    pub fn index_in(&self, keys: &[String]) -> Option<usize> {
        if keys.is_empty() {
            return None;
        }
        self.selected
            .as_ref()
            .and_then(|k| keys.iter().position(|x| x == k))
            .or(Some(self.cursor.min(keys.len() - 1)))
    }

    /// The selected one of `items` (the rows in display order, each known
    /// by `key`): the row itself, typed, rather than its key.
    pub fn pick<'s, T: ?Sized>(
        &self,
        items: Vec<&'s T>,
        key: impl Fn(&T) -> String,
    ) -> Option<&'s T> {
        let keys: Vec<String> = items.iter().map(|t| key(t)).collect();
        self.index_in(&keys).map(|i| items[i])
    }

    /// The key of the selected row, if any.
    pub fn selected_key<'k>(&self, keys: &'k [String]) -> Option<&'k String> {
        self.index_in(keys).map(|i| &keys[i])
    }

    pub fn select_index(&mut self, keys: &[String], i: usize) {
        if keys.is_empty() {
            self.selected = None;
            self.cursor = 0;
            return;
        }
        let i = i.min(keys.len() - 1);
        self.cursor = i;
        self.selected = Some(keys[i].clone());
    }

    pub fn move_by(&mut self, keys: &[String], delta: isize) {
        let cur = self.index_in(keys).unwrap_or(0) as isize;
        let next = (cur + delta).max(0) as usize;
        self.select_index(keys, next);
    }

    pub fn top(&mut self, keys: &[String]) {
        self.select_index(keys, 0);
    }

    pub fn bottom(&mut self, keys: &[String]) {
        self.select_index(keys, keys.len().saturating_sub(1));
    }

    /// Whether `text` passes the filter.
    pub fn matches(&self, text: &str) -> bool {
        filter_matches(&self.filter, text)
    }

    /// Cycle to the next of `n` sort columns.
    pub fn cycle_sort(&mut self, n: usize) {
        if n > 0 {
            self.sort = (self.sort + 1) % n;
            self.reversed = false;
        }
    }

    /// The first visible row for a list of `len` rows shown `height` rows
    /// at a time with row `selected` selected; remembers it.
    pub fn scroll_for(&self, selected: Option<usize>, len: usize, height: usize) -> usize {
        let height = height.max(1);
        let mut off = self.offset.get().min(len.saturating_sub(height));
        if let Some(s) = selected {
            if s < off {
                off = s;
            } else if s >= off + height {
                off = s + 1 - height;
            }
        }
        self.offset.set(off);
        off
    }
}

/// A fixed, ordered set of named choices a list steps through: a pane's
/// sort columns, a drill-down's sections. Matching on the enum is
/// exhaustive, so a choice cannot silently fall back to another.
pub trait Choices: Copy + PartialEq + 'static {
    /// Every choice, in the order keys step through them.
    const ALL: &'static [Self];

    /// What the screen calls it.
    fn label(self) -> &'static str;

    /// The choice at position `i` (positions wrap).
    fn at(i: usize) -> Self {
        Self::ALL[i % Self::ALL.len()]
    }

    /// Its position in [`Choices::ALL`].
    fn position(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }

    /// The labels of every choice, in order.
    fn labels() -> Vec<&'static str> {
        Self::ALL.iter().map(|c| c.label()).collect()
    }
}

/// Case-insensitive match of every space-separated word of `filter` in `text`.
pub fn filter_matches(filter: &str, text: &str) -> bool {
    if filter.trim().is_empty() {
        return true;
    }
    let text = text.to_lowercase();
    filter
        .split_whitespace()
        .all(|w| text.contains(&w.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i}")).collect()
    }

    #[test]
    fn selection_follows_the_key() {
        let mut l = ListState::default();
        let k = keys(5);
        l.move_by(&k, 2);
        assert_eq!(l.selected.as_deref(), Some("k2"));
        let reordered: Vec<String> = ["k4", "k2", "k0"].iter().map(|s| s.to_string()).collect();
        assert_eq!(l.index_in(&reordered), Some(1));
        // Gone: the nearest position takes over.
        let shrunk: Vec<String> = ["k0"].iter().map(|s| s.to_string()).collect();
        assert_eq!(l.index_in(&shrunk), Some(0));
        l.bottom(&k);
        assert_eq!(l.index_in(&k), Some(4));
        l.move_by(&k, 10);
        assert_eq!(l.index_in(&k), Some(4));
        l.move_by(&k, -10);
        assert_eq!(l.index_in(&k), Some(0));
        assert_eq!(l.index_in(&[]), None);
    }

    #[test]
    fn scrolling_keeps_selection_visible() {
        let l = ListState::default();
        assert_eq!(l.scroll_for(Some(0), 20, 5), 0);
        assert_eq!(l.scroll_for(Some(7), 20, 5), 3);
        assert_eq!(l.scroll_for(Some(5), 20, 5), 3);
        assert_eq!(l.scroll_for(Some(2), 20, 5), 2);
        assert_eq!(l.scroll_for(None, 3, 5), 0);
    }

    #[test]
    fn filter_words() {
        assert!(filter_matches("", "x"));
        assert!(filter_matches("POST guid", "post /api/spiritual/guidance"));
        assert!(!filter_matches("get guid", "post /api/spiritual/guidance"));
    }
}
