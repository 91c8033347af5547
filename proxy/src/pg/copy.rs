//! The rows of a `COPY … TO STDOUT` in text and CSV format, decoded to fields and written back,
//! so masks apply to COPY as they do to result rows. PostgreSQL sends one row per CopyData.
//! (Binary COPY of masked columns is refused before it runs.)

use policy::CopyFormat;

use crate::session::RowFields;

/// One COPY's row codec.
pub struct CopyRows {
    format: CopyFormat,
    /// CSV with HEADER: the first row names columns and passes as it is.
    header_pending: bool,
}

impl CopyRows {
    pub fn new(format: CopyFormat) -> CopyRows {
        let header_pending = matches!(format, CopyFormat::Csv { header: true, .. });
        CopyRows {
            format,
            header_pending,
        }
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
        match &self.format {
            CopyFormat::Text { delimiter, null } => decode_text(row, byte(*delimiter), null),
            CopyFormat::Csv {
                delimiter,
                quote,
                escape,
                null,
                ..
            } => decode_csv(row, byte(*delimiter), byte(*quote), byte(*escape), null),
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
                        Some(v) => escape_text(v, byte(*delimiter), out),
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
                            let needs = v == null.as_bytes()
                                || (single && v == b"\\.")
                                || v.iter()
                                    .any(|&b| b == d || b == q || b == b'\n' || b == b'\r');
                            if !needs {
                                out.extend_from_slice(v);
                                continue;
                            }
                            out.push(q);
                            for &b in v {
                                if b == q || b == e {
                                    out.push(e);
                                }
                                out.push(b);
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

fn decode_text(row: &[u8], delimiter: u8, null: &str) -> RowFields {
    // Split on unescaped delimiters first (an escaped byte never separates), then unescape.
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
            _ => i += 1,
        }
    }
    pieces.push(&row[start.min(row.len())..]);
    pieces
        .into_iter()
        .map(|piece| {
            (piece != null.as_bytes()).then(|| {
                let mut value = Vec::with_capacity(piece.len());
                unescape_text(piece, &mut value);
                value
            })
        })
        .collect()
}

fn unescape_text(piece: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < piece.len() {
        if piece[i] != b'\\' || i + 1 >= piece.len() {
            out.push(piece[i]);
            i += 1;
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

fn escape_text(v: &[u8], delimiter: u8, out: &mut Vec<u8>) {
    for &b in v {
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

fn decode_csv(row: &[u8], delimiter: u8, quote: u8, escape: u8, null: &str) -> RowFields {
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
                    value.push(b);
                    i += 1;
                }
            }
        }
        while i < row.len() && row[i] != delimiter {
            value.push(row[i]);
            i += 1;
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
        CopyRows::new(CopyFormat::Text {
            delimiter: '\t',
            null: "\\N".into(),
        })
    }

    fn csv() -> CopyRows {
        CopyRows::new(CopyFormat::Csv {
            delimiter: ',',
            quote: '"',
            escape: '"',
            null: String::new(),
            header: true,
        })
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
}
