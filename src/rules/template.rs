//! Rule text templates: `{name}` is replaced by the alert's label or value
//! of that name (`{integration}`, `{endpoint}`, `{value}`, `{threshold}`,
//! `{band}`, `{why}`, …); `{{` and `}}` are literal braces; an unknown name is
//! left as written so a typo shows instead of vanishing.

use std::collections::BTreeMap;

/// Expand `text` with `vars`.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{')
            && let Some(end) = tail.find('}')
        {
            let name = &tail[1..end];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&tail[..=end]),
            }
            rest = &tail[end + 1..];
            continue;
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// The names a template refers to (for `jfmon rules check`).
pub fn names(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            rest = after;
            continue;
        }
        match tail.find('}') {
            Some(end) => {
                out.push(&tail[1..end]);
                rest = &tail[end + 1..];
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_known_names_and_keeps_the_rest() {
        let vars: BTreeMap<String, String> = [("integration", "openai"), ("value", "12 %")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            expand("{integration} fails {value} {{literal}} {nope}", &vars),
            "openai fails 12 % {literal} {nope}"
        );
        assert_eq!(expand("a } b { c", &vars), "a } b { c");
        assert_eq!(names("{a} {{b}} {c}"), vec!["a", "c"]);
    }
}
