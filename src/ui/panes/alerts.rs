//! Pane 4, Alerts: the rule alerts first (firing and flapping, pending,
//! resolved recently; most severe first), each with its state, how long,
//! and why (the value against its threshold or band); then the rows of
//! `monitoring_alerts`: severity, age, acknowledged or not, and title, open
//! first. A row a hub wrote for a rule alert shown above (same fingerprint)
//! is not listed twice. `a` acknowledges the selected row. The title marks
//! a gone hub's last known states, and this dashboard's own judgement while
//! its hub is away ([`super::super::header::judge_mark`]).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::judged;
use super::super::list::{Choices, ListState};
use super::super::pane::PaneId;
use super::super::theme::Theme;
use super::super::widgets::{Col, ListBody, ListRow};
use super::super::{Ctx, fmt};
use crate::model::tables::ALERTS;
use crate::model::{AlertView, RuleAlert, RuleAlertState, Severity};
use crate::store::State;

/// The sort columns, `s` steps through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    OpenFirst,
    Newest,
    Severity,
    Title,
}

impl Choices for Sort {
    const ALL: &'static [Self] = &[Self::OpenFirst, Self::Newest, Self::Severity, Self::Title];
    fn label(self) -> &'static str {
        match self {
            Self::OpenFirst => "open first",
            Self::Newest => "newest",
            Self::Severity => "severity",
            Self::Title => "title",
        }
    }
}

/// One row of the pane: a rule alert or a row of `monitoring_alerts`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'s> {
    Rule(&'s RuleAlert),
    Row(&'s AlertView),
}

impl Item<'_> {
    /// The row key (rule alerts by fingerprint, rows by id).
    pub fn key(&self) -> String {
        match self {
            Item::Rule(r) => rule_key(r),
            Item::Row(a) => key(a),
        }
    }
    fn severity(&self) -> Severity {
        match self {
            Item::Rule(r) => r.severity,
            Item::Row(a) => a.severity,
        }
    }
    fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Item::Rule(r) => r.since.or(r.resolved_at),
            Item::Row(a) => Some(a.created_at),
        }
    }
    fn title(&self) -> String {
        match self {
            Item::Rule(r) => rule_title(r),
            Item::Row(a) => a.title.clone(),
        }
    }
}

/// The row key of a rule alert.
pub fn rule_key(r: &RuleAlert) -> String {
    format!("rule:{}", r.fingerprint)
}

/// A rule alert's title: its summary, else its rule and subject.
pub fn rule_title(r: &RuleAlert) -> String {
    if !r.summary.trim().is_empty() {
        return r.summary.clone();
    }
    match r.subject() {
        s if s.is_empty() => r.rule.clone(),
        s => format!("{} {s}", r.rule),
    }
}

/// A rule alert's title with its value against its bound, unless the
/// title already says it (a summary built from `{why}` on a rule whose
/// comparison is that `why`): `GET /x is slow: p95 23.8s (23.8s > 20.0s)`.
pub fn rule_line(r: &RuleAlert, dash: &str) -> String {
    let title = fmt::one_line(&rule_title(r));
    let comparison = judged::comparison(r, dash);
    if title.contains(&comparison) {
        title
    } else {
        format!("{title} ({comparison})")
    }
}

/// The fingerprint a hub wrote into a row's context, if any.
fn row_fingerprint(a: &AlertView) -> Option<&str> {
    a.context.as_ref()?.get("fingerprint")?.as_str()
}

/// Rule alerts, then rows, passing the filter, in the chosen order.
pub fn items<'s>(state: &'s State, list: &ListState) -> Vec<Item<'s>> {
    let rules: Vec<&RuleAlert> = state
        .rule_alerts()
        .iter()
        .filter(|r| {
            list.matches(&format!(
                "{} {} {} {} {}",
                rule_title(r),
                r.rule,
                r.severity.word(),
                r.state.word(),
                r.subject()
            ))
        })
        .collect();
    let shown = |a: &AlertView| {
        row_fingerprint(a).is_none_or(|fp| {
            !state
                .rule_alerts()
                .iter()
                .any(|r| r.fingerprint == fp && (a.is_open() || r.state != RuleAlertState::Pending))
        })
    };
    let mut out: Vec<Item> = rules.into_iter().map(Item::Rule).collect();
    out.extend(
        rows(state, list)
            .into_iter()
            .filter(|a| shown(a))
            .map(Item::Row),
    );
    match Sort::at(list.sort) {
        Sort::OpenFirst => {} // rule alerts as judged, then the source's order
        Sort::Newest => out.sort_by_key(|i| std::cmp::Reverse(i.time())),
        Sort::Severity => out.sort_by(|a, b| {
            a.severity()
                .cmp(&b.severity())
                .then(b.time().cmp(&a.time()))
        }),
        Sort::Title => out.sort_by_key(|i| i.title()),
    }
    if list.reversed {
        out.reverse();
    }
    out
}

/// The rows of `monitoring_alerts` passing the filter, in the chosen order.
pub fn rows<'s>(state: &'s State, list: &ListState) -> Vec<&'s AlertView> {
    let mut v: Vec<&AlertView> = state
        .alerts()
        .iter()
        .filter(|a| {
            list.matches(&format!(
                "{} {} {} {}",
                a.title,
                a.severity.word(),
                a.integration.as_deref().unwrap_or(""),
                a.alert_type.as_deref().unwrap_or("")
            ))
        })
        .collect();
    match Sort::at(list.sort) {
        Sort::OpenFirst => {} // the source's order: open, most severe, newest
        Sort::Newest => v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id))),
        Sort::Severity => v.sort_by(|a, b| {
            a.severity
                .cmp(&b.severity)
                .then(b.created_at.cmp(&a.created_at))
        }),
        Sort::Title => v.sort_by(|a, b| a.title.cmp(&b.title)),
    }
    v
}

/// A four-letter severity tag: `CRIT`, `HIGH`, `WARN`, `INFO`.
pub fn severity_tag(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRIT",
        Severity::High => "HIGH",
        Severity::Warning => "WARN",
        Severity::Info => "INFO",
    }
}

pub fn severity_span(t: &Theme, s: Severity) -> Span<'static> {
    Span::styled(severity_tag(s), t.severity(s))
}

/// The row key of an alert.
pub fn key(a: &AlertView) -> String {
    a.id.to_string()
}

/// The columns of an alert row (here and in the integration view); `ack`
/// adds the acknowledged column.
pub fn columns(ack: bool) -> Vec<Col> {
    let mut cols = vec![
        Col::left("sev", Constraint::Length(4)),
        Col::right("age", Constraint::Length(4)),
    ];
    if ack {
        cols.push(Col::left("ack", Constraint::Length(3)));
    }
    cols.push(Col::left("title", Constraint::Fill(1)));
    cols
}

/// A rule alert's row: severity, since when (or resolved when), state,
/// and title with the value against its bound; muted once resolved.
pub fn rule_row<'a>(ctx: &Ctx, r: &RuleAlert) -> ListRow<'a> {
    let t = ctx.theme();
    let age = r
        .since
        .or(r.resolved_at)
        .map(|at| fmt::age(ctx.now, at))
        .unwrap_or_default();
    let title = rule_line(r, t.en_dash());
    let style = if r.state == RuleAlertState::Resolved {
        t.muted()
    } else {
        Style::new()
    };
    ListRow::new(
        rule_key(r),
        vec![
            Line::from(severity_span(t, r.severity)),
            Line::from(age),
            Line::from(Span::styled(
                judged::state_tag(r.state),
                judged::state_style(t, r.state),
            )),
            Line::from(title),
        ],
    )
    .style(style)
}

/// The columns when rule alerts are listed: the third holds a rule alert's
/// state or a row's ack / res.
pub fn rule_columns() -> Vec<Col> {
    vec![
        Col::left("sev", Constraint::Length(4)),
        Col::right("age", Constraint::Length(4)),
        Col::left("st", Constraint::Length(4)),
        Col::left("title", Constraint::Fill(1)),
    ]
}

/// An alert row: severity, age, (ack or res), title; muted once closed
/// (acknowledged or resolved).
pub fn row<'a>(ctx: &Ctx, a: &AlertView, ack: bool) -> ListRow<'a> {
    let t = ctx.theme();
    let mut cells = vec![
        Line::from(severity_span(t, a.severity)),
        Line::from(fmt::age(ctx.now, a.created_at)),
    ];
    if ack {
        cells.push(Line::from(if a.acknowledged {
            "ack"
        } else if a.resolved_at.is_some() {
            "res"
        } else {
            ""
        }));
    }
    cells.push(Line::from(fmt::one_line(&a.title)));
    let style = if !a.is_open() {
        t.muted()
    } else {
        Style::new()
    };
    ListRow::new(key(a), cells).style(style)
}

pub struct AlertsPane<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for AlertsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let t = ctx.theme();
        let list = ctx.app.list(PaneId::Alerts);
        let rows = items(ctx.state, list);
        let firing = ctx.state.firing_rule_alerts();
        let open: u64 = ctx.state.open_alerts_by_severity().values().sum();
        let crit = ctx
            .state
            .open_alerts_by_severity()
            .get("critical")
            .copied()
            .unwrap_or(0);
        let mut extra = vec![];
        if firing > 0 {
            extra.push(Span::styled(format!("{firing} firing, "), t.bad()));
        }
        extra.push(Span::styled(
            format!("{open} open"),
            if open > 0 { t.warn() } else { t.muted() },
        ));
        if crit > 0 {
            extra.push(Span::styled(format!(", {crit} critical"), t.bad()));
        }
        if let Some(mark) = ctx
            .state
            .rule_judge()
            .and_then(|j| super::super::header::judge_mark(&ctx, j))
        {
            extra.push(Span::styled(format!(" {mark}"), t.warn()));
        }
        let block = super::frame(&ctx, PaneId::Alerts, extra, area.width);
        let empty = if ctx.state.alerts().is_empty() && ctx.state.rule_alerts().is_empty() {
            Some("no alerts — all quiet".to_string())
        } else if rows.is_empty() {
            Some(format!("no alert matches /{}", list.filter))
        } else {
            None
        };
        let ph = super::placeholder(&ctx, &[ALERTS], empty);
        let cols = if rows.iter().any(|i| matches!(i, Item::Rule(_))) {
            rule_columns()
        } else {
            columns(true)
        };
        super::render_list(&ctx, PaneId::Alerts, block, area, buf, ph, |_| ListBody {
            cols,
            rows: rows
                .iter()
                .map(|i| match i {
                    Item::Rule(r) => rule_row(&ctx, r),
                    Item::Row(a) => row(&ctx, a, true),
                })
                .collect(),
            list,
            focused: ctx.app.focus == PaneId::Alerts,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RuleBound;

    fn alert(metric: &str, value: f64, summary: &str, why: &str) -> RuleAlert {
        RuleAlert {
            fingerprint: "f".into(),
            rule: "IntegrationDown".into(),
            labels: Default::default(),
            state: RuleAlertState::Firing,
            severity: Severity::Critical,
            metric: metric.into(),
            value: Some(value),
            bound: RuleBound::Threshold {
                op: ">=".into(),
                threshold: 2.0,
                recover: 1.0,
            },
            since: None,
            resolved_at: None,
            summary: summary.into(),
            why: why.into(),
            baseline: None,
        }
    }

    /// The README's pane read "openai is down: 36 consecutive failures (36
    /// consecutive failures)": a summary built from `{why}` on a status
    /// rule, whose comparison is that `why`. Said once.
    #[test]
    fn a_rule_row_says_its_comparison_once() {
        let why = "36 consecutive failures";
        let a = alert("status", 2.0, &format!("openai is down: {why}"), why);
        assert_eq!(
            rule_line(&a, "–"),
            "openai is down: 36 consecutive failures"
        );
        let mut a = alert("p95", 23_813.0, "GET /x is slow: p95 23.8s", "p95 23813 ms");
        a.bound = RuleBound::Threshold {
            op: ">".into(),
            threshold: 20_000.0,
            recover: 15_000.0,
        };
        assert_eq!(
            rule_line(&a, "–"),
            "GET /x is slow: p95 23.8s (23.8s > 20.0s)"
        );
    }
}
