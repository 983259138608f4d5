//! The look of the dashboard: styles for every role (status, severity,
//! focus, staleness, banner) and the glyph sets (Unicode or plain ASCII).
//!
//! The default theme uses only the 16 named ANSI colours plus bold, dim and
//! reversed, and never paints a background, so it reads on dark and light
//! terminals alike. Every meaning carried by colour is also carried by a
//! symbol, a word or an attribute, so a monochrome screen (`--no-color`,
//! `NO_COLOR`) loses nothing. With colour off, no style here sets a colour,
//! so no colour escape code is ever produced.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

use crate::model::{Health, Severity};

/// Styles and glyphs for one run of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

/// Borders drawn with `+`, `-` and `|` only.
pub const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// The focused pane's border in ASCII: `=` rules stand out without colour.
pub const ASCII_BORDER_FOCUSED: border::Set<'static> = border::Set {
    top_left: "#",
    top_right: "#",
    bottom_left: "#",
    bottom_right: "#",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "=",
    horizontal_bottom: "=",
};

const SPARK_UNICODE: [&str; 8] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
const SPARK_ASCII: [&str; 6] = ["_", ".", "-", "=", "^", "#"];

impl Theme {
    pub fn new(color: bool, ascii: bool) -> Self {
        Theme { color, ascii }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    // ---- glyphs ---------------------------------------------------------

    pub fn border(&self, focused: bool) -> border::Set<'static> {
        match (self.ascii, focused) {
            (true, false) => ASCII_BORDER,
            (true, true) => ASCII_BORDER_FOCUSED,
            (false, false) => border::ROUNDED,
            (false, true) => border::THICK,
        }
    }

    /// Sparkline levels, lowest first.
    pub fn spark_levels(&self) -> &'static [&'static str] {
        if self.ascii {
            &SPARK_ASCII
        } else {
            &SPARK_UNICODE
        }
    }

    pub fn health_symbol(&self, h: Health) -> &'static str {
        match (h, self.ascii) {
            (Health::Down, false) => "✖",
            (Health::Degraded, false) => "▲",
            (Health::Healthy, false) => "●",
            (Health::Down, true) => "X",
            (Health::Degraded, true) => "!",
            (Health::Healthy, true) => "+",
            (Health::Unknown, _) => "?",
        }
    }

    pub fn health_word(h: Health) -> &'static str {
        match h {
            Health::Down => "DOWN",
            Health::Degraded => "DEGRADED",
            Health::Healthy => "HEALTHY",
            Health::Unknown => "UNKNOWN",
        }
    }

    /// `✖ DOWN`, `+ HEALTHY`: symbol and word, so colour is never needed.
    pub fn health_label(&self, h: Health) -> String {
        format!("{} {}", self.health_symbol(h), Self::health_word(h))
    }

    /// One cell of a status timeline: the worse, the taller.
    pub fn timeline_cell(&self, h: Option<Health>) -> &'static str {
        match (h, self.ascii) {
            (None, _) => " ",
            (Some(Health::Unknown), _) => " ",
            (Some(Health::Healthy), false) => "▁",
            (Some(Health::Degraded), false) => "▄",
            (Some(Health::Down), false) => "█",
            (Some(Health::Healthy), true) => "_",
            (Some(Health::Degraded), true) => "=",
            (Some(Health::Down), true) => "#",
        }
    }

    pub fn bar_full(&self) -> &'static str {
        if self.ascii { "#" } else { "█" }
    }

    pub fn sep(&self) -> &'static str {
        if self.ascii { " | " } else { " │ " }
    }

    pub fn crumb_sep(&self) -> &'static str {
        if self.ascii { " > " } else { " › " }
    }

    pub fn ellipsis(&self) -> &'static str {
        if self.ascii { "~" } else { "…" }
    }

    pub fn dash(&self) -> &'static str {
        "-"
    }

    /// Between the ends of a range (`120ms–300ms`).
    pub fn en_dash(&self) -> &'static str {
        if self.ascii { "-" } else { "–" }
    }

    pub fn em_dash(&self) -> &'static str {
        if self.ascii { "--" } else { "—" }
    }

    pub fn sort_arrow(&self, reversed: bool) -> &'static str {
        match (self.ascii, reversed) {
            (false, false) => "↓",
            (false, true) => "↑",
            (true, false) => "v",
            (true, true) => "^",
        }
    }

    pub fn selected_marker(&self) -> &'static str {
        if self.ascii { ">" } else { "▶" }
    }

    /// Chart point glyphs for up to three series (p50, p95, p99).
    pub fn series_glyphs(&self) -> [&'static str; 3] {
        if self.ascii {
            [".", "o", "*"]
        } else {
            ["·", "•", "◆"]
        }
    }

    /// A chart cell two or more series share ([`super::chart::PointChart`]).
    pub fn overlap_glyph(&self) -> &'static str {
        if self.ascii { "@" } else { "◈" }
    }

    pub fn cursor(&self) -> &'static str {
        if self.ascii { "_" } else { "▏" }
    }

    // ---- styles ---------------------------------------------------------

    pub fn health(&self, h: Health) -> Style {
        match h {
            Health::Down => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Health::Degraded => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Health::Healthy => self.fg(Color::Green),
            Health::Unknown => Style::new(),
        }
    }

    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Severity::High => self.fg(Color::Red),
            Severity::Warning => self.fg(Color::Yellow),
            Severity::Info => Style::new(),
        }
    }

    /// A pane's border and title.
    pub fn border_style(&self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        }
    }

    pub fn title(&self, focused: bool) -> Style {
        if focused {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    /// Column headings.
    pub fn heading(&self) -> Style {
        Style::new()
            .add_modifier(Modifier::BOLD)
            .add_modifier(Modifier::UNDERLINED)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Secondary text: labels, units, ages.
    pub fn muted(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// Data from a source that stopped delivering.
    pub fn stale(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// The top status bar.
    pub fn bar(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// The failing-integration banner: impossible to miss in any theme.
    pub fn banner(&self, h: Health) -> Style {
        self.health(h)
            .add_modifier(Modifier::REVERSED)
            .add_modifier(Modifier::BOLD)
    }

    pub fn demo(&self) -> Style {
        self.fg(Color::Magenta)
            .add_modifier(Modifier::BOLD)
            .add_modifier(Modifier::REVERSED)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan)
    }

    /// Chart series styles (p50, p95, p99).
    pub fn series(&self) -> [Style; 3] {
        [
            self.fg(Color::Green),
            self.fg(Color::Yellow),
            self.fg(Color::Red),
        ]
    }

    pub fn paused(&self) -> Style {
        self.fg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
            .add_modifier(Modifier::REVERSED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_theme_sets_no_colour() {
        let t = Theme::new(false, false);
        for h in [
            Health::Down,
            Health::Degraded,
            Health::Healthy,
            Health::Unknown,
        ] {
            assert_eq!(t.health(h).fg, None);
            assert_eq!(t.banner(h).fg, None);
        }
        assert_eq!(t.key().fg, None);
        assert!(t.series().iter().all(|s| s.fg.is_none()));
    }

    #[test]
    fn ascii_glyphs_are_ascii() {
        let t = Theme::new(true, true);
        let b = t.border(true);
        let mut all: Vec<&str> = vec![
            b.top_left,
            b.horizontal_top,
            b.vertical_left,
            t.sep(),
            t.crumb_sep(),
            t.ellipsis(),
            t.em_dash(),
            t.bar_full(),
            t.sort_arrow(true),
            t.selected_marker(),
            t.cursor(),
        ];
        all.extend(t.spark_levels());
        all.extend(t.series_glyphs());
        for h in [
            Health::Down,
            Health::Degraded,
            Health::Healthy,
            Health::Unknown,
        ] {
            all.push(t.health_symbol(h));
            all.push(t.timeline_cell(Some(h)));
        }
        assert!(all.iter().all(|s| s.is_ascii()), "{all:?}");
    }
}
