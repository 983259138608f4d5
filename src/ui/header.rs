//! The two header lines. First, a status bar: jfmon, DEMO, environment,
//! database (host:port/name, never a password), each source's state (live,
//! stale for N s, down: reason), the rule alerts firing (once the rules
//! have been judged; marked when they are a gone hub's last known states
//! or this dashboard's own while its hub is away), the window, PAUSED, read-only and the clock. Second, the breadcrumbs and, when an integration is failing, the
//! banner naming it and the key that opens it (both also take a click).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::action::Action;
use super::bindings::{BINDINGS, keys_label};
use super::mouse::Spot;
use super::theme::Theme;
use super::{Ctx, fmt};
use crate::duration::format_duration;
use crate::model::{Health, RuleJudge, SourceId};

pub struct Header<'a> {
    pub ctx: Ctx<'a>,
}

/// One piece of the status bar; the lowest priority goes first when short.
struct Seg<'a> {
    prio: u8,
    spans: Vec<Span<'a>>,
}

fn seg_width(s: &Seg) -> usize {
    s.spans.iter().map(|s| s.width()).sum()
}

/// How the rule alerts' judge is marked when it is not plainly current: a
/// hub that is gone ("hub's, last known 12:03") and a dashboard following a
/// hub that judges on its own meanwhile ("judged here"); nothing otherwise.
pub fn judge_mark(ctx: &Ctx, judge: RuleJudge) -> Option<String> {
    match judge {
        RuleJudge::HubLastKnown { at } => Some(format!(
            "(hub's, last known {})",
            fmt::clock_hm(at, ctx.app.settings.local_time)
        )),
        RuleJudge::Local if ctx.live.source(SourceId::Stream).is_some() => {
            Some("(judged here: no hub)".into())
        }
        RuleJudge::Local | RuleJudge::Hub => None,
    }
}

/// The state of each source, as the header shows it; a down source's reason
/// is cut to `reason_max` cells.
pub fn source_spans<'a>(ctx: &Ctx, reason_max: usize) -> Vec<Span<'a>> {
    let t = ctx.theme();
    let stale_after = (ctx.app.settings.poll_interval.as_secs_f64() * 3.0).max(5.0) as i64;
    let mut out = vec![];
    let sources: Vec<_> = ctx.live.sources().collect();
    if sources.is_empty() {
        out.push(Span::raw("connecting…"));
        return out;
    }
    for (i, s) in sources.iter().enumerate() {
        if i > 0 {
            out.push(Span::raw(" "));
        }
        let label = s.id.label();
        let age = s.last_ok.map(|t| (ctx.now - t).num_seconds().max(0));
        if !s.up {
            let reason = fmt::one_line(s.last_error.as_deref().unwrap_or("not connected"));
            if reason_max < 8 {
                out.push(Span::styled(format!("{label} DOWN"), t.bad()));
            } else {
                let reason = fmt::truncate(&reason, reason_max, t.ellipsis());
                out.push(Span::styled(format!("{label} down: {reason}"), t.bad()));
            }
        } else if let Some(a) = age.filter(|a| *a > stale_after) {
            out.push(Span::styled(
                format!("{label} stale for {}", fmt::span_secs(a)),
                t.warn(),
            ));
        } else {
            out.push(Span::styled(format!("{label} live"), t.ok()));
        }
    }
    out
}

/// The banner for failing integrations, if any: a long and a short text,
/// and the style.
pub fn banner(ctx: &Ctx) -> Option<(String, String, Style)> {
    let t = ctx.theme();
    let failing: Vec<_> = ctx.state.failing_integrations().collect();
    if failing.is_empty() {
        return None;
    }
    let names = |h: Health| -> Vec<&str> {
        failing
            .iter()
            .filter(|i| i.status == h)
            .map(|i| i.name.as_str())
            .collect()
    };
    let (down, degraded) = (names(Health::Down), names(Health::Degraded));
    let plural = |n: usize| {
        if n == 1 {
            "integration"
        } else {
            "integrations"
        }
    };
    let (mut long, mut short) = (vec![], vec![]);
    for (h, list) in [(Health::Down, &down), (Health::Degraded, &degraded)] {
        if list.is_empty() {
            continue;
        }
        let sym = t.health_symbol(h);
        let word = Theme::health_word(h);
        let noun = if h == Health::Down || down.is_empty() {
            format!(" {}", plural(list.len()))
        } else {
            String::new()
        };
        long.push(format!(
            "{sym} {}{noun} {word}: {}",
            list.len(),
            list.join(", ")
        ));
        short.push(format!("{sym} {word}: {}", list.join(", ")));
    }
    let dot = if t.ascii { " | " } else { " · " };
    let key = BINDINGS
        .iter()
        .find(|b| b.action == Action::JumpToFailing)
        .map(|b| keys_label(b, t.ascii))
        .unwrap_or_default();
    let long = format!(
        " {} {} press {key} for details ",
        long.join(dot),
        t.em_dash()
    );
    let short = format!(" {} {} {key} ", short.join(dot), t.em_dash());
    let worst = if down.is_empty() {
        Health::Degraded
    } else {
        Health::Down
    };
    Some((long, short, t.banner(worst)))
}

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        if area.height == 0 {
            return;
        }
        let t = ctx.theme();
        let s = &ctx.app.settings;
        // ---- line 1: the status bar
        let line1 = Rect::new(area.x, area.y, area.width, 1);
        buf.set_style(line1, t.bar());
        // To the minute: the screen then changes on its own once a minute,
        // not every second (see super::redraw).
        let long_clock = fmt::date_time_hm(ctx.now, s.local_time);
        let short_clock = format!(
            "{} {}",
            fmt::clock_hm(ctx.now, s.local_time),
            if s.local_time { "local" } else { "UTC" }
        );
        let sep = t.sep();
        let sep_w = fmt::width(sep);
        let width = area.width as usize;
        let fits = |segs: &[Seg], clock: &str| {
            let body: usize =
                segs.iter().map(seg_width).sum::<usize>() + sep_w * segs.len().saturating_sub(1);
            body + fmt::width(clock) + 2 <= width
        };
        // Shorten a down source's reason before dropping anything important.
        let mut chosen = None;
        for reason_max in [60, 40, 24, 0] {
            let mut segs = self.segments(reason_max);
            let mut clock = long_clock.clone();
            while !fits(&segs, &clock) {
                if clock.len() > short_clock.len() {
                    clock = short_clock.clone();
                    continue;
                }
                // Drop the least important (the latest of equal priority).
                let Some((i, _)) = segs
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.prio < 10)
                    .min_by_key(|(i, s)| (s.prio, usize::MAX - i))
                else {
                    break;
                };
                if segs[i].prio >= 8 && reason_max > 0 {
                    break; // try a shorter reason first
                }
                segs.remove(i);
            }
            if fits(&segs, &clock) || reason_max == 0 {
                chosen = Some((segs, clock));
                break;
            }
        }
        let (segs, clock) = chosen.unwrap_or_default();
        let mut spans = vec![];
        for (i, seg) in segs.into_iter().enumerate() {
            if i > 1 || (i == 1 && !s.demo) {
                spans.push(Span::raw(sep));
            } else if i == 1 {
                spans.push(Span::raw(" "));
            }
            spans.extend(seg.spans);
        }
        buf.set_line(area.x, area.y, &Line::from(spans), area.width);
        let cw = fmt::width(&clock) as u16 + 1;
        if cw < area.width {
            buf.set_string(area.right() - cw, area.y, &clock, Style::new());
        }

        // ---- line 2: breadcrumbs and the banner
        if area.height < 2 {
            return;
        }
        let y = area.y + 1;
        let mut right_w = 0u16;
        if let Some((long, short, style)) = banner(&ctx) {
            // The long form when the breadcrumbs keep some room.
            let crumbs_w = crumbs(&ctx, t).width().min(30);
            let text = if fmt::width(&long) + crumbs_w < area.width as usize {
                long
            } else {
                short
            };
            let text = fmt::truncate(&text, area.width as usize, t.ellipsis());
            right_w = fmt::width(&text) as u16;
            buf.set_string(area.right() - right_w, y, &text, style);
            ctx.hit(
                Rect::new(area.right() - right_w, y, right_w, 1),
                Spot::Banner,
            );
        } else if ctx.state.has_data() && !ctx.state.integrations().is_empty() {
            let n = ctx.state.integrations().len();
            let text = format!(
                "{} all {n} integrations healthy ",
                t.health_symbol(Health::Healthy)
            );
            let healthy = ctx
                .state
                .integrations()
                .iter()
                .all(|i| i.status == Health::Healthy);
            let text = if healthy {
                text
            } else {
                " no integration failing ".to_string()
            };
            right_w = fmt::width(&text) as u16;
            if right_w < area.width / 2 {
                buf.set_string(area.right() - right_w, y, &text, t.ok());
            } else {
                right_w = 0;
            }
        }
        let crumbs = crumbs(&ctx, t);
        let avail = area.width.saturating_sub(right_w + 1);
        buf.set_line(area.x, y, &crumbs, avail);
        crumb_hits(&ctx, t, Rect::new(area.x, y, avail, 1));
    }
}

/// Note where each breadcrumb went (as [`crumbs`] lays them out).
fn crumb_hits(ctx: &Ctx, t: &Theme, row: Rect) {
    let sep = fmt::width(t.crumb_sep()) as u16;
    let mut x = row.x + 1;
    for (depth, v) in ctx.app.nav.views().enumerate() {
        let w = fmt::width(&fmt::one_line(&v.crumb())) as u16;
        let r = Rect::new(x, row.y, w, 1).intersection(row);
        ctx.hit(r, Spot::Crumb(depth));
        x = x.saturating_add(w + sep);
    }
}

impl Header<'_> {
    /// The pieces of the status bar, most important first in each tie.
    fn segments(&self, reason_max: usize) -> Vec<Seg<'static>> {
        let ctx = self.ctx;
        let t = ctx.theme();
        let s = &ctx.app.settings;
        let bold = Style::new().add_modifier(ratatui::style::Modifier::BOLD);
        let mut segs: Vec<Seg> = vec![Seg {
            prio: 10,
            spans: vec![Span::styled(" jfmon ", bold)],
        }];
        if s.demo {
            segs.push(Seg {
                prio: 10,
                spans: vec![Span::styled(" DEMO ", t.demo())],
            });
        }
        segs.push(Seg {
            prio: 9,
            spans: vec![Span::styled(fmt::one_line(&s.environment), bold)],
        });
        if !s.target.is_empty() {
            segs.push(Seg {
                prio: 5,
                spans: vec![Span::raw(fmt::one_line(&s.target))],
            });
        }
        segs.push(Seg {
            prio: 8,
            spans: source_spans(&ctx, reason_max),
        });
        if let Some(judge) = ctx.live.rule_judge() {
            let n = ctx.live.firing_rule_alerts();
            let noun = if n == 1 { "alert" } else { "alerts" };
            let mut seg = if n > 0 {
                Seg {
                    prio: 9,
                    spans: vec![Span::styled(
                        format!(" {n} {noun} FIRING "),
                        t.banner(Health::Down),
                    )],
                }
            } else {
                Seg {
                    prio: 3,
                    spans: vec![Span::styled("no alert firing", t.ok())],
                }
            };
            if let Some(mark) = judge_mark(&ctx, judge) {
                // The banner ends in a space; the quiet text does not.
                let gap = if n > 0 { "" } else { " " };
                seg.spans
                    .push(Span::styled(format!("{gap}{mark}"), t.warn()));
            }
            segs.push(seg);
        }
        let shown = format_duration(std::time::Duration::from_secs(ctx.live.window_secs()));
        let wanted = format_duration(ctx.app.window);
        let mut win = vec![Span::raw(format!("window {shown}"))];
        // Where the window's history came from (rollups or raw rows).
        if let Some(h) = ctx.live.sources().find_map(|s| s.history.as_deref()) {
            win.push(Span::raw(format!(" from {}", fmt::one_line(h))));
        }
        if ctx.live.has_data() && wanted != shown {
            let arrow = if t.ascii { "->" } else { "→" };
            win.push(Span::styled(
                format!(" {arrow} {wanted} loading…"),
                t.warn(),
            ));
        }
        segs.push(Seg {
            prio: 7,
            spans: win,
        });
        if let Some(since) = ctx.app.paused {
            segs.push(Seg {
                prio: 10,
                spans: vec![Span::styled(
                    format!(" PAUSED {} ", fmt::clock(since, s.local_time)),
                    t.paused(),
                )],
            });
        }
        if s.read_only {
            segs.push(Seg {
                prio: 4,
                spans: vec![Span::raw("read-only")],
            });
        }
        segs
    }
}

fn crumbs<'a>(ctx: &Ctx, t: &Theme) -> Line<'a> {
    let views: Vec<_> = ctx.app.nav.views().collect();
    let mut spans = vec![Span::raw(" ")];
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(t.crumb_sep(), t.muted()));
        }
        let text = fmt::one_line(&v.crumb());
        if i + 1 == views.len() {
            spans.push(Span::styled(text, t.title(false)));
        } else {
            spans.push(Span::styled(text, t.muted()));
        }
    }
    Line::from(spans)
}
