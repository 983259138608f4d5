//! One failed call in full, opened with Enter on a recent-error row of the
//! integration or endpoint view: when, what was called, status, latency,
//! the user (or session), and the whole error text, with secrets masked.
//! The view holds a copy of the call taken when it was opened, so it stays
//! readable after newer errors push it out of the recent list. Scrolls
//! with j/k.

use chrono::{DateTime, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::super::nav::FailedCall;
use super::super::widgets;
use super::super::{Ctx, fmt};
use crate::model::tables::{API_CALLS, INTEGRATION_METRICS};
use crate::redact::mask_text;

pub struct CallDetail<'a> {
    pub ctx: Ctx<'a>,
    pub call: &'a FailedCall,
}

/// The page title and breadcrumb: `Error #1234`.
pub fn title(call: &FailedCall) -> String {
    format!("Error #{}", call.id())
}

/// What was called: the endpoint, or the integration and its operation.
fn subject(call: &FailedCall) -> String {
    match call {
        FailedCall::Api(c) => format!("{} {}", c.method, c.endpoint),
        FailedCall::Integration(c) => match &c.operation {
            Some(op) => format!("{} {op}", c.integration),
            None => c.integration.clone(),
        },
    }
}

/// The lines of the page (before wrapping).
pub fn lines<'a>(ctx: &Ctx, call: &FailedCall) -> Vec<Line<'a>> {
    let t = ctx.theme();
    let local = ctx.app.settings.local_time;
    let (at, status, took, error): (DateTime<Utc>, Option<i32>, Option<i32>, Option<&str>) =
        match call {
            FailedCall::Api(c) => (c.at, c.status_code, c.response_ms, c.error.as_deref()),
            FailedCall::Integration(c) => (c.at, c.status_code, c.duration_ms, c.error.as_deref()),
        };
    let mut out = vec![
        Line::styled(fmt::one_line(&masked(&subject(call))), t.title(false)),
        Line::default(),
    ];
    out.push(Line::from(widgets::stat(
        t,
        "time",
        format!(
            "{} ({} ago)",
            fmt::date_time(at, local),
            fmt::age(ctx.now, at)
        ),
        Style::new(),
    )));
    let status_style = match status {
        None | Some(500..) => t.bad(),
        Some(400..=499) => t.warn(),
        Some(_) => Style::new(),
    };
    let mut facts = widgets::stat(t, "status", widgets::status_code(status), status_style);
    facts.extend(widgets::stat(
        t,
        "took",
        fmt::ms(took.map(f64::from)),
        Style::new(),
    ));
    facts.extend(match call {
        FailedCall::Api(c) => widgets::stat(
            t,
            "user",
            c.user_id.map_or("-".into(), |u| u.to_string()),
            Style::new(),
        ),
        FailedCall::Integration(c) => widgets::stat(
            t,
            "session",
            c.session_id
                .as_deref()
                .map_or("-".into(), |s| fmt::one_line(&masked(s))),
            Style::new(),
        ),
    });
    out.push(Line::from(facts));
    let table = match call {
        FailedCall::Api(_) => API_CALLS,
        FailedCall::Integration(_) => INTEGRATION_METRICS,
    };
    out.push(Line::from(vec![
        Span::styled("row ", t.muted()),
        Span::raw(format!("#{} of {table}", call.id())),
    ]));
    out.push(Line::default());
    out.push(Line::styled("error (secrets masked)", t.heading()));
    match error.filter(|e| !e.trim().is_empty()) {
        Some(e) => out.extend(super::indented(&masked(e))),
        None => out.push(Line::styled("(no error text)", t.muted())),
    }
    out
}

/// Free text with its secrets hidden by [`mask_text`] (URL passwords,
/// `Bearer`/`Basic` credentials, secret `key: value` and `key=value`, JSON
/// documents through `mask_json`); a JSON document is then pretty-printed
/// so it reads as a page.
pub fn masked(text: &str) -> String {
    let m = mask_text(text);
    let trimmed = m.trim();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed)
    {
        return serde_json::to_string_pretty(&v).unwrap_or_default();
    }
    m.into_owned()
}

impl Widget for CallDetail<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        super::page(
            &ctx,
            &title(self.call),
            Ok(lines(&ctx, self.call)),
            area,
            buf,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_error_text_are_masked() {
        let text = "upstream failed: postgres://u:pw-secret@h/db \
                    Authorization: Bearer tok-secret api_key=k-secret\n  \
                    retry with password: hunter2 (Basic dXNlcjpwYXNz)";
        let m = masked(text);
        for s in [
            "pw-secret",
            "tok-secret",
            "k-secret",
            "hunter2",
            "dXNlcjpwYXNz",
        ] {
            assert!(!m.contains(s), "{s} in {m}");
        }
        assert!(
            m.contains("upstream failed:") && m.contains("retry with"),
            "{m}"
        );
        let json = r#"{"detail": "boom", "headers": {"password": "pw-json"}, "token": "t-json"}"#;
        let m = masked(json);
        assert!(
            m.contains("boom") && !m.contains("pw-json") && !m.contains("t-json"),
            "{m}"
        );
        assert_eq!(masked("KeyError: 'user'"), "KeyError: 'user'");
    }
}
