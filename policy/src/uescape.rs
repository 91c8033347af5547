//! PostgreSQL's Unicode escapes: `U&"\0073sn"` is the identifier `ssn`, `U&'\00e9'` the string
//! `é`, and `UESCAPE '!'` after either picks another escape character. The server decodes
//! them before anything else reads the name, so sluice must too: a mask or a rule keyed on
//! `ssn` must hold for `U&"\0073sn"`.

/// The text of a `U&` literal's body (quotes already un-doubled), with `\XXXX`, `\+XXXXXX` and
/// `\\` decoded (`escape` in place of the backslash). `None` when an escape is malformed,
/// names no character, or leaves half of a surrogate pair: the server refuses those too.
///
/// ```
/// # use policy::decode_unicode_escapes as d;
/// assert_eq!(d(r"\0073sn", '\\').as_deref(), Some("ssn"));
/// assert_eq!(d(r"d!0061t!+000061", '!').as_deref(), Some("data"));
/// assert_eq!(d(r"\D83D\DE00", '\\').as_deref(), Some("😀"));
/// assert_eq!(d(r"\\x", '\\').as_deref(), Some(r"\x"));
/// assert_eq!(d(r"\00", '\\'), None);
/// ```
pub fn decode_unicode_escapes(body: &str, escape: char) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let mut high: Option<u32> = None;
    while let Some(c) = chars.next() {
        if c != escape {
            if high.is_some() {
                return None;
            }
            out.push(c);
            continue;
        }
        let width = match chars.peek() {
            Some(&n) if n == escape => {
                chars.next();
                if high.is_some() {
                    return None;
                }
                out.push(escape);
                continue;
            }
            Some('+') => {
                chars.next();
                6
            }
            _ => 4,
        };
        let hex: String = (0..width).filter_map(|_| chars.next()).collect();
        if hex.len() != width || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
            return None;
        }
        let code = u32::from_str_radix(&hex, 16).ok()?;
        match (high.take(), code) {
            (None, 0xD800..=0xDBFF) => high = Some(code),
            (Some(h), 0xDC00..=0xDFFF) => {
                let joined = 0x10000 + ((h - 0xD800) << 10) + (code - 0xDC00);
                out.push(char::from_u32(joined)?);
            }
            (Some(_), _) | (None, 0xDC00..=0xDFFF) | (None, 0) => return None,
            (None, code) => out.push(char::from_u32(code)?),
        }
    }
    high.is_none().then_some(out)
}

/// A `UESCAPE 'c'` clause at `from` (after whitespace): the escape character and where the
/// clause ends. Comments between are not followed: such a text keeps its `U&` spelling.
pub(crate) fn uescape_clause(sql: &str, from: usize) -> Option<(char, usize)> {
    let rest = sql.get(from..)?;
    let trimmed = rest.trim_start();
    let word = trimmed.get(..7)?;
    if !word.eq_ignore_ascii_case("uescape") {
        return None;
    }
    let after = trimmed[7..].trim_start();
    let mut chars = after.chars();
    let (Some('\''), Some(c), Some('\'')) = (chars.next(), chars.next(), chars.next()) else {
        return None;
    };
    let end = sql.len() - chars.as_str().len();
    Some((c, end))
}
