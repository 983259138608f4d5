//! Secrets in free text (error messages, alert titles, strings inside JSON
//! payloads): [`mask_text`] and the scanners it runs, each for one shape a
//! secret takes in text (URL credentials, `key: value` pairs, auth schemes,
//! vendor key tokens). Key names are judged by [`super::is_secret_key`].

use serde_json::Value;

use super::{MASK, is_secret_key, mask_json};

/// Free text (an error message, an alert title, a string in a JSON payload)
/// with the secrets it may carry replaced by `***`:
/// - a JSON document stored as text: masked as JSON ([`mask_json`]);
/// - the password of any URL (`scheme://user:PASSWORD@host`), and a user
///   name that looks like a token (`https://TOKEN@host`, see
///   [`looks_like_token`]);
/// - `Bearer TOKEN`, and `Basic CREDENTIALS` when the credentials look like
///   base64 (so "basic plan" stays as it is);
/// - `key=value`, `key: value`, `"key": "value"`, `key => value` whose key
///   [`is_secret_key`] (`Authorization: Bearer abc` → `Authorization: ***`),
///   and `"value"` after a `"name"`/`"key"` that names a secret
///   (`{"name": "Authorization", "value": "…"}`);
/// - vendor API keys anywhere (`sk-…`, `sk-proj-…`, `sk_live_…`: OpenAI's
///   "Incorrect API key provided: sk-…" echoes the key) → `sk-***`.
///
/// Borrowed when nothing was hidden. Idempotent.
pub fn mask_text(s: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    // Every secret form needs one of these; most texts have none (memchr).
    let triggers = [':', '=', '{', '[', 'b', 'B'];
    let key_token = s.contains("sk-") || s.contains("sk_");
    if !key_token && !triggers.iter().any(|&c| s.contains(c)) {
        return Cow::Borrowed(s);
    }
    let t = s.trim_start();
    if (t.starts_with('{') || t.starts_with('['))
        && let Ok(v) = serde_json::from_str::<Value>(s)
    {
        let m = mask_json(&v);
        return if m == v {
            Cow::Borrowed(s)
        } else {
            Cow::Owned(m.to_string())
        };
    }
    let mut out = Cow::Borrowed(s);
    if out.contains("://")
        && let Some(m) = mask_url_passwords(&out)
    {
        out = Cow::Owned(m);
    }
    if out.contains(['=', ':'])
        && let Some(m) = mask_text_pairs(&out)
    {
        out = Cow::Owned(m);
    }
    if (out.contains("earer")
        || out.contains("EARER")
        || out.contains("asic")
        || out.contains("ASIC"))
        && let Some(m) = mask_bearer(&out)
    {
        out = Cow::Owned(m);
    }
    if key_token && let Some(m) = mask_key_tokens(&out) {
        out = Cow::Owned(m);
    }
    out
}

/// Could this URL user name be a credential rather than an account name?
/// Tokens given as the user (`https://ghp_x1y2…@github.com/…`) are long or
/// hold digits; account names (`postgres`, `svc_user`) are short words.
/// Errs towards hiding: any name with a digit or of 12 characters or more.
fn looks_like_token(user: &str) -> bool {
    !user.is_empty()
        && user != MASK
        && (user.len() >= 12 || user.bytes().any(|c| c.is_ascii_digit()))
}

/// Vendor API keys in free text: OpenAI's `sk-…`, `sk-proj-…` (its
/// "Incorrect API key provided: sk-…" error echoes the key, partly starred),
/// Anthropic's `sk-ant-…`, Stripe's `sk_live_…`. The prefix stays, the rest
/// is hidden (`sk-***`). A word like `sk-learn` is kept: a key's body holds a
/// digit or is 20 characters or more.
fn mask_key_tokens(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while from + 3 <= b.len() {
        let Some(at) = s[from..]
            .find("sk")
            .map(|i| from + i)
            .filter(|&at| at + 3 <= b.len())
        else {
            break;
        };
        from = at + 2;
        let word_start =
            at == 0 || !(b[at - 1].is_ascii_alphanumeric() || matches!(b[at - 1], b'-' | b'_'));
        if !word_start || !matches!(b[at + 2], b'-' | b'_') {
            continue;
        }
        let body = at + 3;
        let mut e = body;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || matches!(b[e], b'-' | b'_' | b'*')) {
            e += 1;
        }
        let t = &s[body..e];
        let key = t.len() >= 20 || (t.len() >= 6 && t.bytes().any(|c| c.is_ascii_digit()));
        if key {
            out.push_str(&s[copied..body]);
            out.push_str(MASK);
            copied = e;
        }
        from = e.max(from);
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// Credentials after `Basic`: base64 (`dXNlcjpwYXNz`), at least 8
/// characters, with a digit, `+`, `/`, `=` or a capital after the first
/// letter among lower-case ones. Words ("plan", "Authentication") are not.
fn looks_base64(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 8
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        && (b
            .iter()
            .any(|c| c.is_ascii_digit() || matches!(c, b'+' | b'/' | b'='))
            || (b[1..].iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase)))
}

/// A parser's error message with every quoted piece hidden: serde_json
/// quotes the offending value (`invalid type: string "sk-…"`), which may be
/// a secret, and such messages go to logs.
pub fn without_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut inside = false;
    for c in s.chars() {
        if c == '"' {
            if inside {
                out.push_str(MASK);
            }
            inside = !inside;
            out.push(c);
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// Characters that end a token in free text.
fn ends_token(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b'<' | b'>' | b'`')
}

/// The password of every `scheme://user:password@` in `s`, and the user of
/// `scheme://TOKEN@` when it [`looks_like_token`]. A password may hold `/`,
/// `:` or `@`: everything from the first `:` after `://` to the last `@` of
/// the token is hidden.
fn mask_url_passwords(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(rel) = s[from..].find("://") {
        let start = from + rel + 3;
        let mut end = start;
        while end < b.len() && !ends_token(b[end]) {
            end += 1;
        }
        from = end.max(start);
        let Some(at) = s[start..end].rfind('@').map(|i| start + i) else {
            continue;
        };
        let Some(colon) = s[start..at].find(':').map(|i| start + i) else {
            // No password: a token may be the user name (`https://TOKEN@host`).
            let user = &s[start..at];
            if !user.contains(['/', '?', '#']) && looks_like_token(user) {
                out.push_str(&s[copied..start]);
                out.push_str(MASK);
                copied = at;
            }
            continue;
        };
        if &s[colon + 1..at] == MASK {
            continue;
        }
        out.push_str(&s[copied..=colon]);
        out.push_str(MASK);
        copied = at;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// Authentication schemes whose credentials follow as the next word.
fn is_auth_scheme(w: &str) -> bool {
    ["bearer", "basic", "token", "digest", "negotiate", "apikey"]
        .iter()
        .any(|s| w.eq_ignore_ascii_case(s))
}

/// Members that say what the next `value` member holds, in name/value lists
/// (HAR and fetch headers `{"name": "Authorization", "value": …}`,
/// Postman's `{"key": "api_key", "value": …}`).
pub(super) const LABEL_KEYS: &[&str] = &["name", "key", "header", "field", "param"];
/// Members holding the value a label names.
pub(super) const VALUE_KEYS: &[&str] = &["value", "values", "val"];

fn is_one_of(k: &str, set: &[&str]) -> bool {
    set.iter().any(|s| k.eq_ignore_ascii_case(s))
}

/// `key=value`, `key: value`, `key => value` and `"key": "value"` (also with
/// the quotes escaped, as in JSON inside JSON) whose key is a secret: the
/// value is hidden, and after an auth scheme (`Bearer`) the credential too.
/// A `value` after a label naming a secret (`name: "api_key", value: …`) is
/// hidden as well.
fn mask_text_pairs(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    // A label (`"name": "Authorization"`) named a secret: hide the next value.
    let mut labelled_secret = false;
    while i < b.len() {
        if b[i] != b'=' && b[i] != b':' {
            i += 1;
            continue;
        }
        // `://` belongs to a URL, not a pair.
        if b[i] == b':' && s[i..].starts_with("://") {
            i += 3;
            continue;
        }
        // The key: identifier characters before the separator, after any
        // closing quotes (`"password": ...`, `\"password\":...`).
        let mut k_end = i;
        while k_end > 0 && matches!(b[k_end - 1], b'"' | b'\'' | b'\\' | b' ') {
            k_end -= 1;
        }
        let mut k = k_end;
        while k > 0 && (b[k - 1].is_ascii_alphanumeric() || matches!(b[k - 1], b'_' | b'-' | b'.'))
        {
            k -= 1;
        }
        let key = &s[k..k_end];
        // Ruby's `key => value`.
        let sep_end = if s[i..].starts_with("=>") {
            i + 2
        } else {
            i + 1
        };
        if k == k_end {
            i += 1;
            continue;
        }
        let (vend, body) = pair_value(s, sep_end);
        if is_one_of(key, LABEL_KEYS) {
            labelled_secret = is_secret_key(&s[body]);
            i += 1;
            continue;
        }
        let hide = is_secret_key(key) || (labelled_secret && is_one_of(key, VALUE_KEYS));
        if !hide {
            i += 1;
            continue;
        }
        labelled_secret = false;
        if body.end > body.start && &s[body.clone()] != MASK {
            out.push_str(&s[copied..body.start]);
            out.push_str(MASK);
            copied = body.end;
        }
        i = vend.max(i + 1);
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// The value of a pair whose separator ends at `from`: where it ends, and
/// its body (inside the quotes, if quoted). After blanks, an optional
/// (escaped) quote; unquoted, it runs to a delimiter, and past an auth
/// scheme (`Bearer abc`) to the end of the credential.
fn pair_value(s: &str, from: usize) -> (usize, std::ops::Range<usize>) {
    let b = s.as_bytes();
    let mut v = from;
    while v < b.len() && (b[v] == b' ' || b[v] == b'\t') {
        v += 1;
    }
    let escaped = v + 1 < b.len() && b[v] == b'\\' && matches!(b[v + 1], b'"' | b'\'');
    let vstart = if escaped { v + 1 } else { v };
    let quoted = vstart < b.len() && matches!(b[vstart], b'"' | b'\'');
    let vend = if quoted {
        let q = b[vstart];
        let mut j = vstart + 1;
        while j < b.len() && b[j] != q {
            j += if b[j] == b'\\' && !escaped { 2 } else { 1 };
        }
        let j = if escaped && j > 0 && b[j - 1] == b'\\' {
            j - 1
        } else {
            j
        };
        j.min(b.len())
    } else {
        let word_end = |from: usize| {
            let mut j = from;
            while j < b.len()
                && !ends_token(b[j])
                && !matches!(b[j], b'&' | b';' | b',' | b'}' | b']' | b')')
            {
                j += 1;
            }
            j
        };
        let mut j = word_end(vstart);
        if is_auth_scheme(&s[vstart..j]) {
            let mut n = j;
            while n < b.len() && (b[n] == b' ' || b[n] == b'\t') {
                n += 1;
            }
            if n > j && n < b.len() {
                j = word_end(n);
            }
        }
        j
    };
    let body_start = if quoted { vstart + 1 } else { vstart };
    (vend, body_start.min(vend)..vend)
}

/// `Bearer TOKEN` and `Basic CREDENTIALS` ([`looks_base64`]) anywhere in
/// free text.
fn mask_bearer(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i + 5 <= b.len() {
        let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let scheme = [&b"bearer"[..], b"basic"]
            .into_iter()
            .find(|w| b[i..].len() >= w.len() && b[i..i + w.len()].eq_ignore_ascii_case(w));
        let basic = scheme.is_some_and(|w| w.len() == 5);
        let Some(len) = scheme.filter(|_| word_start).map(<[u8]>::len) else {
            i += 1;
            continue;
        };
        let mut t = i + len;
        while t < b.len() && (b[t] == b' ' || b[t] == b'\t' || b[t] == b'=' || b[t] == b':') {
            t += 1;
        }
        if t == i + len {
            i += len;
            continue;
        }
        let mut e = t;
        while e < b.len() && !ends_token(b[e]) && !matches!(b[e], b',' | b';' | b'}' | b']' | b')')
        {
            e += 1;
        }
        if e > t && &s[t..e] != MASK && (!basic || looks_base64(&s[t..e])) {
            out.push_str(&s[copied..t]);
            out.push_str(MASK);
            copied = e;
        }
        i = e.max(i + len);
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_inside_text_are_masked() {
        for (text, secret) in [
            ("postgres://u:dsn-var-pw@h/db", "dsn-var-pw"),
            ("see redis://:r3d1s@cache:6379/0 now", "r3d1s"),
            ("postgres://u:pa/ss@w@h/db", "pa/ss@w"),
            ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
            ("sent bearer tok123, got 401", "tok123"),
            ("retry (Basic dXNlcjpwYXNz)", "dXNlcjpwYXNz"),
            ("X-Api-Key: sk-var-header", "sk-var-header"),
            ("login?user=a&password=hunter2&x=1", "hunter2"),
            (r#"{"note": "x", "password": "in-json"}"#, "in-json"),
            (r#"payload={\"auth\":\"esc-aped\"}"#, "esc-aped"),
            (r#""apiKey": "quoted \" one""#, "quoted"),
        ] {
            let m = mask_text(text);
            assert!(!m.contains(secret), "{text} -> {m}");
            assert!(m.contains(MASK), "{text} -> {m}");
            assert_eq!(mask_text(&m), m, "idempotent: {text}");
        }
        for plain in [
            "HTTP 500: upstream timeout",
            "GET /api/v1/users?page=2",
            "https://api.example.com:8443/v1/chat",
            "rate=5.0 latency: 20ms",
        ] {
            assert!(
                matches!(mask_text(plain), std::borrow::Cow::Borrowed(_)),
                "{plain}"
            );
        }
        assert_eq!(mask_text("Authorization: Bearer abc"), "Authorization: ***");
        assert_eq!(mask_text("postgres://u:pw@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn quoted_pieces_of_parser_errors_are_hidden() {
        assert_eq!(
            without_quoted(r#"invalid type: string "sk-live-x", expected u64 at line 1"#),
            r#"invalid type: string "***", expected u64 at line 1"#
        );
    }

    /// The shapes found in review after the first masking pass.
    #[test]
    fn review_holes_are_masked() {
        for (text, secret) in [
            // OpenAI's error text echoes the key.
            (
                "Incorrect API key provided: sk-abc123def456. You can find your API key at https://platform.openai.com/account/api-keys.",
                "abc123def456",
            ),
            (
                "key sk-proj-Zq9xY8wV7uT6sR5qP4oN3 rejected",
                "Zq9xY8wV7uT6sR5",
            ),
            (
                "provided: sk-proj-abcd************************wxyz.",
                "wxyz",
            ),
            (
                "stripe said (sk_live_4eC39HqLyjWDarjtT1zdp7dc)",
                "4eC39HqLyjWDarjtT1",
            ),
            // Name/value lists in text that is not a whole JSON document.
            (
                r#"headers=[{"name":"Authorization","value":"hv-tok-987654"}] (truncated"#,
                "hv-tok-987654",
            ),
            (
                r#"h: {key: "api_key", value: "pm-key-112358"}, {"#,
                "pm-key-112358",
            ),
            // A token as the URL's user.
            (
                "clone https://ghp_Zq12ab34cd56ef78@github.com/org/repo.git failed",
                "ghp_Zq12ab34cd56ef78",
            ),
            ("GET https://t0k3n@api.example.com/v1", "t0k3n"),
            // Ruby / YAML-ish.
            (r#"params: {password => "rb-pw-314159"}"#, "rb-pw-314159"),
            (r#"{:password=>'rb-pw-2718'}"#, "rb-pw-2718"),
            ("db:\n  password: yml-pw-1618\n  host: x", "yml-pw-1618"),
            ("password: plain-pw-42", "plain-pw-42"),
        ] {
            let m = mask_text(text);
            assert!(!m.contains(secret), "{text} -> {m}");
            assert!(m.contains(MASK), "{text} -> {m}");
            assert_eq!(mask_text(&m), m, "idempotent: {text}");
        }
        assert_eq!(
            mask_text("Incorrect API key provided: sk-abc123def456."),
            "Incorrect API key provided: sk-***."
        );
        assert_eq!(
            mask_text("https://ghp_Zq12ab34cd56ef78@github.com/o/r"),
            "https://***@github.com/o/r"
        );
    }

    /// Words that only resemble a secret's neighbourhood stay as they are.
    #[test]
    fn plain_words_are_not_masked() {
        for plain in [
            "Upgrade to the basic plan",
            "basic: plan limits reached",
            "Basic authentication failed for user bob",
            "BASIC tier, 20 requests",
            "installed sk-learn and task-force-7",
            "connect to postgres://postgres@127.0.0.1:5432/test",
            "repo https://svc_user@git.example.com/x",
        ] {
            assert_eq!(mask_text(plain), plain, "{plain}");
        }
        assert_eq!(
            mask_text("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: ***"
        );
        assert_eq!(
            mask_text("retry with basic dXNlcjpwYXNz"),
            "retry with basic ***"
        );
    }
}
