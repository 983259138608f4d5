//! Overlays drawn over the body: the `?` key help, generated from the
//! binding table so it always matches what the keys do, and the
//! confirmation box before an alert is acknowledged.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use super::bindings::{help_lines, mouse_help_lines};
use super::mode::Mode;
use super::{Ctx, fmt, widgets};

/// Draw the overlay of the current mode, if it has one.
pub fn overlay(ctx: Ctx, body: Rect, buf: &mut Buffer) {
    match &ctx.app.mode {
        Mode::Help { scroll } => help(ctx, body, buf, *scroll),
        Mode::ConfirmAck { id, title } => confirm(ctx, body, buf, *id, title),
        _ => {}
    }
}

fn centered(body: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(body.width);
    let h = h.min(body.height);
    Rect::new(
        body.x + (body.width - w) / 2,
        body.y + (body.height - h) / 2,
        w,
        h,
    )
}

/// The help overlay in sections (title, lines), from the binding table,
/// then the status legend.
pub fn help_sections<'a>(ctx: &Ctx) -> Vec<Vec<Line<'a>>> {
    let t = ctx.theme();
    let mut out = vec![];
    for (title, rows) in help_lines(t.ascii) {
        if rows.is_empty() {
            continue;
        }
        let mut lines = vec![Line::styled(title.to_string(), t.heading())];
        for (keys, what) in rows {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<16}"), t.key()),
                Span::raw(what.to_string()),
            ]));
        }
        out.push(lines);
    }
    if ctx.app.settings.mouse {
        let mut lines = vec![Line::styled(
            "Mouse (off with --no-mouse; Shift+drag selects text)".to_string(),
            t.heading(),
        )];
        for (gesture, what) in mouse_help_lines() {
            lines.push(Line::from(vec![
                Span::styled(format!("  {gesture:<19}"), t.key()),
                Span::raw(what.to_string()),
            ]));
        }
        out.push(lines);
    }
    let mut legend = vec![Line::styled("Integration status".to_string(), t.heading())];
    for h in [
        crate::model::Health::Down,
        crate::model::Health::Degraded,
        crate::model::Health::Healthy,
        crate::model::Health::Unknown,
    ] {
        legend.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(format!("{:<12}", t.health_label(h)), t.health(h)),
            Span::styled(status_meaning(h), t.muted()),
        ]));
    }
    out.push(legend);
    out
}

fn status_meaning(h: crate::model::Health) -> &'static str {
    match h {
        crate::model::Health::Down => "failing: too many errors or failures in a row",
        crate::model::Health::Degraded => "some failures, or slow",
        crate::model::Health::Healthy => "working",
        crate::model::Health::Unknown => "no calls in the window",
    }
}

/// Sections joined with blank lines.
fn join<'a>(sections: &[Vec<Line<'a>>]) -> Vec<Line<'a>> {
    let mut out = vec![];
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            out.push(Line::default());
        }
        out.extend(s.iter().cloned());
    }
    out
}

/// Column width of the help.
const COL: u16 = 72;

fn help(ctx: Ctx, body: Rect, buf: &mut Buffer, scroll: u16) {
    let t = ctx.theme();
    let sections = help_sections(&ctx);
    let single = join(&sections);
    // Two columns when one is too tall and the screen is wide enough.
    let two = single.len() as u16 + 2 > body.height && body.width >= 2 * COL + 5;
    let columns: Vec<Vec<Line>> = if two {
        vec![join(&sections[..1]), join(&sections[1..])]
    } else {
        vec![single]
    };
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0) as u16;
    let width = columns.len() as u16 * (COL + 1) + 3;
    let area = centered(body, width, tallest + 2);
    if area.width < 10 || area.height < 3 {
        return;
    }
    Clear.render(area, buf);
    let title = widgets::pane_title(
        t,
        None,
        "Keys",
        true,
        vec![Span::styled(" ? or Esc closes ", t.muted())],
    );
    let block = widgets::frame(t, true, title, vec![]);
    let inner = block.inner(area);
    block.render(area, buf);
    let max = tallest.saturating_sub(inner.height);
    let n = columns.len() as u16;
    for (i, lines) in columns.into_iter().enumerate() {
        let x = inner.x + 1 + i as u16 * (COL + 1);
        let w = if n == 1 {
            inner.width.saturating_sub(1)
        } else {
            COL.min(inner.right().saturating_sub(x))
        };
        let r = Rect::new(x.min(inner.right()), inner.y, w, inner.height);
        Paragraph::new(lines)
            .scroll((scroll.min(max), 0))
            .render(r, buf);
    }
}

fn confirm(ctx: Ctx, body: Rect, buf: &mut Buffer, id: i64, title: &str) {
    let t = ctx.theme();
    let area = centered(body, 60, 7);
    if area.width < 10 || area.height < 3 {
        return;
    }
    Clear.render(area, buf);
    let block = widgets::frame(
        t,
        true,
        widgets::pane_title(t, None, "Acknowledge", true, vec![]),
        vec![],
    );
    let inner = block.inner(area);
    block.render(area, buf);
    let lines = vec![
        Line::from(format!("Acknowledge alert #{id}?")),
        Line::styled(
            fmt::truncate(&fmt::one_line(title), inner.width as usize, t.ellipsis()),
            t.title(false),
        ),
        Line::styled(
            "This writes acknowledged = true to the database.",
            t.muted(),
        ),
        Line::from(vec![
            Span::styled("y", t.key()),
            Span::raw(" yes   "),
            Span::styled("n", t.key()),
            Span::raw(" no"),
        ]),
    ];
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .render(inner, buf);
}
