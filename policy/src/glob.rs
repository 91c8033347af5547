//! Case-insensitive `*` / `?` globs for table, user, group and target names.
//!
//! Hand-written rather than globset: names are short, there are no path separators to respect,
//! and the only syntax needed is `*` (any run of characters, including `.`) and `?` (exactly
//! one character).

/// A compiled glob pattern.
///
/// ```
/// use policy::Glob;
/// let g = Glob::new("billing.*").unwrap();
/// assert!(g.matches("Billing.Invoices"));
/// assert!(!g.matches("billing"));
/// assert!(Glob::new("t?").unwrap().matches("t1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    /// Lowercased pattern characters, so matching allocates nothing per candidate.
    chars: Vec<char>,
}

impl Glob {
    /// Compiles `pattern`. Fails on an empty pattern, which would only match empty names and is
    /// far more likely a config mistake.
    ///
    /// ```
    /// assert!(policy::Glob::new("").is_err());
    /// ```
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("empty pattern".to_string());
        }
        if pattern.chars().any(char::is_control) {
            return Err(format!("pattern {pattern:?} contains a control character"));
        }
        Ok(Glob {
            pattern: pattern.to_string(),
            chars: pattern.chars().flat_map(char::to_lowercase).collect(),
        })
    }

    /// The pattern as written.
    ///
    /// ```
    /// assert_eq!(policy::Glob::new("a*").unwrap().as_str(), "a*");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// True when the pattern is a lone `*`, which matches every name.
    ///
    /// ```
    /// assert!(policy::Glob::new("*").unwrap().matches_everything());
    /// ```
    pub fn matches_everything(&self) -> bool {
        self.chars.iter().all(|c| *c == '*')
    }

    /// Matches `candidate`, ignoring case.
    ///
    /// ```
    /// assert!(policy::Glob::new("*_log").unwrap().matches("AUDIT_LOG"));
    /// ```
    pub fn matches(&self, candidate: &str) -> bool {
        let text: Vec<char> = candidate.chars().flat_map(char::to_lowercase).collect();
        wildcard_match(&self.chars, &text)
    }
}

impl std::fmt::Display for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// Iterative wildcard matching with single-star backtracking: linear in practice and never
/// exponential, whatever the pattern.
fn wildcard_match(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).expect("valid").matches(t)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", ""));
        assert!(m("*", "anything.at.all"));
        assert!(m("billing.*", "billing.invoices"));
        assert!(m("BILLING.*", "billing.Invoices"));
        assert!(!m("billing.*", "billingx.invoices"));
        assert!(m("*.invoices", "billing.invoices"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("t?", "t1"));
        assert!(!m("t?", "t"));
        assert!(!m("t?", "t12"));
        assert!(m("*a*a*a*a*a*b", &format!("{}b", "a".repeat(200))));
        assert!(!m("*a*a*a*a*a*b", &"a".repeat(200)));
        assert!(m("ünï*", "ÜNÏCODE"));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(Glob::new("").is_err());
        assert!(Glob::new("a\nb").is_err());
    }
}
