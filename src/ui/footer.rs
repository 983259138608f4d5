//! The footer line: the current notice (outcome of an action, refusal,
//! error) or the text being typed as a filter, else the key hints for what
//! can be done right now, read from the binding table.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::bindings::{Hint, footer_hints};
use super::mode::Mode;
use super::notice::Level;
use super::{Ctx, fmt};

pub struct Footer<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for Footer<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        if area.is_empty() {
            return;
        }
        let t = ctx.theme();
        let app = ctx.app;
        let mut spans: Vec<Span> = vec![Span::raw(" ")];
        match &app.mode {
            Mode::Filter { target } => {
                let filter = match target {
                    super::mode::FilterTarget::Pane(p) => app.list(*p).filter.clone(),
                    super::mode::FilterTarget::Section(i) => {
                        app.nav.top().detail.lists[*i].filter.clone()
                    }
                };
                spans.push(Span::styled("filter /", t.key()));
                spans.push(Span::raw(filter));
                spans.push(Span::styled(t.cursor(), t.key()));
                spans.push(Span::raw("   "));
            }
            Mode::ConfirmAck { id, .. } => {
                spans.push(Span::styled(format!("acknowledge alert #{id}? "), t.warn()));
            }
            _ => {
                if let Some(n) = app.notices.visible(ctx.now) {
                    let style = match n.level {
                        Level::Info => t.accent(),
                        Level::Success => t.ok(),
                        Level::Warning => t.warn(),
                        Level::Error => t.bad(),
                    };
                    let text = fmt::one_line(&n.text);
                    let text =
                        fmt::truncate(&text, area.width.saturating_sub(2) as usize, t.ellipsis());
                    spans.push(Span::styled(text, style));
                    buf.set_line(area.x, area.y, &Line::from(spans), area.width);
                    return;
                }
            }
        }
        let alert_shown = app.selected_alert(ctx.state).is_some();
        let any_failing = ctx.state.failing_integrations().next().is_some();
        let sections = app.view().section_count();
        let has_list = app.nav.is_overview() || sections > 0;
        let hints = footer_hints(&app.mode, app.nav.is_overview(), t.ascii, |h| match h {
            Hint::Always => true,
            Hint::Never => false,
            Hint::Failing => any_failing,
            Hint::Alert => alert_shown,
            Hint::List => has_list,
            Hint::Sections => sections > 1,
        });
        let mut used: usize = spans.iter().map(|s| s.width()).sum();
        for (key, what) in hints {
            let w = fmt::width(&key) + fmt::width(what) + 3;
            if used + w > area.width as usize {
                break;
            }
            used += w;
            spans.push(Span::styled(key, t.key()));
            spans.push(Span::styled(format!(" {what}  "), t.muted()));
        }
        buf.set_line(area.x, area.y, &Line::from(spans), area.width);
    }
}
