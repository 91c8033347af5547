//! Text-shaped functions: `partial`, `email`, `digits` and `regex_replace`.
//!
//! Values need not be valid UTF-8: a byte that does not start a valid UTF-8 sequence
//! counts as one character, so a multibyte character is never split.

use crate::encode;
use crate::hash::{self, DigitStream, HmacSha256};
use crate::types::Wire;

/// Length in bytes of the character starting `s` (1 for an invalid byte). `s` is not empty.
fn char_len(s: &[u8]) -> usize {
    let n = match s[0] {
        0x00..=0x7F => return 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return 1,
    };
    match s.get(..n) {
        Some(c) if std::str::from_utf8(c).is_ok() => n,
        _ => 1,
    }
}

/// Iterates the characters of `s` as byte slices.
pub(crate) fn chars(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (c, r) = rest.split_at(char_len(rest));
        rest = r;
        Some(c)
    })
}

/// The number of characters in `s`.
pub(crate) fn char_count(s: &[u8]) -> u64 {
    chars(s).count() as u64
}

/// `partial`: keeps the first `keep_first` and last `keep_last` characters, writes `fill`
/// for each other one. A value with no more characters than are kept is masked whole.
pub(crate) fn partial(v: &[u8], keep_first: u32, keep_last: u32, fill: &[u8], out: &mut Vec<u8>) {
    let total = char_count(v);
    let (kf, kl) = (u64::from(keep_first), u64::from(keep_last));
    let (kf, kl) = if total <= kf + kl { (0, 0) } else { (kf, kl) };
    out.reserve(v.len());
    for (i, c) in chars(v).enumerate() {
        let i = i as u64;
        if i < kf || i >= total - kl {
            out.extend_from_slice(c);
        } else {
            out.extend_from_slice(fill);
        }
    }
}

/// `email`: `alice@example.com` → `a***@example.com`. A one-character local part is not
/// revealed (`***@example.com`); a value that is not an address becomes `***` (its length
/// would tell something about it).
pub(crate) fn email(v: &[u8], out: &mut Vec<u8>) {
    email_within(v, u64::MAX, out);
}

/// `email` in at most `limit` characters where it can: fewer stars (at least one) before
/// the domain, and the first character kept only when there is room for it and a star.
pub(crate) fn email_within(v: &[u8], limit: u64, out: &mut Vec<u8>) {
    let at = v.iter().rposition(|&b| b == b'@');
    let valid = at.filter(|&a| a > 0 && a + 1 < v.len() && !v.iter().any(u8::is_ascii_whitespace));
    match valid {
        Some(a) => {
            let local = &v[..a];
            let domain = char_count(&v[a..]);
            let room = limit.saturating_sub(domain);
            let mut cs = chars(local);
            let first = match (cs.next(), cs.next()) {
                (Some(first), Some(_)) if room >= 2 => {
                    out.extend_from_slice(first);
                    1
                }
                _ => 0,
            };
            let stars = room.saturating_sub(first).clamp(1, 3);
            (0..stars).for_each(|_| out.push(b'*'));
            out.extend_from_slice(&v[a..]);
        }
        None => out.extend_from_slice(&b"***"[..limit.clamp(1, 3) as usize]),
    }
}

/// `digits` on text: every ASCII digit replaced (keyed: HMAC-derived; unkeyed: `0`),
/// everything else kept.
pub(crate) fn digits_text(v: &[u8], mac: Option<&HmacSha256>, out: &mut Vec<u8>) {
    let mut stream = DigitStream::new(mac, v);
    out.reserve(v.len());
    for &b in v {
        out.push(if b.is_ascii_digit() {
            stream.next_digit()
        } else {
            b
        });
    }
}

/// `digits` on integers: same sign, same number of decimal digits (the first one nonzero
/// when there are several), within the column's range.
pub(crate) fn digits_int(
    bytes: u8,
    wire: Wire,
    v: &[u8],
    mac: Option<&HmacSha256>,
    out: &mut Vec<u8>,
) -> bool {
    let Some(n) = encode::decode_int(bytes, wire, v) else {
        return false;
    };
    let mag = n.unsigned_abs();
    let ndigits = mag.checked_ilog10().unwrap_or(0) + 1;
    let (min, signed_max) = encode::signed_range(bytes);
    let limit = if n < 0 {
        min.unsigned_abs()
    } else if n > signed_max {
        encode::unsigned_max(bytes) as u128
    } else {
        signed_max as u128
    };
    let lo: u128 = if ndigits == 1 {
        u128::from(n < 0)
    } else {
        10u128.pow(ndigits - 1)
    };
    let hi = (10u128.pow(ndigits) - 1).min(limit);
    if hi < lo {
        return false;
    }
    let mut buf = [0u8; 48];
    let mut stream = DigitStream::new(mac, hash::decimal(n, &mut buf));
    let r = lo + u128::from(stream.next_u64()) % (hi - lo + 1);
    let Ok(r) = i128::try_from(r) else {
        return false;
    };
    encode::encode_int(bytes, wire, if n < 0 { -r } else { r }, out)
}

/// `regex_replace`: every match of `re` replaced by `replacement` (`$1`, `${name}`
/// expand to groups). A value with no match is copied.
pub(crate) fn regex_replace(
    re: &regex::bytes::Regex,
    replacement: &[u8],
    v: &[u8],
    out: &mut Vec<u8>,
) {
    let mut last = 0;
    for caps in re.captures_iter(v) {
        let Some(m) = caps.get(0) else {
            continue;
        };
        out.extend_from_slice(&v[last..m.start()]);
        caps.expand(replacement, out);
        last = m.end();
    }
    out.extend_from_slice(&v[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str, kf: u32, kl: u32, fill: &str) -> String {
        let mut out = Vec::new();
        partial(v.as_bytes(), kf, kl, fill.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn partial_is_char_aware() {
        assert_eq!(p("123-45-6789", 0, 4, "*"), "*******6789");
        assert_eq!(p("héllo wörld", 1, 2, "•"), "h••••••••ld");
        assert_eq!(p("日本語テキスト", 1, 1, "*"), "日*****ト");
        assert_eq!(p("abcd", 2, 2, "*"), "****");
        assert_eq!(p("", 1, 1, "*"), "");
        // An invalid byte counts as one character.
        let mut out = Vec::new();
        partial(b"a\xffb\xe6\x97", 1, 1, b"#", &mut out);
        assert_eq!(out, b"a###\x97");
    }

    #[test]
    fn emails() {
        let e = |v: &str| {
            let mut out = Vec::new();
            email(v.as_bytes(), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(e("alice@example.com"), "a***@example.com");
        assert_eq!(e("a@example.com"), "***@example.com");
        assert_eq!(e("émile@exemple.fr"), "é***@exemple.fr");
        assert_eq!(e("not an email"), "***");
        assert_eq!(e("@x"), "***");
        let mut out = Vec::new();
        email_within(b"no address here", 2, &mut out);
        assert_eq!(out, b"**");
    }

    #[test]
    fn digits() {
        let mut out = Vec::new();
        digits_text(b"+1 (555) 010-9999", None, &mut out);
        assert_eq!(out, b"+0 (000) 000-0000");
        out.clear();
        assert!(digits_int(4, Wire::PgText, b"-4242", None, &mut out));
        assert_eq!(out, b"-1000");
        out.clear();
        assert!(digits_int(2, Wire::PgText, b"32767", None, &mut out));
        assert_eq!(out, b"10000");
    }
}
