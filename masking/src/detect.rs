//! Content detectors: find credit-card numbers, e-mail addresses, US SSNs, IBANs, JWTs,
//! bearer tokens, user patterns and dictionary words inside values.

use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::Regex;

use crate::function::MaskFunction;
use crate::redact::REDACTED;
use crate::types::{ColumnType, TypeKind, Wire};

/// A built-in kind of sensitive content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DetectorKind {
    /// 13 to 19 digits, optionally separated by single spaces or dashes, Luhn-checked.
    CreditCard,
    /// An e-mail address (`local@domain.tld`).
    Email,
    /// A US social security number `ddd-dd-dddd`, without the never-issued area numbers
    /// 000, 666 and 9xx, group 00 or serial 0000.
    UsSsn,
    /// An IBAN: country code, two check digits and up to 30 letters or digits, compact or
    /// in space-separated groups of four, mod-97-checked.
    Iban,
    /// A JSON Web Token: three base64url segments, the first starting with `eyJ`.
    Jwt,
    /// `Bearer <token>` (case-insensitive, a token of at least 8 characters); the hit
    /// covers the token only, so `Bearer ` stays readable.
    BearerToken,
}

impl DetectorKind {
    /// Every built-in kind, in the order hits are preferred at the same position.
    pub const ALL: [DetectorKind; 6] = [
        DetectorKind::Jwt,
        DetectorKind::BearerToken,
        DetectorKind::Email,
        DetectorKind::UsSsn,
        DetectorKind::Iban,
        DetectorKind::CreditCard,
    ];

    /// Parses a kind name as written in `[[detectors]] kinds`.
    ///
    /// ```
    /// use masking::DetectorKind;
    /// assert_eq!(DetectorKind::parse("us_ssn"), Ok(DetectorKind::UsSsn));
    /// assert!(DetectorKind::parse("passport").is_err());
    /// ```
    pub fn parse(name: &str) -> Result<DetectorKind, String> {
        DetectorKind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            format!(
                "unknown detector kind {name:?} (expected one of: credit_card, email, us_ssn, iban, jwt, bearer_token)"
            )
        })
    }

    /// The kind's configuration name (`"credit_card"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::CreditCard => "credit_card",
            DetectorKind::Email => "email",
            DetectorKind::UsSsn => "us_ssn",
            DetectorKind::Iban => "iban",
            DetectorKind::Jwt => "jwt",
            DetectorKind::BearerToken => "bearer_token",
        }
    }

    fn pattern(self) -> &'static str {
        match self {
            DetectorKind::CreditCard => r"(?-u:\b[0-9](?:[ -]?[0-9]){12,18}\b)",
            DetectorKind::Email => {
                r"(?-u:\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)"
            }
            DetectorKind::UsSsn => concat!(
                r"(?-u:\b(?:00[1-9]|0[1-9][0-9]|[1-578][0-9]{2}|6[0-57-9][0-9]|66[0-57-9])",
                r"-(?:0[1-9]|[1-9][0-9])-(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})\b)"
            ),
            DetectorKind::Iban => {
                r"(?-u:\b[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b)"
            }
            DetectorKind::Jwt => r"(?-u:\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)",
            DetectorKind::BearerToken => r"(?-u:\b(?i:bearer)[ \t]+[A-Za-z0-9._~+/-]{8,}=*)",
        }
    }
}

/// What found a [`Hit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HitKind {
    /// A built-in detector.
    Builtin(DetectorKind),
    /// The user pattern at this index of the `patterns` given to [`DetectorSet::new`].
    Pattern(usize),
    /// A dictionary word.
    Dictionary,
}

impl HitKind {
    /// A label for counting: the built-in detector's name, `pattern` or `dictionary`.
    pub fn name(&self) -> &'static str {
        match self {
            HitKind::Builtin(k) => k.name(),
            HitKind::Pattern(_) => "pattern",
            HitKind::Dictionary => "dictionary",
        }
    }
}

/// One piece of sensitive content inside a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hit {
    /// What found it.
    pub kind: HitKind,
    /// Its byte range in the value.
    pub range: Range<usize>,
}

/// One alternative of the combined regex, with the anchored form used to tell which
/// alternative a match came from.
#[derive(Clone, Debug)]
struct Alt {
    kind: HitKind,
    anchored: Regex,
}

/// A compiled set of detectors: one combined regex (built-in kinds and user patterns as
/// alternatives) and one Aho-Corasick automaton for the dictionary, so a value is scanned
/// once per engine whatever the number of kinds.
///
/// ```
/// use masking::{DetectorKind, DetectorSet, HitKind};
/// let set = DetectorSet::new(&[DetectorKind::CreditCard, DetectorKind::Email], &[], &[]).unwrap();
/// let hits = set.find(b"card 4111 1111 1111 1111, mail bob@example.org");
/// assert_eq!(hits.len(), 2);
/// assert_eq!(hits[0].kind, HitKind::Builtin(DetectorKind::CreditCard));
/// assert_eq!(hits[0].range, 5..24);
/// assert!(!set.contains(b"order 4111 1111 1111 1112")); // fails the Luhn check
/// ```
#[derive(Clone, Debug)]
pub struct DetectorSet {
    combined: Option<Regex>,
    alts: Vec<Alt>,
    dict: Option<AhoCorasick>,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Whether `range` is a whole word of `text` (edges that are themselves not word
/// characters need no boundary).
fn whole_word(text: &[u8], r: &Range<usize>) -> bool {
    let left = r.start == 0 || !is_word(text[r.start - 1]) || !is_word(text[r.start]);
    let right = r.end == text.len() || !is_word(text[r.end]) || !is_word(text[r.end - 1]);
    left && right
}

/// The Luhn check over the digits of `s`.
fn luhn(s: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut n = 0;
    for &b in s.iter().rev().filter(|b| b.is_ascii_digit()) {
        let mut d = u32::from(b - b'0');
        if n % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        n += 1;
    }
    (13..=19).contains(&n) && sum % 10 == 0
}

/// The mod-97 check of an IBAN candidate (spaces ignored).
fn iban_ok(s: &[u8]) -> bool {
    let len = s.iter().filter(|&&b| b != b' ').count();
    if !(15..=34).contains(&len) {
        return false;
    }
    let compact = s.iter().copied().filter(|&b| b != b' ');
    let mut r = 0u32;
    for b in compact.clone().skip(4).chain(compact.take(4)) {
        r = match b {
            b'0'..=b'9' => (r * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (r * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return false,
        };
    }
    r == 1
}

/// The longest prefix of a (possibly space-grouped) IBAN candidate that checks out: a
/// following word in capitals may have been taken for a last group.
fn iban_prefix(s: &[u8]) -> Option<usize> {
    let mut end = s.len();
    loop {
        if iban_ok(&s[..end]) {
            return Some(end);
        }
        end = s[..end].iter().rposition(|&b| b == b' ')?;
    }
}

impl DetectorSet {
    /// Builds a set from built-in kinds, user regex patterns (Rust `regex` syntax, matched
    /// on bytes) and dictionary words (matched ASCII-case-insensitively, as whole words).
    /// Errors name the bad pattern or word.
    pub fn new(
        kinds: &[DetectorKind],
        patterns: &[String],
        dictionary: &[String],
    ) -> Result<DetectorSet, String> {
        let mut alts: Vec<(HitKind, String)> = Vec::new();
        let builtin = |k: DetectorKind| (HitKind::Builtin(k), k.pattern().to_string());
        // Unvalidated kinds first, then user patterns, then the checksummed kinds last, so a
        // candidate failing its checksum never hides another kind at the same position.
        for k in [
            DetectorKind::Jwt,
            DetectorKind::BearerToken,
            DetectorKind::Email,
            DetectorKind::UsSsn,
        ] {
            if kinds.contains(&k) {
                alts.push(builtin(k));
            }
        }
        for (i, p) in patterns.iter().enumerate() {
            let re = Regex::new(p).map_err(|e| format!("bad detector pattern #{i} {p:?}: {e}"))?;
            if re.is_match(b"") {
                return Err(format!(
                    "detector pattern #{i} {p:?} matches the empty string"
                ));
            }
            alts.push((HitKind::Pattern(i), p.clone()));
        }
        for k in [DetectorKind::Iban, DetectorKind::CreditCard] {
            if kinds.contains(&k) {
                alts.push(builtin(k));
            }
        }
        let combined = if alts.is_empty() {
            None
        } else {
            let all: Vec<String> = alts.iter().map(|(_, p)| format!("(?:{p})")).collect();
            Some(
                Regex::new(&all.join("|"))
                    .map_err(|e| format!("detector patterns do not combine: {e}"))?,
            )
        };
        let alts = alts
            .into_iter()
            .map(|(kind, p)| {
                let anchored = Regex::new(&format!(r"\A(?:{p})\z"))
                    .map_err(|e| format!("bad detector pattern {p:?}: {e}"))?;
                Ok(Alt { kind, anchored })
            })
            .collect::<Result<Vec<_>, String>>()?;
        if let Some(i) = dictionary.iter().position(|w| w.is_empty()) {
            return Err(format!("dictionary word #{i} is empty"));
        }
        let dict = if dictionary.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(dictionary)
                .map_err(|e| format!("dictionary: {e}"))?;
            Some(ac)
        };
        Ok(DetectorSet {
            combined,
            alts,
            dict,
        })
    }

    /// Which alternative a combined match came from, after its validator; `None` if it
    /// fails validation.
    fn classify(&self, text: &[u8], r: Range<usize>) -> Option<Hit> {
        let span = &text[r.clone()];
        for alt in &self.alts {
            if !alt.anchored.is_match(span) {
                continue;
            }
            let range = match alt.kind {
                HitKind::Builtin(DetectorKind::CreditCard) if !luhn(span) => continue,
                HitKind::Builtin(DetectorKind::Iban) => match iban_prefix(span) {
                    Some(len) => r.start..r.start + len,
                    None => continue,
                },
                HitKind::Builtin(DetectorKind::BearerToken) => {
                    let skip = 6 + span[6..]
                        .iter()
                        .take_while(|&&b| b == b' ' || b == b'\t')
                        .count();
                    r.start + skip..r.end
                }
                _ => r.clone(),
            };
            return Some(Hit {
                kind: alt.kind,
                range,
            });
        }
        None
    }

    /// Streams the regex hits in order to `f` until it returns false.
    fn scan_regex(&self, text: &[u8], f: &mut dyn FnMut(Hit) -> bool) {
        let Some(re) = &self.combined else {
            return;
        };
        let mut at = 0;
        while at < text.len() {
            let Some(m) = re.find_at(text, at) else {
                return;
            };
            if m.is_empty() {
                at = m.end() + 1;
                continue;
            }
            match self.classify(text, m.range()) {
                Some(hit) => {
                    at = hit.range.end.max(m.start() + 1);
                    if !f(hit) {
                        return;
                    }
                }
                None => at = m.start() + 1,
            }
        }
    }

    /// Every hit in `text`, as byte ranges: sorted, non-overlapping (at one position the
    /// longest wins). Allocates only when there is a hit.
    pub fn find(&self, text: &[u8]) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.scan_regex(text, &mut |h| {
            hits.push(h);
            true
        });
        if let Some(ac) = &self.dict {
            let before = hits.len();
            for m in ac.find_overlapping_iter(text) {
                if whole_word(text, &m.range()) {
                    hits.push(Hit {
                        kind: HitKind::Dictionary,
                        range: m.range(),
                    });
                }
            }
            if hits.len() > before {
                hits.sort_by_key(|h| (h.range.start, std::cmp::Reverse(h.range.end)));
                let mut end = 0;
                hits.retain(|h| {
                    let keep = h.range.start >= end;
                    if keep {
                        end = h.range.end;
                    }
                    keep
                });
            }
        }
        hits
    }

    /// Whether `text` contains any hit. Does not allocate: the hot path for values with
    /// no sensitive content.
    pub fn contains(&self, text: &[u8]) -> bool {
        let mut found = false;
        self.scan_regex(text, &mut |_| {
            found = true;
            false
        });
        found
            || self.dict.as_ref().is_some_and(|ac| {
                ac.find_overlapping_iter(text)
                    .any(|m| whole_word(text, &m.range()))
            })
    }

    /// Rewrites `text` into `out` (cleared first) with every hit replaced by `function`
    /// applied to the hit as a text value (`redact` gives `[REDACTED]`, `partial` stars,
    /// and so on; a function whose result is NULL, like `null`, gives `[REDACTED]`).
    /// Returns false, leaving `out` alone, when there is no hit: forward the original.
    ///
    /// ```
    /// use masking::{DetectorKind, DetectorSet, MaskFunction, MaskSpec};
    /// let set = DetectorSet::new(&[DetectorKind::UsSsn], &[], &[]).unwrap();
    /// let redact = MaskFunction::compile(&MaskSpec { function: "redact".into(), ..Default::default() }).unwrap();
    /// let mut out = Vec::new();
    /// assert!(set.mask_hits(b"ssn 123-45-6789 on file", &redact, &mut out));
    /// assert_eq!(out, b"ssn [REDACTED] on file");
    /// assert!(!set.mask_hits(b"nothing here", &redact, &mut out));
    /// ```
    pub fn mask_hits(&self, text: &[u8], function: &MaskFunction, out: &mut Vec<u8>) -> bool {
        self.mask_hits_seen(text, function, out, |_| {})
    }

    /// Like [`DetectorSet::mask_hits`], telling `seen` about every hit (for counting).
    ///
    /// ```
    /// use masking::{DetectorKind, DetectorSet, MaskFunction, MaskSpec};
    /// let set = DetectorSet::new(&[DetectorKind::Email], &[], &[]).unwrap();
    /// let redact = MaskFunction::compile(&MaskSpec { function: "redact".into(), ..Default::default() }).unwrap();
    /// let mut kinds = Vec::new();
    /// let mut out = Vec::new();
    /// set.mask_hits_seen(b"mail a@b.example", &redact, &mut out, |h| kinds.push(h.kind.name()));
    /// assert_eq!(kinds, ["email"]);
    /// ```
    pub fn mask_hits_seen(
        &self,
        text: &[u8],
        function: &MaskFunction,
        out: &mut Vec<u8>,
        mut seen: impl FnMut(&Hit),
    ) -> bool {
        let hits = self.find(text);
        if hits.is_empty() {
            return false;
        }
        hits.iter().for_each(&mut seen);
        const TEXT: ColumnType = ColumnType::new(TypeKind::Text, Wire::PgText);
        out.clear();
        let mut last = 0;
        for h in hits {
            out.extend_from_slice(&text[last..h.range.start]);
            if !function.apply_append(TEXT, &text[h.range.clone()], out) {
                out.extend_from_slice(REDACTED);
            }
            last = h.range.end;
        }
        out.extend_from_slice(&text[last..]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111 1111 1111 1112"));
        assert!(!luhn(b"0000"));
        assert!(iban_ok(b"GB82 WEST 1234 5698 7654 32"));
        assert!(iban_ok(b"DE89370400440532013000"));
        assert!(!iban_ok(b"GB83 WEST 1234 5698 7654 32"));
        assert_eq!(iban_prefix(b"GB82 WEST 1234 5698 7654 CASH"), None);
        assert_eq!(iban_prefix(b"DE89 3704 0044 0532 0130 00 ABCD"), Some(27));
    }

    #[test]
    fn words() {
        assert!(whole_word(b"a secret b", &(2..8)));
        assert!(!whole_word(b"topsecret", &(3..9)));
        assert!(whole_word(b"(secret)", &(1..7)));
    }
}
