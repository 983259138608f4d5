//! The Usage view: per service over the window (started, outcomes,
//! completion, durations, credits, share, starts per minute) against the
//! same window a day and a week earlier; the findings; the funnel and the
//! hour-of-day profile; the active sessions of the selected service. Opened
//! from the Sessions pane (Enter) or anywhere with `u`. Everything shown is
//! computed by the store ([`crate::model::UsageStats`]); nothing aggregates here.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::super::list::{Choices, ListState};
use super::super::nav::{DetailState, UsageSection as Section, View};
use super::super::widgets::{self, Col, ListRow};
use super::super::{Ctx, fmt};
use super::{section, section_frame};
use crate::model::{Finding, ServiceUsage, Session, UsageComparison};
use crate::store::State;

/// The sort columns of the services list (`s` steps through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Started,
    Service,
    Completion,
    Failed,
    Abandoned,
    Duration,
    Credits,
}

impl Choices for Sort {
    const ALL: &'static [Self] = &[
        Self::Started,
        Self::Service,
        Self::Completion,
        Self::Failed,
        Self::Abandoned,
        Self::Duration,
        Self::Credits,
    ];
    fn label(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Service => "service",
            Self::Completion => "completion",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
            Self::Duration => "median duration",
            Self::Credits => "credits/session",
        }
    }
}

/// Services passing the filter, in the chosen order (worst completion first
/// when sorted by completion).
pub fn services<'s>(state: &'s State, list: &ListState) -> Vec<&'s ServiceUsage> {
    let mut v: Vec<&ServiceUsage> = state
        .usage()
        .services
        .iter()
        .filter(|s| list.matches(&s.service))
        .collect();
    let key = |x: Option<f64>| x.unwrap_or(f64::NEG_INFINITY);
    match Sort::at(list.sort) {
        Sort::Started => {} // the store's order
        Sort::Service => v.sort_by(|a, b| a.service.cmp(&b.service)),
        Sort::Completion => v.sort_by(|a, b| {
            a.completion_rate
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.completion_rate.unwrap_or(f64::INFINITY))
        }),
        Sort::Failed => v.sort_by_key(|s| std::cmp::Reverse(s.failed)),
        Sort::Abandoned => v.sort_by_key(|s| std::cmp::Reverse(s.abandoned)),
        Sort::Duration => v.sort_by(|a, b| key(b.median_secs).total_cmp(&key(a.median_secs))),
        Sort::Credits => {
            v.sort_by(|a, b| key(b.credits_per_session).total_cmp(&key(a.credits_per_session)))
        }
    }
    if list.reversed {
        v.reverse();
    }
    v
}

fn finding_text(f: &Finding) -> String {
    format!("{} {}", f.kind.word(), f.text)
}

/// Findings passing the filter.
pub fn findings<'s>(state: &'s State, list: &ListState) -> Vec<(usize, &'s Finding)> {
    state
        .usage()
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| list.matches(&finding_text(f)))
        .collect()
}

/// The service selected in the services list, if any.
pub fn selected_service(state: &State, d: &DetailState) -> Option<String> {
    let list = d.list_of(Section::Services);
    list.pick(services(state, list), |s| s.service.clone())
        .map(|s| s.service.clone())
}

/// Active sessions of the selected service (all of them when none is), passing the filter.
pub fn sessions<'s>(state: &'s State, d: &DetailState) -> Vec<&'s Session> {
    let service = selected_service(state, d);
    let list = d.list_of(Section::Sessions);
    state
        .sessions()
        .items
        .iter()
        .filter(|s| service.as_ref().is_none_or(|x| *x == s.service))
        .filter(|s| {
            list.matches(&format!(
                "{} {}",
                s.session_id,
                s.user_id.map(|u| u.to_string()).unwrap_or_default()
            ))
        })
        .collect()
}

/// Keys of the focused section.
pub fn section_keys(state: &State, d: &DetailState) -> Vec<String> {
    match d.focused::<Section>() {
        Section::Services => services(state, d.list())
            .iter()
            .map(|s| s.service.clone())
            .collect(),
        Section::Findings => findings(state, d.list())
            .iter()
            .map(|(i, _)| i.to_string())
            .collect(),
        Section::Sessions => sessions(state, d)
            .iter()
            .map(|s| s.session_id.clone())
            .collect(),
    }
}

/// What Enter does in the Usage view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enter {
    /// Open another view (a session).
    Open(View),
    /// Move the focus to a section, selecting the row with this key.
    Focus(Section, Option<String>),
}

/// Enter on a service lists its active sessions; on a finding selects its
/// service; on a session opens its timeline.
pub fn enter(state: &State, d: &DetailState) -> Option<Enter> {
    match d.focused::<Section>() {
        Section::Services => Some(Enter::Focus(Section::Sessions, None)),
        Section::Findings => {
            let list = d.list();
            let f = list.pick(
                findings(state, list).iter().map(|(_, f)| *f).collect(),
                |f| {
                    state
                        .usage()
                        .findings
                        .iter()
                        .position(|x| x == f)
                        .unwrap_or(0)
                        .to_string()
                },
            )?;
            Some(Enter::Focus(Section::Services, f.service.clone()))
        }
        Section::Sessions => d
            .list()
            .pick(sessions(state, d), |s| s.session_id.clone())
            .map(|s| Enter::Open(View::Session(s.session_id.clone()))),
    }
}

pub struct UsageView<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for UsageView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let tall = area.height >= 30;
        let bottom = if tall {
            area.height.saturating_sub(4) / 2
        } else {
            7
        };
        let [summary, services, rest] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Min(4),
            Constraint::Length(bottom),
        ])
        .areas(area);
        let wide = area.width >= 120;
        let [findings, profile, sessions] = if wide {
            Layout::horizontal([
                Constraint::Fill(3),
                Constraint::Length(34),
                Constraint::Fill(2),
            ])
            .areas(rest)
        } else {
            let [f, s] = Layout::horizontal([Constraint::Fill(3), Constraint::Fill(2)]).areas(rest);
            [f, Rect::default(), s]
        };
        self.summary(summary, buf);
        self.services(services, buf);
        self.findings(findings, buf);
        self.profile(profile, buf);
        self.sessions(sessions, buf);
    }
}

/// `+12%` / `-3 pt` against a past figure, or `-` without history.
fn change(now: f64, then: Option<f64>, points: bool) -> String {
    match then {
        None => "-".into(),
        Some(t) if points => format!("{:+.0}pt", (now - t) * 100.0),
        Some(t) if t > 0.0 => format!("{:+.0}%", (now / t - 1.0) * 100.0),
        Some(_) => "new".into(),
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or("-".into(), |s| fmt::ms(Some(s * 1000.0)))
}

fn rate(v: Option<f64>) -> String {
    v.map_or("-".into(), fmt::pct)
}

fn credits(v: Option<f64>) -> String {
    v.map_or("-".into(), |c| format!("{c:.1}"))
}

/// How `u` compares with a past window: started and completion change.
fn against(u: &ServiceUsage, past: Option<&UsageComparison>) -> String {
    match past {
        None => "-".into(),
        Some(p) => format!(
            "{} {}",
            change(u.started as f64, Some(p.started as f64), false),
            match (u.completion_rate, p.completion_rate) {
                (Some(n), Some(t)) => change(n, Some(t), true),
                _ => "-".into(),
            }
        ),
    }
}

impl UsageView<'_> {
    /// All services: totals and how they compare; the funnel.
    fn summary(&self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let title = widgets::pane_title(t, None, "Usage by service", false, vec![]);
        let right = widgets::freshness_spans(&ctx, &ctx.freshness());
        let block = widgets::frame(t, false, title, right);
        let inner = block.inner(area);
        block.render(area, buf);
        let u = ctx.state.usage();
        let all = &u.total;
        let mut l1 = vec![];
        l1.extend(widgets::stat(
            t,
            "started",
            fmt::count(all.started),
            t.accent(),
        ));
        l1.extend(widgets::stat(
            t,
            "completed",
            rate(all.completion_rate),
            Style::new(),
        ));
        l1.extend(widgets::stat(
            t,
            "median",
            secs(all.median_secs),
            Style::new(),
        ));
        l1.extend(widgets::stat(t, "p95", secs(all.p95_secs), Style::new()));
        l1.extend(widgets::stat(
            t,
            "credits/session",
            credits(all.credits_per_session),
            Style::new(),
        ));
        let history = |label: &str, p: Option<&UsageComparison>| match p {
            None => format!("{label}: no history"),
            Some(_) => format!("{label}: {}", against(all, p)),
        };
        l1.push(Span::styled(
            format!(
                "{}  {}",
                history("vs 1d", all.day_ago.as_ref()),
                history("vs 7d", all.week_ago.as_ref())
            ),
            t.muted(),
        ));
        let funnel = if u.funnel.is_empty() {
            Line::styled(
                "funnel: the business metrics hold no sign-ups / first sessions / purchases",
                t.muted(),
            )
        } else {
            let mut spans = vec![Span::styled("funnel ", t.muted())];
            for (i, s) in u.funnel.iter().enumerate() {
                if i > 0 {
                    // Not capped at 100 %: a step larger than the one
                    // before it means the metrics count different users.
                    let (r, style) = match s.rate {
                        Some(r) if r > 1.0 => (format!("{:.0}%", r * 100.0), t.warn()),
                        Some(r) => (fmt::pct(r), t.muted()),
                        None => ("-".into(), t.muted()),
                    };
                    spans.push(Span::styled(" -> ", t.muted()));
                    spans.push(Span::styled(r, style));
                    spans.push(Span::styled(" -> ", t.muted()));
                }
                spans.push(Span::raw(format!("{} {}", s.name, fmt::amount(s.count))));
            }
            Line::from(spans)
        };
        Paragraph::new(vec![Line::from(l1), funnel]).render(inner, buf);
    }

    /// The services list, one row per service.
    fn services(&self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let d = &ctx.app.nav.top().detail;
        let list = d.list_of(Section::Services);
        let rows = services(ctx.state, list);
        let wide = area.width >= 120;
        let mut cols = vec![
            Col::left("service", Constraint::Fill(1)),
            Col::right("started", Constraint::Length(7)),
            Col::right("done", Constraint::Length(6)),
        ];
        if wide {
            cols.push(Col::right("failed", Constraint::Length(6)));
            cols.push(Col::right("aband", Constraint::Length(6)));
        }
        cols.extend([
            Col::right("med", Constraint::Length(6)),
            Col::right("p95", Constraint::Length(6)),
            Col::right("cr/s", Constraint::Length(5)),
            Col::right("share", Constraint::Length(6)),
        ]);
        if wide {
            cols.push(Col::right("vs 1d", Constraint::Length(11)));
            cols.push(Col::right("vs 7d", Constraint::Length(11)));
        }
        let spark_w: u16 = if wide { 30 } else { 12 };
        cols.push(Col::left("starts/min", Constraint::Length(spark_w)));
        let table_rows = rows
            .iter()
            .map(|s| {
                let done_style = match s.completion_rate {
                    Some(r) if r < 0.5 => t.bad(),
                    Some(r) if r < 0.8 => t.warn(),
                    _ => Style::new(),
                };
                let series: Vec<Option<f64>> = s
                    .starts_per_minute
                    .iter()
                    .map(|n| Some(*n as f64))
                    .collect();
                let mut cells = vec![
                    Line::from(fmt::one_line(&s.service)),
                    Line::from(fmt::count(s.started)),
                    Line::styled(rate(s.completion_rate), done_style),
                ];
                if wide {
                    cells.push(Line::from(fmt::count(s.failed)));
                    cells.push(Line::from(fmt::count(s.abandoned)));
                }
                cells.extend([
                    Line::from(secs(s.median_secs)),
                    Line::from(secs(s.p95_secs)),
                    Line::from(credits(s.credits_per_session)),
                    Line::from(rate(s.share)),
                ]);
                if wide {
                    cells.push(Line::from(against(s, s.day_ago.as_ref())));
                    cells.push(Line::from(against(s, s.week_ago.as_ref())));
                }
                cells.push(Line::styled(
                    fmt::sparkline(&series, spark_w as usize, t.spark_levels()),
                    t.accent(),
                ));
                ListRow::new(s.service.clone(), cells)
            })
            .collect();
        let empty = if list.filter.is_empty() {
            super::muted(&ctx, "no sessions started or ended in the window")
        } else {
            super::muted(&ctx, &format!("no service matches /{}", list.filter))
        };
        let mut title = "services".to_string();
        if list.sort != 0 || list.reversed {
            title.push_str(&format!(
                " {}{}",
                t.sort_arrow(list.reversed),
                Sort::at(list.sort).label()
            ));
        }
        section(
            &ctx,
            area,
            buf,
            Section::Services,
            &title,
            empty,
            cols,
            table_rows,
        );
    }

    /// Behaviour insights, each with its numbers.
    fn findings(&self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let list = ctx.app.nav.top().detail.list_of(Section::Findings);
        let rows = findings(ctx.state, list);
        let cols = vec![
            Col::left("finding", Constraint::Length(22)),
            Col::left("numbers", Constraint::Fill(1)),
        ];
        let table_rows = rows
            .iter()
            .map(|(i, f)| {
                ListRow::new(
                    i.to_string(),
                    vec![
                        Line::styled(f.kind.word(), t.warn()),
                        Line::from(fmt::one_line(&f.text)),
                    ],
                )
            })
            .collect();
        let empty = super::muted(&ctx, "nothing unusual in the window");
        section(
            &ctx,
            area,
            buf,
            Section::Findings,
            "findings",
            empty,
            cols,
            table_rows,
        );
    }

    /// Sessions started per hour of the day: today against the last 7 days.
    fn profile(&self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let ctx = self.ctx;
        let t = ctx.theme();
        let block = section_frame(&ctx, "starts by hour (UTC)", None, false, None);
        let inner = block.inner(area);
        block.render(area, buf);
        let Some(h) = &ctx.state.usage().hours else {
            let msg = "no history: the rollups do not reach back 7 days";
            return widgets::message(inner, buf, super::muted(&ctx, msg));
        };
        let today: Vec<Option<f64>> = h
            .today
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u32 <= h.current_hour).then_some(*n as f64))
            .collect();
        let week: Vec<Option<f64>> = h.week_avg.iter().map(|v| Some(*v)).collect();
        let lines = vec![
            Line::from(vec![
                Span::styled("today ", t.muted()),
                Span::styled(fmt::sparkline(&today, 24, t.spark_levels()), t.accent()),
            ]),
            Line::from(vec![
                Span::styled("7-day ", t.muted()),
                Span::raw(fmt::sparkline(&week, 24, t.spark_levels())),
            ]),
            Line::styled("      0     6     12    18", t.muted()),
        ];
        Paragraph::new(lines).render(inner, buf);
    }

    /// Active sessions of the selected service.
    fn sessions(&self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let d = &ctx.app.nav.top().detail;
        let rows = sessions(ctx.state, d);
        let service = selected_service(ctx.state, d);
        let cols = vec![
            Col::left("session", Constraint::Fill(1)),
            Col::right("age", Constraint::Length(4)),
            Col::right("credits", Constraint::Length(7)),
        ];
        let table_rows = rows
            .iter()
            .map(|s| {
                ListRow::new(
                    s.session_id.clone(),
                    vec![
                        Line::from(fmt::one_line(&s.session_id)),
                        Line::from(fmt::age(ctx.now, s.started_at)),
                        Line::from(fmt::count(s.credits_used.max(0) as u64)),
                    ],
                )
            })
            .collect();
        let title = match &service {
            Some(s) => format!("active: {}", fmt::one_line(s)),
            None => "active sessions".into(),
        };
        let empty = super::muted(&ctx, "none active (of the newest listed)");
        section(
            &ctx,
            area,
            buf,
            Section::Sessions,
            &title,
            empty,
            cols,
            table_rows,
        );
    }
}
