//! Keeping secrets out of everything jfmon shows or logs: passwords in
//! connection URLs ([`redact_url`], [`db_display`], [`db_host_port`]), known
//! secret strings in free text ([`redact_text`]), secret-looking fields in
//! JSON payloads ([`mask_json`], [`is_secret_key`]) and secrets of any shape
//! in free text ([`mask_text`], module `text`).
//!
//! Every function here errs on the side of hiding too much: when a string
//! cannot be parsed, anything that might be a password is replaced by `***`.

mod text;

use serde_json::Value;
use url::Url;

use text::{LABEL_KEYS, VALUE_KEYS};
pub use text::{mask_text, without_quoted};

/// The replacement for every hidden value.
pub const MASK: &str = "***";

/// Fragments that mark a key as secret, matched against the key squashed to
/// lower-case letters and digits (`X-Api-Key`, `api_key`, `apiKey` and
/// `APIKEY` are all `apikey`).
const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "cookie",
    "sessionkey",
    "signingkey",
];

/// Whole words of a key that mark it as secret (`auth`, `X-Auth`,
/// `basicAuth`, `db_pwd`), without catching `author` or `oauth_provider`.
const SECRET_KEY_WORDS: &[&str] = &["auth", "pwd", "pw", "pass", "jwt", "bearer"];

/// A key as lower-case letters and digits only.
fn squash(k: &str) -> String {
    k.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The words of a key, lower case: split at anything not a letter or digit
/// and at camelCase boundaries (`XApiKey` → `x`, `api`, `key`).
fn key_words(k: &str) -> Vec<String> {
    let chars: Vec<char> = k.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
        if boundary && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Is a field or parameter with this name a secret? Any spelling (case,
/// hyphens, underscores, camelCase) of a key containing `password`,
/// `passwd`, `passphrase`, `secret`, `token`, `authorization`, `api key`,
/// `access key`, `private key`, `credential`, `cookie`, `session key` or
/// `signing key`, or with a word `auth`, `pwd`, `pw`, `pass`, `jwt` or `bearer`.
pub fn is_secret_key(k: &str) -> bool {
    let squashed = squash(k);
    SECRET_KEY_PARTS.iter().any(|p| squashed.contains(p))
        || key_words(k)
            .iter()
            .any(|w| SECRET_KEY_WORDS.contains(&w.as_str()))
}

/// A key that holds a token *count* (`total_tokens`, `promptTokens`,
/// `token_count`), not a token. Numbers under such keys are kept by
/// [`mask_json`]: they are usage figures an AI platform monitor must show.
fn is_token_count_key(k: &str) -> bool {
    let k = squash(k);
    k.contains("tokens") || k.contains("tokencount") || k.contains("tokenusage")
}

/// Replace the password in a URL with `***`.
///
/// * `postgres://user:secret@host/db` → `postgres://user:***@host/db`
/// * secret query parameters (`?password=...`, `?sslpassword=...`, any key
///   [`is_secret_key`] accepts) → `password=***`
/// * strings that do not parse as a URL: anything between the first `:` of
///   the authority and the last `@` is hidden, and `key=value` pairs with a
///   secret key are masked.
pub fn redact_url(url: &str) -> String {
    match parse_trusted(url) {
        Some(parsed) => redact_parsed(parsed),
        None => redact_unparsed(url),
    }
}

/// Parse `url`, but refuse results where the parser may have mistaken part of
/// a password for something else: an `@` that did not end up delimiting the
/// user info (e.g. `postgres://bob:12/ab@host/db` parses with host `bob` and
/// port `12`).
fn parse_trusted(url: &str) -> Option<Url> {
    let u = Url::parse(url).ok()?;
    if u.cannot_be_a_base() {
        return None;
    }
    let has_userinfo = !u.username().is_empty() || u.password().is_some();
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    if !has_userinfo && after_scheme.contains('@') {
        return None;
    }
    Some(u)
}

fn redact_parsed(mut u: Url) -> String {
    if u.password().is_some() && u.set_password(Some(MASK)).is_err() {
        // Cannot happen for URLs with a host, but never fall back to the original.
        return redact_unparsed(u.as_str());
    }
    if u.query_pairs().any(|(k, _)| is_secret_key(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_key(&k) {
                    MASK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // The serializer percent-encodes `*`; show it plainly.
    u.as_str().replace("%2A%2A%2A", MASK)
}

/// Heuristic redaction for strings the URL parser rejects (for example a
/// password containing an unencoded `/` or `#`).
fn redact_unparsed(s: &str) -> String {
    let start = s.find("://").map_or(0, |i| i + 3);
    let mut out = s.to_string();
    if let Some(at_rel) = s[start..].rfind('@') {
        let at = start + at_rel;
        if let Some(colon_rel) = s[start..at].find(':') {
            let colon = start + colon_rel;
            out = format!("{}:{MASK}{}", &s[..colon], &s[at..]);
        }
    }
    mask_key_values(&out)
}

/// Mask `key=value` pairs (query strings, libpq keyword strings) whose key is
/// a secret. The value runs to the next `&`, `;`, whitespace or end, or to the
/// closing quote when it is quoted.
fn mask_key_values(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            i += 1;
            continue;
        }
        // Key: identifier characters immediately before '='.
        let mut k = i;
        while k > 0
            && (bytes[k - 1].is_ascii_alphanumeric()
                || bytes[k - 1] == b'_'
                || bytes[k - 1] == b'-')
        {
            k -= 1;
        }
        if k == i || !is_secret_key(&s[k..i]) {
            i += 1;
            continue;
        }
        let vstart = i + 1;
        let vend = if vstart < bytes.len() && (bytes[vstart] == b'\'' || bytes[vstart] == b'"') {
            let q = bytes[vstart];
            let mut j = vstart + 1;
            while j < bytes.len() && bytes[j] != q {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(bytes.len())
        } else {
            let mut j = vstart;
            while j < bytes.len() && !matches!(bytes[j], b'&' | b';' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        };
        out.push_str(&s[copied..vstart]);
        out.push_str(MASK);
        copied = vend;
        i = vend.max(i + 1);
    }
    out.push_str(&s[copied.min(s.len())..]);
    out
}

/// Replace every occurrence of each non-empty secret with `***`. Longer
/// secrets are replaced first so one secret containing another is fully hidden.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s) {
            out = out.replace(s, MASK);
        }
    }
    out
}

/// Does this object name a secret in a label member, as name/value lists do
/// (`{"name": "Authorization", "value": "Bearer …"}`, `{"Key": "api_key",
/// "Value": …}`)? Then its `value` member is a secret.
fn names_a_secret(map: &serde_json::Map<String, Value>) -> bool {
    map.iter().any(|(k, v)| {
        LABEL_KEYS.iter().any(|l| k.eq_ignore_ascii_case(l))
            && v.as_str().is_some_and(is_secret_key)
    })
}

/// Deep copy of `v` with the value of every object member whose key
/// [`is_secret_key`] replaced by `"***"`, and of the `value` of a name/value
/// pair whose name is a secret ([`names_a_secret`]), at any depth (arrays included), and
/// every other string passed through [`mask_text`] (URL passwords, bearer
/// tokens, `key=value` secrets, JSON documents stored as strings).
/// Numbers under token-count keys (`total_tokens`, `token_count`) are kept.
pub fn mask_json(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let labelled = names_a_secret(map);
            Value::Object(
                map.iter()
                    .map(|(k, val)| {
                        let secret = (is_secret_key(k)
                            && !(val.is_number() && is_token_count_key(k)))
                            || (labelled && VALUE_KEYS.iter().any(|v| k.eq_ignore_ascii_case(v)));
                        let masked = if secret {
                            Value::String(MASK.to_string())
                        } else {
                            mask_json(val)
                        };
                        (k.clone(), masked)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        Value::String(s) => match mask_text(s) {
            std::borrow::Cow::Borrowed(_) => v.clone(),
            std::borrow::Cow::Owned(m) => Value::String(m),
        },
        other => other.clone(),
    }
}

/// The password in a connection URL, raw and percent-decoded, for passing to
/// [`redact_text`]. Empty when there is none or the URL does not parse.
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(u) = parse_trusted(url) {
        if let Some(p) = u.password() {
            out.push(p.to_string());
            if let Ok(decoded) = percent_decode(p) {
                out.push(decoded);
            }
        }
        for (k, v) in u.query_pairs() {
            if is_secret_key(&k) && !v.is_empty() {
                out.push(v.into_owned());
            }
        }
    } else {
        // Heuristic: the text between the authority's first ':' and last '@'.
        let start = url.find("://").map_or(0, |i| i + 3);
        if let Some(at_rel) = url[start..].rfind('@') {
            let auth = &url[start..start + at_rel];
            if let Some(c) = auth.find(':') {
                out.push(auth[c + 1..].to_string());
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn percent_decode(s: &str) -> Result<String, ()> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// `host:port` of a PostgreSQL URL (port defaults to 5432; a Unix socket
/// directory given as `?host=/path` is shown as that path). Never contains
/// the user or password.
pub fn db_host_port(url: &str) -> String {
    match parse_trusted(url) {
        Some(u) => {
            let socket_host = u
                .query_pairs()
                .find(|(k, _)| k == "host")
                .map(|(_, v)| v.into_owned());
            let host = match u.host_str() {
                Some(h) if !h.is_empty() => h.to_string(),
                _ => socket_host.unwrap_or_else(|| "localhost".to_string()),
            };
            let port = u
                .port()
                .or_else(|| {
                    u.query_pairs()
                        .find(|(k, _)| k == "port")
                        .and_then(|(_, v)| v.parse().ok())
                })
                .unwrap_or(5432);
            format!("{host}:{port}")
        }
        None => {
            // Unparseable: take what follows the last '@' up to '/', '?' or '#'.
            let start = url.find("://").map_or(0, |i| i + 3);
            let rest = &url[start..];
            let after_at = rest.rfind('@').map_or(rest, |i| &rest[i + 1..]);
            let end = after_at.find(['/', '?', '#']).unwrap_or(after_at.len());
            let hp = &after_at[..end];
            if hp.is_empty() {
                "localhost:5432".to_string()
            } else if hp.contains(':') {
                hp.to_string()
            } else {
                format!("{hp}:5432")
            }
        }
    }
}

/// The database name in a PostgreSQL URL: the path, else the user name
/// (PostgreSQL's default), else `postgres`.
pub fn db_name(url: &str) -> String {
    match parse_trusted(url) {
        Some(u) => {
            let path = u.path().trim_start_matches('/');
            if !path.is_empty() {
                percent_decode(path).unwrap_or_else(|_| path.to_string())
            } else if let Some((_, v)) = u.query_pairs().find(|(k, _)| k == "dbname") {
                v.into_owned()
            } else if !u.username().is_empty() {
                percent_decode(u.username()).unwrap_or_else(|_| u.username().to_string())
            } else {
                "postgres".to_string()
            }
        }
        None => {
            // Unparseable: the first path segment after the last '@'.
            let start = url.find("://").map_or(0, |i| i + 3);
            let rest = &url[start..];
            let after_at = rest.rfind('@').map_or(rest, |i| &rest[i + 1..]);
            after_at
                .split_once('/')
                .map(|(_, p)| p.split(['?', '#', '/']).next().unwrap_or(""))
                .filter(|p| !p.is_empty())
                .unwrap_or("postgres")
                .to_string()
        }
    }
}

/// The user name in a PostgreSQL URL, if any.
pub fn db_user(url: &str) -> Option<String> {
    let u = parse_trusted(url)?;
    let user = u.username();
    if user.is_empty() {
        u.query_pairs()
            .find(|(k, _)| k == "user")
            .map(|(_, v)| v.into_owned())
    } else {
        Some(percent_decode(user).unwrap_or_else(|_| user.to_string()))
    }
}

/// `host:port/dbname` for headers and logs; never the user or password.
pub fn db_display(url: &str) -> String {
    format!("{}/{}", db_host_port(url), db_name(url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn url_password_is_masked() {
        assert_eq!(
            redact_url("postgres://user:secret@host/db"),
            "postgres://user:***@host/db"
        );
        assert_eq!(
            redact_url("postgresql://bob:p%40ss@db.example.com:6432/app?sslmode=require"),
            "postgresql://bob:***@db.example.com:6432/app?sslmode=require"
        );
    }

    #[test]
    fn url_without_password_is_unchanged() {
        assert_eq!(
            redact_url("postgres://user@host/db"),
            "postgres://user@host/db"
        );
        assert_eq!(
            redact_url("postgres://host:5432/db"),
            "postgres://host:5432/db"
        );
        assert_eq!(
            redact_url("wss://hub.example.com/ws"),
            "wss://hub.example.com/ws"
        );
    }

    #[test]
    fn query_password_is_masked() {
        let r = redact_url("postgres://host/db?user=bob&password=hunter2&sslmode=require");
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("password=***"), "{r}");
        assert!(r.contains("sslmode=require"), "{r}");
        let r = redact_url("wss://hub/ws?token=abc123");
        assert!(!r.contains("abc123"), "{r}");
    }

    #[test]
    fn unparseable_url_is_masked_heuristically() {
        // '#' and '/' in the password make this an invalid/misparsed URL.
        for url in [
            "postgres://bob:se/cr#et@host:5432/db",
            "postgres://bob:p@ss:w0rd@[bad host/db",
            "postgres://bob:12/ab@host/db",
            "bob:hunter2@host/db",
        ] {
            let r = redact_url(url);
            for secret in ["se/cr#et", "p@ss:w0rd", "hunter2", "w0rd", "cr#et", "12/ab"] {
                assert!(!r.contains(secret), "{url} -> {r}");
            }
            assert!(r.contains("***"), "{url} -> {r}");
        }
        let r = redact_url("host=db user=bob password=hunter2 dbname=app");
        assert_eq!(r, "host=db user=bob password=*** dbname=app");
        let r = redact_url("host=db password='hunter two' dbname=app");
        assert_eq!(r, "host=db password=*** dbname=app");
    }

    #[test]
    fn text_secrets_are_replaced() {
        assert_eq!(
            redact_text("login failed for hunter2 (hunter2)", &["hunter2", ""]),
            "login failed for *** (***)"
        );
        assert_eq!(redact_text("abcdef", &["abc", "abcdef"]), "***");
        assert_eq!(redact_text("nothing here", &[]), "nothing here");
    }

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "DB_PASSWORD",
            "passwd",
            "client_secret",
            "token",
            "X-Auth-Token",
            "Authorization",
            "api_key",
            "ApiKey",
            "aws_access_key_id",
            "private_key",
            "credentials",
            "Cookie",
            "set-cookie",
            "session_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["user", "host", "status", "latency_ms", "session_id", "key"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn key_spellings_are_normalised() {
        for k in [
            "X-Api-Key",
            "x_api_key",
            "xApiKey",
            "API-KEY",
            "auth",
            "X-Auth",
            "basicAuth",
            "db_pwd",
            "client.secret",
            "Refresh-Token",
            "SESSION-KEY",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "author",
            "oauth_provider",
            "authenticated",
            "bypass",
            "compass",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
        assert!(is_token_count_key("promptTokens") && is_token_count_key("token-count"));
    }

    #[test]
    fn json_strings_are_masked_too() {
        let v = json!({
            "X-Api-Key": "sk-var-header",
            "auth": "auth-var",
            "dsn": "postgres://u:dsn-var-pw@h/db",
            "note": "Authorization: Bearer note-var",
            "raw": "{\"nested\": {\"password\": \"json-var\"}}",
        });
        let m = mask_json(&v).to_string();
        for s in [
            "sk-var-header",
            "auth-var",
            "dsn-var-pw",
            "note-var",
            "json-var",
        ] {
            assert!(!m.contains(s), "{s} in {m}");
        }
    }

    #[test]
    fn json_is_masked_deeply() {
        let v = json!({
            "user": "bob",
            "password": "hunter2",
            "headers": {"Authorization": "Bearer abc", "accept": "json"},
            "items": [{"api_key": "k1", "n": 1}, [{"refresh_token": {"x": "deep"}}]],
            "usage": {"total_tokens": 1234, "tokens": ["t1"]},
        });
        let m = mask_json(&v);
        assert_eq!(
            m,
            json!({
                "user": "bob",
                "password": "***",
                "headers": {"Authorization": "***", "accept": "json"},
                "items": [{"api_key": "***", "n": 1}, [{"refresh_token": "***"}]],
                "usage": {"total_tokens": 1234, "tokens": "***"},
            })
        );
        assert!(!m.to_string().contains("hunter2"));
        // The input is untouched.
        assert_eq!(v["password"], "hunter2");
    }

    #[test]
    fn display_forms() {
        assert_eq!(
            db_display("postgres://bob:hunter2@db.example.com:6432/app"),
            "db.example.com:6432/app"
        );
        assert_eq!(
            db_display("postgres://bob:hunter2@localhost/app"),
            "localhost:5432/app"
        );
        assert_eq!(db_display("postgres://bob@localhost"), "localhost:5432/bob");
        assert_eq!(
            db_display("postgresql:///app?host=/var/run/postgresql"),
            "/var/run/postgresql:5432/app"
        );
        let d = db_display("postgres://bob:se/cr#et@host:5432/db");
        assert!(!d.contains("cr#et") && !d.contains("se/"), "{d}");
        let d = db_display("postgres://bob:12/ab@host/db");
        assert!(!d.contains("12") && !d.contains("ab@"), "{d}");
        assert_eq!(
            db_host_port("postgres://u:p@127.0.0.1:5999/x"),
            "127.0.0.1:5999"
        );
        assert_eq!(db_user("postgres://bob:p@h/d").as_deref(), Some("bob"));
        assert_eq!(db_name("postgres://bob:p@h/no_such_db"), "no_such_db");
    }

    #[test]
    fn secrets_of_url() {
        assert_eq!(
            url_secrets("postgres://u:p%40ss@h/d"),
            vec!["p%40ss", "p@ss"]
        );
        assert!(url_secrets("postgres://u@h/d").is_empty());
        assert_eq!(url_secrets("postgres://u:se/cr#et@h/d").len(), 1);
    }
}
