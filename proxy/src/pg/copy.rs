//! The rows of a `COPY … TO STDOUT` in text and CSV format, decoded to fields and written back,
//! so masks apply to COPY as they do to result rows. PostgreSQL sends one row per CopyData.
//! (Binary COPY of masked columns is refused before it runs.) Rows are split in the COPY's
//! encoding: in SJIS, BIG5 and their kin the second byte of a character can be a backslash or
//! a delimiter byte, and it is neither (see `charset`).

use policy::CopyFormat;

use super::charset::Charset;

use crate::session::RowFields;

/// One COPY's row codec.
pub struct CopyRows {
    format: CopyFormat,
    /// The encoding the rows are in.
    charset: Charset,
    /// CSV with HEADER: the first row names columns and passes as it is.
    header_pending: bool,
    /// CSV `FORCE_QUOTE`: per column, whether every non-NULL value is quoted.
    forced: Vec<bool>,
}

impl CopyRows {
    pub fn new(format: CopyFormat, charset: Charset) -> CopyRows {
        let header_pending = matches!(format, CopyFormat::Csv { header: true, .. });
        CopyRows {
            format,
            charset,
            header_pending,
            forced: Vec::new(),
        }
    }

    /// Names the COPY's columns, in order, for a CSV `FORCE_QUOTE` list to apply to.
    pub fn with_column_names<'n>(mut self, names: impl Iterator<Item = &'n str>) -> CopyRows {
        if let CopyFormat::Csv { force_quote, .. } = &self.format {
            self.forced = names.map(|n| force_quote.covers(n)).collect();
        }
        self
    }

    /// Binary rows cannot be masked field by field here.
    pub fn is_binary(&self) -> bool {
        self.format == CopyFormat::Binary
    }

    /// Whether this row is the header (which is forwarded untouched).
    pub fn take_header(&mut self) -> bool {
        std::mem::take(&mut self.header_pending)
    }

    /// The fields of one row (its trailing newline removed).
    pub fn decode(&self, row: &[u8]) -> RowFields {
        let row = row.strip_suffix(b"\n").unwrap_or(row);
        let row = row.strip_suffix(b"\r").unwrap_or(row);
        let cs = self.charset;
        match &self.format {
            CopyFormat::Text { delimiter, null } => decode_text(row, byte(*delimiter), null, cs),
            CopyFormat::Csv {
                delimiter,
                quote,
                escape,
                null,
                ..
            } => {
                let special = (byte(*delimiter), byte(*quote), byte(*escape));
                decode_csv(row, special, null, cs)
            }
            CopyFormat::Binary => vec![None],
        }
    }

    /// Writes `fields` as one row, with its newline.
    pub fn encode(&self, fields: &RowFields, out: &mut Vec<u8>) {
        match &self.format {
            CopyFormat::Text { delimiter, null } => {
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(byte(*delimiter));
                    }
                    match f {
                        None => out.extend_from_slice(null.as_bytes()),
                        Some(v) => escape_text(v, byte(*delimiter), self.charset, out),
                    }
                }
            }
            CopyFormat::Csv {
                delimiter,
                quote,
                escape,
                null,
                ..
            } => {
                let (d, q, e) = (byte(*delimiter), byte(*quote), byte(*escape));
                // As PostgreSQL's CopyAttributeOutCSV: quoted when it reads as the NULL marker,
                // when it is `\.` alone on its line (the end-of-data marker), or when it holds
                // the delimiter, the quote or a line break.
                let single = fields.len() == 1;
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(d);
                    }
                    match f {
                        None => out.extend_from_slice(null.as_bytes()),
                        Some(v) => {
                            let cs = self.charset;
                            let needs = self.forced.get(i).copied().unwrap_or(false)
                                || v == null.as_bytes()
                                || (single && v == b"\\.")
                                || ascii_bytes(v, cs)
                                    .any(|b| b == d || b == q || b == b'\n' || b == b'\r');
                            if !needs {
                                out.extend_from_slice(v);
                                continue;
                            }
                            out.push(q);
                            let mut i = 0;
                            while i < v.len() {
                                let w = cs.width_at(v, i);
                                if w == 1 && (v[i] == q || v[i] == e) {
                                    out.push(e);
                                }
                                out.extend_from_slice(&v[i..i + w]);
                                i += w;
                            }
                            out.push(q);
                        }
                    }
                }
            }
            CopyFormat::Binary => {}
        }
        out.push(b'\n');
    }
}

/// PostgreSQL allows only single-byte delimiters, quotes and escapes.
fn byte(c: char) -> u8 {
    u8::try_from(u32::from(c)).unwrap_or(b'\t')
}

/// The single-byte characters of `v` (the bytes of multi-byte characters are skipped).
fn ascii_bytes(v: &[u8], cs: Charset) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < v.len() {
            let w = cs.width_at(v, i);
            let b = v[i];
            i += w;
            if w == 1 {
                return Some(b);
            }
        }
        None
    })
}

fn decode_text(row: &[u8], delimiter: u8, null: &str, cs: Charset) -> RowFields {
    // Split on unescaped delimiters first (an escaped byte never separates, nor does a byte
    // inside a multi-byte character), then unescape.
    let mut pieces = Vec::new();
    let (mut i, mut start) = (0, 0);
    while i < row.len() {
        match row[i] {
            b'\\' => i += 2,
            b if b == delimiter => {
                pieces.push(&row[start..i]);
                i += 1;
                start = i;
            }
            _ => i += cs.width_at(row, i),
        }
    }
    pieces.push(&row[start.min(row.len())..]);
    pieces
        .into_iter()
        .map(|piece| {
            (piece != null.as_bytes()).then(|| {
                let mut value = Vec::with_capacity(piece.len());
                unescape_text(piece, cs, &mut value);
                value
            })
        })
        .collect()
}

fn unescape_text(piece: &[u8], cs: Charset, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < piece.len() {
        if piece[i] != b'\\' || i + 1 >= piece.len() {
            let w = cs.width_at(piece, i);
            match w {
                1 => out.push(piece[i]),
                _ => out.extend_from_slice(&piece[i..i + w]),
            }
            i += w;
            continue;
        }
        let c = piece[i + 1];
        i += 2;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut n = u32::from(c - b'0');
                for _ in 0..2 {
                    match piece.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            n = n * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((n & 0xFF) as u8);
            }
            b'x' => {
                let mut n = 0u32;
                let mut digits = 0;
                while digits < 2 {
                    match piece.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            n = n * 16 + d;
                            i += 1;
                            digits += 1;
                        }
                        None => break,
                    }
                }
                if digits == 0 {
                    out.push(b'x');
                } else {
                    out.push(n as u8);
                }
            }
            other => out.push(other),
        }
    }
}

fn escape_text(v: &[u8], delimiter: u8, cs: Charset, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < v.len() {
        let w = cs.width_at(v, i);
        let b = v[i];
        if w > 1 {
            // As PostgreSQL: a multi-byte character is written whole, never escaped.
            out.extend_from_slice(&v[i..i + w]);
            i += w;
            continue;
        }
        i += 1;
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' if delimiter == b'\t' => out.extend_from_slice(b"\\t"),
            b if b == delimiter => {
                out.push(b'\\');
                out.push(b);
            }
            b => out.push(b),
        }
    }
}

/// `special`: the delimiter, the quote and the escape.
fn decode_csv(row: &[u8], special: (u8, u8, u8), null: &str, cs: Charset) -> RowFields {
    let (delimiter, quote, escape) = special;
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut value = Vec::new();
        let mut quoted = false;
        if row.get(i) == Some(&quote) {
            quoted = true;
            i += 1;
            while i < row.len() {
                let b = row[i];
                if b == escape && row.get(i + 1) == Some(&quote) {
                    value.push(quote);
                    i += 2;
                } else if b == escape && escape != quote && row.get(i + 1) == Some(&escape) {
                    value.push(escape);
                    i += 2;
                } else if b == quote {
                    i += 1;
                    break;
                } else {
                    let w = cs.width_at(row, i);
                    value.extend_from_slice(&row[i..i + w]);
                    i += w;
                }
            }
        }
        while i < row.len() && row[i] != delimiter {
            let w = cs.width_at(row, i);
            value.extend_from_slice(&row[i..i + w]);
            i += w;
        }
        if !quoted && value == null.as_bytes() {
            fields.push(None);
        } else {
            fields.push(Some(value));
        }
        if i >= row.len() {
            break;
        }
        i += 1;
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> CopyRows {
        CopyRows::new(
            CopyFormat::Text {
                delimiter: '\t',
                null: "\\N".into(),
            },
            Charset::AsciiSafe,
        )
    }

    fn csv() -> CopyRows {
        CopyRows::new(
            CopyFormat::Csv {
                delimiter: ',',
                quote: '"',
                escape: '"',
                null: String::new(),
                header: true,
                force_quote: Default::default(),
            },
            Charset::AsciiSafe,
        )
    }

    #[test]
    fn text_rows_round_trip_with_escapes_and_nulls() {
        let row = b"1\ta\\tb\\\\c\\nd\t\\N\t\\101\n";
        let fields = text().decode(row);
        assert_eq!(
            fields,
            vec![
                Some(b"1".to_vec()),
                Some(b"a\tb\\c\nd".to_vec()),
                None,
                Some(b"A".to_vec())
            ]
        );
        let mut out = Vec::new();
        text().encode(&fields, &mut out);
        assert_eq!(out, b"1\ta\\tb\\\\c\\nd\t\\N\tA\n");
    }

    #[test]
    fn csv_quotes_what_postgresql_quotes() {
        let c = csv();
        let mut out = Vec::new();
        // Alone on its line, `\.` would end the data.
        c.encode(&vec![Some(b"\\.".to_vec())], &mut out);
        c.encode(&vec![Some(b"\\.".to_vec()), Some(b"x".to_vec())], &mut out);
        c.encode(
            &vec![Some(b"a,b".to_vec()), Some(b"".to_vec()), None],
            &mut out,
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "\"\\.\"\n\\.,x\n\"a,b\",\"\",\n"
        );
    }

    #[test]
    fn csv_rows_round_trip_with_quotes_and_nulls() {
        let mut c = csv();
        assert!(c.take_header());
        assert!(!c.take_header());
        let fields = c.decode(b"1,\"a,b\",,\"\",\"say \"\"hi\"\"\"\n");
        assert_eq!(
            fields,
            vec![
                Some(b"1".to_vec()),
                Some(b"a,b".to_vec()),
                None,
                Some(Vec::new()),
                Some(b"say \"hi\"".to_vec())
            ]
        );
        let mut out = Vec::new();
        c.encode(&fields, &mut out);
        assert_eq!(out, b"1,\"a,b\",,\"\",\"say \"\"hi\"\"\"\n");
    }

    /// PostgreSQL writes `ソ` (SJIS 0x83 0x5C) raw, not as an escape: the tab after it
    /// separates, and the character is written back whole.
    #[test]
    fn sjis_rows_split_where_postgresql_splits_them() {
        let rows = |format| CopyRows::new(format, Charset::Sjis);
        let text = rows(CopyFormat::Text {
            delimiter: '\t',
            null: "\\N".into(),
        });
        let row = b"\x83\x5c\t123-45-6789\tp1\\\\\x83\x5c\n";
        let fields = text.decode(row);
        assert_eq!(
            fields,
            vec![
                Some(b"\x83\x5c".to_vec()),
                Some(b"123-45-6789".to_vec()),
                Some(b"p1\\\x83\x5c".to_vec())
            ]
        );
        let mut out = Vec::new();
        text.encode(&fields, &mut out);
        assert_eq!(out, row);
        // A delimiter byte that is the second byte of a character (`|` = 0x7C).
        let csv = rows(CopyFormat::Csv {
            delimiter: '|',
            quote: '"',
            escape: '"',
            null: String::new(),
            header: false,
            force_quote: Default::default(),
        });
        let row = b"\x83\x7c|secret|\"a|b\"\n";
        let fields = csv.decode(row);
        assert_eq!(
            fields,
            vec![
                Some(b"\x83\x7c".to_vec()),
                Some(b"secret".to_vec()),
                Some(b"a|b".to_vec())
            ]
        );
        let mut out = Vec::new();
        csv.encode(&fields, &mut out);
        assert_eq!(out, row);
    }
}
