//! One `[[notify]]` entry: where notifications go and how patiently.

use std::fmt;
use std::time::Duration;

/// What a receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Alertmanager's webhook v4 body, POSTed to `url`.
    Webhook,
    /// Alertmanager's API: POST `url` + `/api/v2/alerts`, re-sent while firing.
    Alertmanager,
    /// A Slack-compatible incoming webhook (Mattermost, Discord's `/slack`).
    Slack,
}

impl Kind {
    pub const WORDS: &[&str] = &["webhook", "alertmanager", "slack"];

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "webhook" => Some(Kind::Webhook),
            "alertmanager" => Some(Kind::Alertmanager),
            "slack" => Some(Kind::Slack),
            _ => None,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Alertmanager => "alertmanager",
            Kind::Slack => "slack",
        }
    }
}

/// A receiver. Its URL may carry a secret (a Slack webhook's path is one):
/// it is never logged nor shown, only the receiver's name is.
#[derive(Clone, PartialEq)]
pub struct Receiver {
    /// How logs, `/metrics` and errors name it.
    pub name: String,
    pub kind: Kind,
    pub url: String,
    /// Notifications queued while it is unreachable; the oldest is dropped
    /// (and counted) beyond this.
    pub queue: usize,
    /// One delivery attempt's limit.
    pub timeout: Duration,
    /// A notification still undelivered after this long is dropped (counted).
    pub give_up_after: Duration,
    /// Alertmanager only: firing alerts are re-sent this often.
    pub resend: Duration,
}

impl Receiver {
    pub const DEFAULT_QUEUE: usize = 1000;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(6 * 3600);
    pub const DEFAULT_RESEND: Duration = Duration::from_secs(60);

    pub fn new(name: impl Into<String>, kind: Kind, url: impl Into<String>) -> Self {
        Receiver {
            name: name.into(),
            kind,
            url: url.into(),
            queue: Self::DEFAULT_QUEUE,
            timeout: Self::DEFAULT_TIMEOUT,
            give_up_after: Self::DEFAULT_GIVE_UP_AFTER,
            resend: Self::DEFAULT_RESEND,
        }
    }
}

impl Receiver {
    /// Scheme, host and port of the URL: all of it that may be shown (a
    /// webhook's path or query is often its secret).
    pub fn origin(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(u) => format!(
                "{}://{}{}/…",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            Err(_) => "(not a URL)".into(),
        }
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.origin())
            .field("queue", &self.queue)
            .field("timeout", &self.timeout)
            .field("give_up_after", &self.give_up_after)
            .field("resend", &self.resend)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_path_or_credentials() {
        let r = Receiver::new(
            "ops",
            Kind::Slack,
            "https://u:pw@hooks.slack.com/services/T000/B000/XXXXSECRET?token=t",
        );
        let d = format!("{r:?}");
        assert!(d.contains("https://hooks.slack.com/"), "{d}");
        for secret in ["XXXXSECRET", "pw", "token=t", "T000"] {
            assert!(!d.contains(secret), "{secret} in {d}");
        }
    }
}
