//! `[[notify]]` (file only): the notification receivers, checked into
//! [`Receiver`]s. A receiver's `url` is treated as a secret: errors about it
//! never repeat it.

use std::time::Duration;

use toml::Value;

use super::check;
use super::error::ConfigError;
use super::file::FileLayer;
use crate::notify::{Kind, Receiver};

/// The keys of one `[[notify]]` entry.
pub const KEYS: &[&str] = &[
    "name",
    "kind",
    "url",
    "queue",
    "timeout",
    "give_up_after",
    "resend",
];

/// The receivers the file lists (none without a file or `[[notify]]`).
pub(crate) fn from_file(file: Option<&FileLayer>) -> Result<Vec<Receiver>, ConfigError> {
    let Some(file) = file else {
        return Ok(Vec::new());
    };
    let Some(v) = file.get("notify") else {
        return Ok(Vec::new());
    };
    let Some(entries) = v.as_array() else {
        return Err(ConfigError::invalid(
            "notify",
            file.origin(),
            format!(
                "invalid type: {}, expected [[notify]] entries",
                v.type_str()
            ),
        ));
    };
    let mut out: Vec<Receiver> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let key = |k: &str| format!("notify[{}].{k}", i + 1);
        let bad = |k: &str, m: String| ConfigError::invalid(&key(k), file.origin(), m);
        let Some(t) = e.as_table() else {
            return Err(bad("", "expected a table".into()));
        };
        if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(bad(
                k,
                format!("unknown key (known keys: {})", KEYS.join(", ")),
            ));
        }
        let text = |k: &str| -> Result<Option<String>, ConfigError> {
            match t.get(k) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(v) => Err(bad(
                    k,
                    format!("invalid type: {}, expected a string", v.type_str()),
                )),
            }
        };
        let kind_word = text("kind")?.ok_or_else(|| {
            bad(
                "kind",
                format!("missing (one of {})", Kind::WORDS.join(", ")),
            )
        })?;
        let kind = Kind::parse(&kind_word).ok_or_else(|| {
            bad(
                "kind",
                format!("\"{kind_word}\" is not one of {}", Kind::WORDS.join(", ")),
            )
        })?;
        let url = text("url")?.ok_or_else(|| bad("url", "missing".into()))?;
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            // Never quoted: the URL may be the receiver's secret.
            _ => return Err(bad("url", "not an http:// or https:// URL".into())),
        }
        let name = text("name")?.unwrap_or_else(|| format!("{}-{}", kind.word(), i + 1));
        if out.iter().any(|r| r.name == name) {
            return Err(bad("name", format!("\"{name}\" names two receivers")));
        }
        let mut r = Receiver::new(name, kind, url);
        let dur = |k: &str, min: Duration, max: Duration, d: Duration| match text(k)? {
            None => Ok(d),
            Some(s) => check::duration(min, max)(&s).map_err(|m| bad(k, m)),
        };
        r.timeout = dur(
            "timeout",
            Duration::from_millis(100),
            Duration::from_secs(120),
            r.timeout,
        )?;
        r.give_up_after = dur(
            "give_up_after",
            Duration::from_secs(1),
            Duration::from_secs(7 * 86_400),
            r.give_up_after,
        )?;
        r.resend = dur(
            "resend",
            Duration::from_secs(1),
            Duration::from_secs(3600),
            r.resend,
        )?;
        match t.get("queue") {
            None => {}
            Some(Value::Integer(n)) if (1..=100_000).contains(n) => r.queue = *n as usize,
            Some(v) => {
                return Err(bad(
                    "queue",
                    format!("`{v}` is not a whole number from 1 to 100000"),
                ));
            }
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<Vec<Receiver>, ConfigError> {
        let f = FileLayer::parse(Path::new("/c.toml"), text)?;
        from_file(Some(&f))
    }

    #[test]
    fn entries_with_defaults_and_options() {
        let r = parse(
            "[[notify]]\nkind = \"slack\"\nurl = \"https://hooks.example/T/B/SECRET\"\n\n\
             [[notify]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://127.0.0.1:9093\"\n\
             resend = \"30s\"\nqueue = 10\n",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, "slack-1");
        assert_eq!(r[0].kind, Kind::Slack);
        assert_eq!(r[1].name, "am");
        assert_eq!(r[1].resend, Duration::from_secs(30));
        assert_eq!(r[1].queue, 10);
    }

    #[test]
    fn one_line_per_problem_naming_the_entry_and_key_never_the_url() {
        let e = parse("[[notify]]\nkind = \"pager\"\nurl = \"http://h\"\n").unwrap_err();
        assert!(e.to_string().contains("notify[1].kind"), "{e}");
        let e = parse("[[notify]]\nkind = \"webhook\"\nurl = \"ftp://h/SECRET\"\n").unwrap_err();
        assert!(e.to_string().contains("notify[1].url"), "{e}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        let e =
            parse("[[notify]]\nkind = \"webhook\"\nurl = \"http://h\"\nretries = 3\n").unwrap_err();
        assert!(e.to_string().contains("notify[1].retries"), "{e}");
        let e = parse("notify = 3\n").unwrap_err();
        assert!(e.to_string().contains("[[notify]]"), "{e}");
    }
}
