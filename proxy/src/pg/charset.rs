//! The character boundaries of the encodings PostgreSQL writes COPY rows in. Most encodings
//! never use a byte below 0x80 inside a multi-byte character, so a tab, a backslash or a quote
//! byte is always that character. The client-only encodings (SJIS, SHIFT_JIS_2004, BIG5, GBK,
//! UHC, JOHAB, GB18030) do: their second bytes range over 0x40–0xFE, backslash (0x5C) and `|`
//! included. PostgreSQL's COPY skips such characters whole (`CopyAttributeOutText` steps by
//! `pg_encoding_mblen`); a reader that does not would take the second byte of a character for
//! an escape or a delimiter and shift every later field into another column's place.

/// How the bytes of one encoding group into characters, as far as splitting COPY rows goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// No byte below 0x80 is ever part of a multi-byte character (UTF-8, LATIN*, EUC_*, …).
    AsciiSafe,
    /// SJIS and SHIFT_JIS_2004: a byte ≥ 0x80 starts a two-byte character, except the
    /// half-width katakana 0xA1–0xDF.
    Sjis,
    /// BIG5, GBK, UHC: every byte ≥ 0x80 starts a two-byte character.
    DoubleByte,
    /// JOHAB, as PostgreSQL's `pg_johab_mblen` (that of EUC): 0x8F starts three bytes.
    Johab,
    /// GB18030: a byte ≥ 0x80 starts two bytes, or four when a digit follows it.
    Gb18030,
}

impl Charset {
    /// The charset of an encoding name as PostgreSQL accepts it (any case, punctuation
    /// ignored: `Shift_JIS`, `win932`, `UTF-8`). `None` for a name sluice does not know:
    /// the rows cannot be split with confidence.
    pub fn from_name(name: &str) -> Option<Charset> {
        // As PostgreSQL's clean_encoding_name: alphanumerics only, lowercased.
        let n: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match n.as_str() {
            "sjis" | "shiftjis" | "mskanji" | "win932" | "windows932" | "shiftjis2004" => {
                Some(Charset::Sjis)
            }
            "big5" | "win950" | "windows950" | "gbk" | "win936" | "windows936" | "uhc"
            | "win949" | "windows949" => Some(Charset::DoubleByte),
            "johab" => Some(Charset::Johab),
            "gb18030" => Some(Charset::Gb18030),
            n if ascii_safe(n) => Some(Charset::AsciiSafe),
            _ => None,
        }
    }

    /// How many bytes the character starting at `bytes[i]` takes: `width`, with the common
    /// case (an ASCII byte, an ASCII-safe encoding) first.
    #[inline]
    pub fn width_at(self, bytes: &[u8], i: usize) -> usize {
        match bytes.get(i) {
            Some(&b) if b >= 0x80 && self != Charset::AsciiSafe => self.width(&bytes[i..]),
            _ => 1,
        }
    }

    /// How many bytes the character starting at `rest[0]` takes (at least 1, at most what is
    /// left).
    pub fn width(self, rest: &[u8]) -> usize {
        let Some(&lead) = rest.first() else {
            return 1;
        };
        let w = match self {
            _ if lead < 0x80 => 1,
            Charset::AsciiSafe => 1,
            Charset::Sjis if (0xA1..=0xDF).contains(&lead) => 1,
            Charset::Sjis | Charset::DoubleByte => 2,
            Charset::Johab if lead == 0x8F => 3,
            Charset::Johab => 2,
            Charset::Gb18030 if rest.get(1).is_some_and(u8::is_ascii_digit) => 4,
            Charset::Gb18030 => 2,
        };
        w.clamp(1, rest.len().max(1))
    }
}

/// The server encodings (and their aliases) in which every byte below 0x80 is ASCII.
fn ascii_safe(n: &str) -> bool {
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let windows = |d: &str| digits(d) && (d.starts_with("125") || d == "866" || d == "874");
    matches!(
        n,
        "utf8"
            | "unicode"
            | "sqlascii"
            | "muleinternal"
            | "euccn"
            | "eucjp"
            | "euckr"
            | "euctw"
            | "eucjis2004"
            | "koi8"
            | "koi8r"
            | "koi8u"
            | "alt"
            | "abc"
            | "tcvn"
            | "tcvn5712"
            | "vscii"
            | "win"
    ) || n.strip_prefix("latin").is_some_and(digits)
        || n.strip_prefix("iso8859").is_some_and(digits)
        || n.strip_prefix("windows").is_some_and(windows)
        || n.strip_prefix("win").is_some_and(windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_as_postgresql_reads_them() {
        for (name, charset) in [
            ("SJIS", Some(Charset::Sjis)),
            ("Shift_JIS", Some(Charset::Sjis)),
            ("SHIFT_JIS_2004", Some(Charset::Sjis)),
            ("WIN932", Some(Charset::Sjis)),
            ("big5", Some(Charset::DoubleByte)),
            ("GBK", Some(Charset::DoubleByte)),
            ("UHC", Some(Charset::DoubleByte)),
            ("JOHAB", Some(Charset::Johab)),
            ("GB18030", Some(Charset::Gb18030)),
            ("UTF8", Some(Charset::AsciiSafe)),
            ("utf-8", Some(Charset::AsciiSafe)),
            ("LATIN1", Some(Charset::AsciiSafe)),
            ("ISO_8859_5", Some(Charset::AsciiSafe)),
            ("WIN1252", Some(Charset::AsciiSafe)),
            ("EUC_JP", Some(Charset::AsciiSafe)),
            ("SQL_ASCII", Some(Charset::AsciiSafe)),
            ("", None),
            ("klingon", None),
            ("win9", None),
        ] {
            assert_eq!(Charset::from_name(name), charset, "{name}");
        }
    }

    #[test]
    fn widths_follow_pg_encoding_mblen() {
        assert_eq!(Charset::Sjis.width(b"\x83\x5c\t"), 2);
        assert_eq!(Charset::Sjis.width(b"\xb1\t"), 1);
        assert_eq!(Charset::Sjis.width(b"\\t"), 1);
        assert_eq!(Charset::DoubleByte.width(b"\xa5\x5c"), 2);
        assert_eq!(Charset::Johab.width(b"\x8f\x5c\x5c\t"), 3);
        assert_eq!(Charset::Gb18030.width(b"\x81\x30\x81\x30"), 4);
        assert_eq!(Charset::Gb18030.width(b"\x81\x5c"), 2);
        assert_eq!(Charset::AsciiSafe.width(b"\xc3\xa9"), 1);
        // A truncated character ends with the row.
        assert_eq!(Charset::Sjis.width(b"\x83"), 1);
        assert_eq!(Charset::Gb18030.width(b"\x81\x30"), 2);
        assert_eq!(Charset::Sjis.width(b""), 1);
    }
}
