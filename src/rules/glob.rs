//! Glob matching on names for a rule's scope: `*` any run of characters,
//! `?` one character, everything else literal.

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative match with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_marks() {
        assert!(matches("*", "openai"));
        assert!(matches("*", ""));
        assert!(matches("open*", "openai"));
        assert!(matches("/api/*/guidance", "/api/spiritual/guidance"));
        assert!(matches("POST /api/*", "POST /api/x"));
        assert!(matches("?penai", "openai"));
        assert!(matches("*a*i*", "openai"));
        assert!(!matches("open", "openai"));
        assert!(!matches("*x", "openai"));
        assert!(!matches("?", ""));
    }
}
