//! Rows sluice must look inside (a mask applies): text rows and binary-protocol rows decoded to
//! fields and encoded again, and the bookkeeping that ties a result to the statement text it
//! came from (COM_QUERY text, or the text a prepared statement was prepared from).

use std::collections::HashMap;
use std::sync::Arc;

use super::packet::{put_lenenc, Reader};
use crate::session::{ColumnDesc, RowFields};

/// The statement a response in flight belongs to.
#[derive(Clone, Debug, Default)]
pub enum Statement {
    #[default]
    None,
    /// COM_QUERY.
    Text(Arc<str>),
    /// COM_STMT_PREPARE: the answer carries the statement id.
    Prepare(Arc<str>),
    /// COM_STMT_EXECUTE or COM_STMT_FETCH of a statement id.
    Execute(u32),
    Fetch(u32),
    /// sluice's own `SELECT @@SESSION.sql_mode` (see [`super::mode_probe`]).
    ModeProbe,
    /// sluice's own statement opening or closing a held write (see [`super::row_limit`]).
    RowLimit,
    /// sluice's own `SET SESSION` of an identity's setting, sent again after a reset.
    SessionSetting,
}

/// A prepared statement: its text, and the columns of its last execution (a cursor's fetches
/// come without column definitions).
#[derive(Debug)]
pub struct Prepared {
    pub sql: Arc<str>,
    pub columns: Vec<ColumnDesc>,
    /// How many parameters it takes, and their types as last bound (type, flags).
    pub params: u16,
    pub param_types: Vec<(u8, u8)>,
}

/// Prepared statements by id.
pub type PreparedStatements = HashMap<u32, Prepared>;

/// The statement id in a COM_STMT_EXECUTE / FETCH / CLOSE payload (after the command byte).
pub fn statement_id(payload: &[u8]) -> Option<u32> {
    Reader(payload.get(1..)?).u32()
}

/// A text row's fields.
pub fn decode_text_row(payload: &[u8]) -> RowFields {
    let mut r = Reader(payload);
    let mut fields: RowFields = Vec::new();
    while !r.is_empty() {
        if r.rest().first() == Some(&0xFB) {
            let _ = r.u8();
            fields.push(None);
        } else {
            fields.push(r.lenenc_bytes().map(<[u8]>::to_vec));
        }
    }
    fields
}

pub fn encode_text_row(fields: &RowFields, out: &mut Vec<u8>) {
    for f in fields {
        match f {
            Some(v) => {
                put_lenenc(out, v.len() as u64);
                out.extend_from_slice(v);
            }
            None => out.push(0xFB),
        }
    }
}

/// How a binary-protocol value of a MySQL column type is laid out.
enum Layout {
    Fixed(usize),
    /// One length byte, then that many bytes (dates and times).
    Short,
    /// A length-encoded string.
    Lenenc,
    Nothing,
}

fn layout(column_type: u32) -> Layout {
    match column_type {
        1 => Layout::Fixed(1),
        2 | 13 => Layout::Fixed(2),
        3 | 4 | 9 => Layout::Fixed(4),
        5 | 8 => Layout::Fixed(8),
        6 => Layout::Nothing,
        7 | 10 | 11 | 12 => Layout::Short,
        _ => Layout::Lenenc,
    }
}

/// A binary row's fields (`None` for NULL); `None` when the row does not match its columns.
pub fn decode_binary_row(payload: &[u8], columns: &[ColumnDesc]) -> Option<RowFields> {
    let n = columns.len();
    let bitmap_len = (n + 7 + 2) / 8;
    let mut r = Reader(payload);
    if r.u8()? != 0x00 {
        return None;
    }
    let bitmap = r.bytes(bitmap_len)?;
    let mut fields = Vec::with_capacity(n);
    for (i, c) in columns.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            fields.push(None);
            continue;
        }
        let value = match layout(c.type_code) {
            Layout::Fixed(w) => r.bytes(w)?,
            Layout::Short => {
                let len = r.u8()?;
                r.bytes(usize::from(len))?
            }
            Layout::Lenenc => r.lenenc_bytes()?,
            Layout::Nothing => &[][..],
        };
        fields.push(Some(value.to_vec()));
    }
    r.is_empty().then_some(fields)
}

/// Encodes fields as a binary row of `columns`. A value whose length does not fit its column's
/// fixed width is sent as NULL rather than as bytes a driver would misread.
pub fn encode_binary_row(fields: &RowFields, columns: &[ColumnDesc], out: &mut Vec<u8>) {
    let n = columns.len();
    let bitmap_len = (n + 7 + 2) / 8;
    out.push(0x00);
    let bitmap_at = out.len();
    out.resize(bitmap_at + bitmap_len, 0);
    for (i, c) in columns.iter().enumerate() {
        let value = fields.get(i).and_then(|f| f.as_deref());
        let fits = match (layout(c.type_code), value) {
            (_, None) => false,
            (Layout::Fixed(w), Some(v)) => v.len() == w,
            (Layout::Short, Some(v)) => v.len() <= 255,
            (Layout::Nothing, _) => false,
            (Layout::Lenenc, Some(_)) => true,
        };
        let Some(v) = value.filter(|_| fits) else {
            let bit = i + 2;
            out[bitmap_at + bit / 8] |= 1 << (bit % 8);
            continue;
        };
        match layout(c.type_code) {
            Layout::Fixed(_) => out.extend_from_slice(v),
            Layout::Short => {
                out.push(v.len() as u8);
                out.extend_from_slice(v);
            }
            Layout::Lenenc => {
                put_lenenc(out, v.len() as u64);
                out.extend_from_slice(v);
            }
            Layout::Nothing => {}
        }
    }
}

/// The parameters of a COM_STMT_EXECUTE payload, rendered as text (`None` for NULL). The types
/// come with the first execution and are remembered in `types`. `None` when the payload does not
/// parse (long data, a malformed packet): the parameters are then not known.
pub fn decode_params(
    payload: &[u8],
    count: u16,
    types: &mut Vec<(u8, u8)>,
) -> Option<Vec<Option<String>>> {
    let n = usize::from(count);
    let mut r = Reader(payload.get(1..)?);
    let (_id, _flags, _iterations) = (r.u32()?, r.u8()?, r.u32()?);
    if n == 0 {
        return Some(Vec::new());
    }
    let bitmap = r.bytes(n.div_ceil(8))?.to_vec();
    if r.u8()? == 1 {
        types.clear();
        for _ in 0..n {
            types.push((r.u8()?, r.u8()?));
        }
    }
    if types.len() != n {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for (i, &(t, flags)) in types.iter().enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            out.push(None);
            continue;
        }
        let unsigned = flags & 0x80 != 0;
        let text = match layout(u32::from(t)) {
            Layout::Fixed(w) => {
                let v = r.bytes(w)?;
                match (t, w) {
                    (4, 4) => f32::from_le_bytes(v.try_into().ok()?).to_string(),
                    (5, 8) => f64::from_le_bytes(v.try_into().ok()?).to_string(),
                    _ => {
                        let mut b = [0u8; 8];
                        b[..w].copy_from_slice(v);
                        let raw = u64::from_le_bytes(b);
                        if unsigned {
                            raw.to_string()
                        } else {
                            // Sign-extend from the value's width.
                            let shift = 64 - 8 * w as u32;
                            (((raw << shift) as i64) >> shift).to_string()
                        }
                    }
                }
            }
            Layout::Short => {
                let len = r.u8()?;
                format!("\\x{}", hex::encode(r.bytes(usize::from(len))?))
            }
            Layout::Lenenc => String::from_utf8_lossy(r.lenenc_bytes()?).into_owned(),
            Layout::Nothing => {
                out.push(None);
                continue;
            }
        };
        out.push(Some(text));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::ColumnOrigin;

    fn col(t: u8) -> ColumnDesc {
        ColumnDesc {
            name: "c".into(),
            origin: ColumnOrigin::Unknown,
            type_code: u32::from(t),
            type_name: Some(masking::mysql_type_name(t, 33)),
            binary: true,
            value_type: masking::ColumnType::mysql(t, 33, true),
        }
    }

    #[test]
    fn binary_rows_round_trip() {
        let columns = [col(3), col(253), col(10), col(8)];
        // id=7, 'abc', NULL date, 9 as bigint.
        let mut payload = vec![0x00, 0b0001_0000];
        payload.extend_from_slice(&7u32.to_le_bytes());
        payload.extend_from_slice(&[3, b'a', b'b', b'c']);
        payload.extend_from_slice(&9u64.to_le_bytes());
        let fields = decode_binary_row(&payload, &columns).unwrap();
        assert_eq!(
            fields,
            vec![
                Some(7u32.to_le_bytes().to_vec()),
                Some(b"abc".to_vec()),
                None,
                Some(9u64.to_le_bytes().to_vec())
            ]
        );
        let mut out = Vec::new();
        encode_binary_row(&fields, &columns, &mut out);
        assert_eq!(out, payload);
        // A value that does not fit its width becomes NULL.
        let mut bad = fields.clone();
        bad[0] = Some(vec![1, 2]);
        out.clear();
        encode_binary_row(&bad, &columns, &mut out);
        assert_eq!(out[1], 0b0001_0100);
        assert!(decode_binary_row(&payload[..5], &columns).is_none());
    }

    #[test]
    fn execute_parameters_decode_with_types_remembered() {
        // COM_STMT_EXECUTE id 1: ('123-45-6789', -2 as TINY, NULL LONG).
        let mut p = vec![
            0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0b100, 1, 253, 0, 1, 0, 3, 0,
        ];
        p.push(11);
        p.extend_from_slice(b"123-45-6789");
        p.push(0xFE);
        let mut types = Vec::new();
        let params = decode_params(&p, 3, &mut types).unwrap();
        assert_eq!(
            params,
            vec![Some("123-45-6789".into()), Some("-2".into()), None]
        );
        // A second execution sends no types.
        let mut again = vec![0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0b110, 0, 2, b'a', b'b'];
        again.truncate(15);
        assert_eq!(
            decode_params(&again, 3, &mut types),
            Some(vec![Some("ab".into()), None, None])
        );
        assert!(decode_params(&p[..12], 3, &mut types).is_none());
    }
}
