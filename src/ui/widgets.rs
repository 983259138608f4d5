//! Small building blocks shared by panes and views: the pane frame with its
//! title and freshness, a windowed table with a selection marker, a status
//! timeline and centred messages (the charts are in [`super::chart`]). All of them work in Unicode and in plain ASCII, and none relies
//! on colour alone (series have distinct glyphs, bars have height).

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget, Wrap};

use super::fmt;
use super::list::ListState;
use super::mouse::DrawnRows;
use super::theme::Theme;
use super::{Ctx, Freshness};
use crate::model::Health;

/// A bordered frame with a title on the left and a status on the right.
pub fn frame<'a>(
    theme: &Theme,
    focused: bool,
    title: Vec<Span<'a>>,
    right: Vec<Span<'a>>,
) -> Block<'a> {
    let mut b = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border(focused))
        .border_style(theme.border_style(focused))
        .title(Line::from(title));
    if !right.is_empty() {
        b = b.title(Line::from(right).right_aligned());
    }
    b
}

/// The standard title of a pane: ` 2 Integrations ` plus extras.
pub fn pane_title<'a>(
    theme: &Theme,
    number: Option<usize>,
    name: &str,
    focused: bool,
    extra: Vec<Span<'a>>,
) -> Vec<Span<'a>> {
    let text = match number {
        Some(n) => format!(" {n} {name} "),
        None => format!(" {name} "),
    };
    let mut v = vec![Span::styled(text, theme.title(focused))];
    v.extend(extra);
    v
}

/// The freshness marker for a pane's top-right corner.
pub fn freshness_spans<'a>(ctx: &Ctx, f: &Freshness) -> Vec<Span<'a>> {
    let t = ctx.theme();
    if let Some(since) = ctx.app.paused {
        return vec![Span::styled(
            format!(
                " paused {} ",
                fmt::clock(since, ctx.app.settings.local_time)
            ),
            t.warn(),
        )];
    }
    match f {
        Freshness::Waiting => vec![Span::styled(" waiting for data ", t.muted())],
        // Within three poll intervals: "live" (a counting age would redraw
        // every pane every second for no information).
        Freshness::Live { .. } => vec![Span::styled(" live ", t.muted())],
        Freshness::Stale { age } => vec![Span::styled(
            format!(" STALE {} ", fmt::age_secs(*age)),
            t.warn(),
        )],
        Freshness::Down { age, .. } => vec![Span::styled(
            match age {
                Some(a) => format!(" STALE {} ", fmt::age_secs(*a)),
                None => " source down ".to_string(),
            },
            t.bad(),
        )],
    }
}

/// Dim everything in `area` (data that is no longer current).
pub fn dim(area: Rect, buf: &mut Buffer) {
    buf.set_style(area, Style::new().add_modifier(Modifier::DIM));
}

/// A message in the middle of an area (empty states, missing tables).
pub fn message(area: Rect, buf: &mut Buffer, lines: Vec<Line<'_>>) {
    if area.is_empty() {
        return;
    }
    let n = lines.len() as u16;
    let y = area.y + area.height.saturating_sub(n) / 2;
    let r = Rect::new(area.x, y, area.width, area.bottom().saturating_sub(y));
    Paragraph::new(lines)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(r, buf);
}

/// One column of a [`table`].
pub struct Col {
    pub title: String,
    pub width: Constraint,
    pub right: bool,
}

impl Col {
    pub fn left(title: impl Into<String>, width: Constraint) -> Col {
        Col {
            title: title.into(),
            width,
            right: false,
        }
    }
    pub fn right(title: impl Into<String>, width: Constraint) -> Col {
        Col {
            title: title.into(),
            width,
            right: true,
        }
    }
}

/// Which row of a [`table`] is selected, and whether its list has the focus.
pub struct Selection<'a> {
    pub list: &'a ListState,
    pub index: Option<usize>,
    pub focused: bool,
}

impl<'a> Selection<'a> {
    /// The selection of `list` among rows with these `keys` (in display order).
    pub fn of(list: &'a ListState, keys: &[String], focused: bool) -> Self {
        Selection {
            list,
            index: list.index_in(keys),
            focused,
        }
    }
}

/// One row of a list: its key (what the selection remembers), its cells
/// and its style.
pub struct ListRow<'a> {
    pub key: String,
    pub cells: Vec<Line<'a>>,
    pub style: Style,
}

impl<'a> ListRow<'a> {
    pub fn new(key: String, cells: Vec<Line<'a>>) -> Self {
        ListRow {
            key,
            cells,
            style: Style::new(),
        }
    }
    pub fn style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }
}

/// The rows of a list with their columns and selection.
pub struct ListBody<'a, 'l> {
    pub cols: Vec<Col>,
    pub rows: Vec<ListRow<'a>>,
    pub list: &'l ListState,
    pub focused: bool,
}

/// The sequence every list on screen shares (panes and drill-down
/// sections): the frame, then `message` (a placeholder or the empty state)
/// if there is one, else the table `body` builds for the inner area, with
/// the selection. Returns the rows drawn (none for a message).
pub fn section_table<'a, 'l>(
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
    block: Block<'_>,
    message: Option<Vec<Line<'_>>>,
    body: impl FnOnce(Rect) -> ListBody<'a, 'l>,
) -> Option<DrawnRows> {
    let inner = block.inner(area);
    block.render(area, buf);
    list_or_message(inner, buf, theme, message, body)
}

/// [`section_table`] without the frame.
pub fn list_or_message<'a, 'l>(
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
    msg: Option<Vec<Line<'_>>>,
    body: impl FnOnce(Rect) -> ListBody<'a, 'l>,
) -> Option<DrawnRows> {
    if let Some(lines) = msg {
        message(area, buf, lines);
        return None;
    }
    let ListBody {
        cols,
        rows,
        list,
        focused,
    } = body(area);
    let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
    let sel = Selection::of(list, &keys, focused);
    let rows = rows.into_iter().map(|r| (r.cells, r.style)).collect();
    table(area, buf, theme, &cols, rows, sel)
}

/// A status-code cell: `502`, or `-` when there is none.
pub fn status_code(code: Option<i32>) -> String {
    code.map_or("-".into(), |s| s.to_string())
}

/// An error-text cell, on one line.
pub fn error_text(error: Option<&str>) -> String {
    fmt::one_line(error.unwrap_or("(no error text)"))
}

/// `p50 …  p95 …  p99 …` for summary lines.
pub fn percentiles<'a>(
    theme: &Theme,
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
) -> Vec<Span<'a>> {
    let mut l = stat(theme, "p50", fmt::ms(p50), Style::new());
    l.extend(stat(theme, "p95", fmt::ms(p95), Style::new()));
    l.extend(stat(theme, "p99", fmt::ms(p99), Style::new()));
    l
}

/// Draw the rows of a list in `area` with a header line, scrolled to keep
/// `selected` in view. The selected row gets a marker and reversed video
/// when `focused`. Returns where the rows went (for the mouse).
pub fn table(
    area: Rect,
    buf: &mut Buffer,
    theme: &Theme,
    cols: &[Col],
    rows: Vec<(Vec<Line<'_>>, Style)>,
    sel: Selection,
) -> Option<DrawnRows> {
    let Selection {
        list,
        index: selected,
        focused,
    } = sel;
    if area.is_empty() {
        return None;
    }
    let body = area.height.saturating_sub(1) as usize;
    let offset = list.scroll_for(selected, rows.len(), body);
    let mut widths = vec![Constraint::Length(1)];
    widths.extend(cols.iter().map(|c| c.width));
    let header = Row::new(
        std::iter::once(Cell::from(""))
            .chain(cols.iter().map(|c| {
                let l = Line::from(c.title.clone());
                Cell::from(if c.right { l.right_aligned() } else { l })
            }))
            .collect::<Vec<_>>(),
    )
    .style(theme.heading());
    let n = rows.len();
    let visible: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .skip(offset)
        .take(body)
        .map(|(i, (cells, style))| {
            let sel = focused && Some(i) == selected;
            let marker = if sel { theme.selected_marker() } else { " " };
            let cells = std::iter::once(Cell::from(marker)).chain(
                cells
                    .into_iter()
                    .zip(cols)
                    .map(|(l, c)| Cell::from(if c.right { l.right_aligned() } else { l })),
            );
            let r = Row::new(cells.collect::<Vec<_>>()).style(style);
            if sel {
                r.style(style.patch(theme.selected()))
            } else {
                r
            }
        })
        .collect();
    Table::new(visible, widths)
        .header(header)
        .column_spacing(1)
        .render(area, buf);
    // When the rows overflow: the position, on the frame's bottom border.
    if n > body && area.width > 10 {
        let text = match selected {
            Some(i) => format!(" {}/{n} ", i + 1),
            None => format!(" +{} ", n.saturating_sub(offset + body)),
        };
        let x = area.right().saturating_sub(fmt::width(&text) as u16 + 1);
        let y = area.bottom();
        if y < buf.area.bottom() && x > area.x {
            buf.set_string(x, y, text, theme.muted());
        }
    }
    Some(DrawnRows {
        area: Rect::new(area.x, area.y + 1, area.width, body as u16),
        offset,
        count: n,
        selected,
        focused,
    })
}

/// A one-line status timeline: each cell the worst status of its minutes.
pub fn timeline<'a>(theme: &Theme, statuses: &[Option<Health>], width: usize) -> Line<'a> {
    if width == 0 {
        return Line::default();
    }
    let cells = fmt::fit(statuses, width, |group| {
        let known = group.iter().flatten().copied();
        // Minutes without calls do not hide the others.
        known
            .clone()
            .filter(|h| *h != Health::Unknown)
            .min()
            .or_else(|| known.min())
    });
    Line::from(
        cells
            .into_iter()
            .map(|h| {
                let style = h.map_or(Style::new(), |h| theme.health(h));
                Span::styled(theme.timeline_cell(h), style)
            })
            .collect::<Vec<_>>(),
    )
}

/// A `label value` pair for stat lines.
pub fn stat<'a>(theme: &Theme, label: &str, value: String, style: Style) -> Vec<Span<'a>> {
    vec![
        Span::styled(format!("{label} "), theme.muted()),
        Span::styled(value, style),
        Span::raw("  "),
    ]
}

/// Break lines into rows of at most `width` cells (by character, keeping
/// styles), so the row count is known exactly for scrolling.
pub fn hard_wrap(lines: Vec<Line<'_>>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut out = Vec::new();
    for line in lines {
        let mut row: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for span in line.spans {
            let style = span.style;
            let mut chunk = String::new();
            let mut buf = [0u8; 4];
            for c in span.content.chars() {
                let cw = fmt::width(c.encode_utf8(&mut buf));
                if used + cw > width && used > 0 {
                    if !chunk.is_empty() {
                        row.push(Span::styled(std::mem::take(&mut chunk), style));
                    }
                    out.push(Line::from(std::mem::take(&mut row)).style(line.style));
                    used = 0;
                }
                chunk.push(c);
                used += cw;
            }
            if !chunk.is_empty() {
                row.push(Span::styled(chunk, style));
            }
        }
        out.push(Line::from(row).style(line.style));
    }
    out
}

/// Replace every non-ASCII symbol in `area` (`--ascii`): the dashboard's own
/// glyphs are ASCII already in that mode; this catches punctuation in text
/// and whatever the data holds.
pub fn asciify(area: Rect, buf: &mut Buffer) {
    let area = area.intersection(buf.area);
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            if cell.symbol().is_ascii() {
                continue;
            }
            let sub = match cell.symbol() {
                "—" | "–" | "─" | "━" => "-",
                "…" | "·" | "•" => ".",
                "›" | "→" | "▶" => ">",
                "←" => "<",
                "↑" => "^",
                "↓" => "v",
                "✔" => "+",
                "│" | "┃" => "|",
                "\u{a0}" => " ",
                _ => "?",
            };
            cell.set_symbol(sub);
        }
    }
}

/// ` 11:46-now` for chart titles: the time span a series covers.
pub fn span_label(ctx: &Ctx, first: Option<crate::model::Minute>) -> String {
    first.map_or(String::new(), |m| {
        format!(
            " {}-now",
            fmt::clock_hm(crate::model::minute_start(m), ctx.app.settings.local_time)
        )
    })
}
