//! Decoding and encoding of scalar values (integers, floats, booleans, UUIDs, bytes, JSON)
//! per wire format. Dates and times live in `datetime`, decimals in `numeric`.

use std::io::Write as _;

use crate::types::Wire;

/// Lowercase hexadecimal digits.
pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes an integer of SQL width `bytes` takes on a binary wire (MySQL `INT24` takes 4).
pub(crate) fn wire_width(bytes: u8) -> Option<usize> {
    match bytes {
        1 => Some(1),
        2 => Some(2),
        3 | 4 => Some(4),
        8 => Some(8),
        _ => None,
    }
}

/// The signed range of an integer of `bytes` bytes.
pub(crate) fn signed_range(bytes: u8) -> (i128, i128) {
    let bits = u32::from(bytes.clamp(1, 8)) * 8;
    let max = (1i128 << (bits - 1)) - 1;
    (-max - 1, max)
}

/// The largest value of the unsigned variant (MySQL `UNSIGNED` columns).
pub(crate) fn unsigned_max(bytes: u8) -> i128 {
    let bits = u32::from(bytes.clamp(1, 8)) * 8;
    (1i128 << bits) - 1
}

/// The values an integer column of this width may carry on this wire: MySQL columns may
/// be `UNSIGNED` (which the column type does not say), PostgreSQL integers are signed.
pub(crate) fn int_range(bytes: u8, wire: Wire) -> (i128, i128) {
    let (min, max) = signed_range(bytes);
    match wire {
        Wire::PgText | Wire::PgBinary => (min, max),
        Wire::MySqlText | Wire::MySqlBinary => (min, unsigned_max(bytes)),
    }
}

/// Parses the decimal text form of an integer (an optional sign, then 1 to 39 digits).
pub(crate) fn parse_int_text(v: &[u8]) -> Option<i128> {
    let (neg, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() || digits.len() > 39 {
        return None;
    }
    let mut n: i128 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some(if neg { -n } else { n })
}

/// Decodes an integer column value of SQL width `bytes`.
pub(crate) fn decode_int(bytes: u8, wire: Wire, v: &[u8]) -> Option<i128> {
    let width = wire_width(bytes)?;
    match wire {
        Wire::PgText | Wire::MySqlText => {
            let n = parse_int_text(v)?;
            let (min, max) = int_range(bytes, wire);
            (min..=max).contains(&n).then_some(n)
        }
        Wire::PgBinary | Wire::MySqlBinary => {
            if v.len() != width {
                return None;
            }
            let mut buf = [0u8; 8];
            if wire == Wire::PgBinary {
                buf[8 - width..].copy_from_slice(v);
                let raw = i64::from_be_bytes(buf);
                // Sign-extend from the field width.
                let shift = 64 - 8 * width as u32;
                Some(i128::from((raw << shift) >> shift))
            } else {
                buf[..width].copy_from_slice(v);
                let raw = i64::from_le_bytes(buf);
                let shift = 64 - 8 * width as u32;
                Some(i128::from((raw << shift) >> shift))
            }
        }
    }
}

/// Encodes an integer; false when it does not fit the column.
pub(crate) fn encode_int(bytes: u8, wire: Wire, n: i128, out: &mut Vec<u8>) -> bool {
    let Some(width) = wire_width(bytes) else {
        return false;
    };
    let (min, max) = int_range(bytes, wire);
    if !(min..=max).contains(&n) {
        return false;
    }
    match wire {
        Wire::PgText | Wire::MySqlText => {
            let _ = write!(out, "{n}");
        }
        Wire::PgBinary => {
            // Two's complement truncation to the width is intended.
            let le = (n as i64).to_be_bytes();
            out.extend_from_slice(&le[8 - width..]);
        }
        Wire::MySqlBinary => {
            let le = (n as i64).to_le_bytes();
            out.extend_from_slice(&le[..width]);
        }
    }
    true
}

/// Decodes a float column value (4 or 8 bytes wide).
pub(crate) fn decode_float(bytes: u8, wire: Wire, v: &[u8]) -> Option<f64> {
    match (wire, bytes, v.len()) {
        (Wire::PgText | Wire::MySqlText, _, _) => {
            let s = std::str::from_utf8(v).ok()?;
            s.trim().parse::<f64>().ok()
        }
        (Wire::PgBinary, 4, 4) => Some(f64::from(f32::from_be_bytes(v.try_into().ok()?))),
        (Wire::PgBinary, 8, 8) => Some(f64::from_be_bytes(v.try_into().ok()?)),
        (Wire::MySqlBinary, 4, 4) => Some(f64::from(f32::from_le_bytes(v.try_into().ok()?))),
        (Wire::MySqlBinary, 8, 8) => Some(f64::from_le_bytes(v.try_into().ok()?)),
        _ => None,
    }
}

/// Encodes a float; false when it cannot be represented (out of `f32` range, or a
/// NaN/infinity on MySQL, which has neither).
pub(crate) fn encode_float(bytes: u8, wire: Wire, f: f64, out: &mut Vec<u8>) -> bool {
    let mysql = matches!(wire, Wire::MySqlText | Wire::MySqlBinary);
    if mysql && !f.is_finite() {
        return false;
    }
    if bytes == 4 && f.is_finite() && f.abs() > f64::from(f32::MAX) {
        return false;
    }
    match (wire, bytes) {
        (Wire::PgText | Wire::MySqlText, 4 | 8) => {
            if f.is_nan() {
                out.extend_from_slice(b"NaN");
            } else if f.is_infinite() {
                out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
            } else if bytes == 4 {
                let _ = write!(out, "{}", f as f32);
            } else {
                let _ = write!(out, "{f}");
            }
        }
        (Wire::PgBinary, 4) => out.extend_from_slice(&(f as f32).to_be_bytes()),
        (Wire::PgBinary, 8) => out.extend_from_slice(&f.to_be_bytes()),
        (Wire::MySqlBinary, 4) => out.extend_from_slice(&(f as f32).to_le_bytes()),
        (Wire::MySqlBinary, 8) => out.extend_from_slice(&f.to_le_bytes()),
        _ => return false,
    }
    true
}

/// Encodes a boolean.
pub(crate) fn encode_bool(wire: Wire, b: bool, out: &mut Vec<u8>) {
    match wire {
        Wire::PgText => out.push(if b { b't' } else { b'f' }),
        Wire::MySqlText => out.push(if b { b'1' } else { b'0' }),
        Wire::PgBinary | Wire::MySqlBinary => out.push(u8::from(b)),
    }
}

/// Parses the text of a boolean the way PostgreSQL accepts it (`t`, `true`, `yes`, `on`,
/// `1` and their negations, case-insensitively).
pub(crate) fn parse_bool_text(v: &[u8]) -> Option<bool> {
    let t = v.trim_ascii();
    const TRUE: [&[u8]; 5] = [b"t", b"true", b"yes", b"on", b"1"];
    const FALSE: [&[u8]; 5] = [b"f", b"false", b"no", b"off", b"0"];
    if TRUE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses a UUID from its text form: hyphenated, bare 32 hex digits, or braced.
pub(crate) fn parse_uuid_text(v: &[u8]) -> Option<[u8; 16]> {
    let v = v.trim_ascii();
    let v = match (v.first(), v.last()) {
        (Some(b'{'), Some(b'}')) if v.len() >= 2 => &v[1..v.len() - 1],
        _ => v,
    };
    let mut out = [0u8; 16];
    let mut n = 0usize;
    let mut hi: Option<u8> = None;
    for (i, &b) in v.iter().enumerate() {
        if b == b'-' {
            // PostgreSQL accepts a hyphen after any group of four hex digits.
            if hi.is_some() || i == 0 || n % 2 != 0 {
                return None;
            }
            continue;
        }
        let d = hex_val(b)?;
        match hi.take() {
            None => hi = Some(d),
            Some(h) => {
                *out.get_mut(n)? = (h << 4) | d;
                n += 1;
            }
        }
    }
    (n == 16 && hi.is_none() && v.last() != Some(&b'-')).then_some(out)
}

/// Decodes a UUID column value.
pub(crate) fn decode_uuid(wire: Wire, v: &[u8]) -> Option<[u8; 16]> {
    match wire {
        Wire::PgBinary => v.try_into().ok(),
        _ => parse_uuid_text(v),
    }
}

/// Writes the canonical lowercase hyphenated form of a UUID.
pub(crate) fn uuid_text(u: &[u8; 16]) -> [u8; 36] {
    let mut s = [b'-'; 36];
    let mut j = 0;
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            j += 1;
        }
        s[j] = HEX[usize::from(b >> 4)];
        s[j + 1] = HEX[usize::from(b & 0xf)];
        j += 2;
    }
    s
}

/// Encodes a UUID: 16 bytes on the PostgreSQL binary wire, text elsewhere.
pub(crate) fn encode_uuid(wire: Wire, u: &[u8; 16], out: &mut Vec<u8>) {
    match wire {
        Wire::PgBinary => out.extend_from_slice(u),
        _ => out.extend_from_slice(&uuid_text(u)),
    }
}

/// Encodes binary data: PostgreSQL text `bytea` in hex format, raw bytes elsewhere.
pub(crate) fn encode_bytes(wire: Wire, b: &[u8], out: &mut Vec<u8>) {
    if wire == Wire::PgText {
        out.reserve(2 + 2 * b.len());
        out.extend_from_slice(b"\\x");
        for &x in b {
            out.push(HEX[usize::from(x >> 4)]);
            out.push(HEX[usize::from(x & 0xf)]);
        }
    } else {
        out.extend_from_slice(b);
    }
}

/// Decodes binary data, feeding the decoded bytes to `sink` in chunks without allocating.
/// PostgreSQL text `bytea` may be in hex (`\x...`) or escape format. False when malformed.
pub(crate) fn decode_bytes(wire: Wire, v: &[u8], sink: &mut dyn FnMut(&[u8])) -> bool {
    if wire != Wire::PgText {
        sink(v);
        return true;
    }
    let mut buf = [0u8; 128];
    let mut n = 0usize;
    let push = |b: u8, buf: &mut [u8; 128], n: &mut usize, sink: &mut dyn FnMut(&[u8])| {
        if *n == buf.len() {
            sink(&buf[..]);
            *n = 0;
        }
        buf[*n] = b;
        *n += 1;
    };
    if let Some(hex) = v.strip_prefix(b"\\x") {
        let mut hi: Option<u8> = None;
        for &b in hex {
            if b.is_ascii_whitespace() && hi.is_none() {
                continue;
            }
            let Some(d) = hex_val(b) else {
                return false;
            };
            match hi.take() {
                None => hi = Some(d),
                Some(h) => push((h << 4) | d, &mut buf, &mut n, sink),
            }
        }
        if hi.is_some() {
            return false;
        }
    } else {
        let mut i = 0;
        while i < v.len() {
            if v[i] != b'\\' {
                push(v[i], &mut buf, &mut n, sink);
                i += 1;
            } else if v.get(i + 1) == Some(&b'\\') {
                push(b'\\', &mut buf, &mut n, sink);
                i += 2;
            } else {
                let Some(oct) = v.get(i + 1..i + 4) else {
                    return false;
                };
                if !(b'0'..=b'3').contains(&oct[0])
                    || !oct[1..].iter().all(|c| (b'0'..=b'7').contains(c))
                {
                    return false;
                }
                let b = (oct[0] - b'0') << 6 | (oct[1] - b'0') << 3 | (oct[2] - b'0');
                push(b, &mut buf, &mut n, sink);
                i += 4;
            }
        }
    }
    if n > 0 {
        sink(&buf[..n]);
    }
    true
}

/// Whether a JSON value on this wire is PostgreSQL binary `jsonb` (version byte 1 first).
/// `json` in binary format is plain text, and JSON text never starts with byte 1.
pub(crate) fn is_jsonb(wire: Wire, v: &[u8]) -> bool {
    wire == Wire::PgBinary && v.first() == Some(&1)
}

/// Encodes JSON text, with the `jsonb` version byte when the input had one.
pub(crate) fn encode_json(jsonb: bool, text: &[u8], out: &mut Vec<u8>) {
    if jsonb {
        out.push(1);
    }
    out.extend_from_slice(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_round_trip_every_wire() {
        for wire in [
            Wire::PgText,
            Wire::PgBinary,
            Wire::MySqlText,
            Wire::MySqlBinary,
        ] {
            for (bytes, n) in [
                (2u8, -32768i128),
                (4, 123456),
                (8, -1),
                (3, 8_388_607),
                (1, -128),
            ] {
                if wire == Wire::PgBinary && matches!(bytes, 1 | 3) {
                    continue;
                }
                let mut out = Vec::new();
                assert!(encode_int(bytes, wire, n, &mut out));
                assert_eq!(decode_int(bytes, wire, &out), Some(n), "{wire:?} {bytes}");
            }
        }
        let mut out = Vec::new();
        assert!(encode_int(4, Wire::PgBinary, -2, &mut out));
        assert_eq!(out, [0xff, 0xff, 0xff, 0xfe]);
        out.clear();
        assert!(encode_int(3, Wire::MySqlBinary, 5, &mut out));
        assert_eq!(out, [5, 0, 0, 0]);
        assert!(!encode_int(2, Wire::PgText, 40000, &mut out));
        assert_eq!(decode_int(1, Wire::MySqlText, b"255"), Some(255));
        assert_eq!(decode_int(2, Wire::PgText, b"40000"), None);
        assert_eq!(decode_int(8, Wire::PgText, b"12a"), None);
        assert_eq!(decode_int(8, Wire::PgBinary, b"1234"), None);
    }

    #[test]
    fn floats() {
        let mut out = Vec::new();
        assert!(encode_float(8, Wire::PgText, f64::INFINITY, &mut out));
        assert_eq!(out, b"Infinity");
        out.clear();
        assert!(encode_float(4, Wire::PgText, 0.1f32 as f64, &mut out));
        assert_eq!(out, b"0.1");
        assert!(!encode_float(8, Wire::MySqlText, f64::NAN, &mut out));
        assert_eq!(
            decode_float(8, Wire::PgText, b"-Infinity"),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(
            decode_float(4, Wire::MySqlBinary, &1.5f32.to_le_bytes()),
            Some(1.5)
        );
    }

    #[test]
    fn uuids_and_bytes() {
        let u = parse_uuid_text(b"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11").unwrap();
        assert_eq!(&uuid_text(&u), b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(
            parse_uuid_text(b"{a0eebc999c0b4ef8bb6d6bb9bd380a11}"),
            Some(u)
        );
        assert_eq!(parse_uuid_text(b"a0eebc99-9c0b"), None);
        let mut got = Vec::new();
        assert!(decode_bytes(Wire::PgText, b"\\x00ff41", &mut |c| got
            .extend_from_slice(c)));
        assert_eq!(got, [0, 255, b'A']);
        got.clear();
        assert!(decode_bytes(Wire::PgText, b"a\\\\b\\001", &mut |c| got
            .extend_from_slice(c)));
        assert_eq!(got, b"a\\b\x01");
        assert!(!decode_bytes(Wire::PgText, b"\\x0", &mut |_| {}));
        let mut out = Vec::new();
        encode_bytes(Wire::PgText, &[0xde, 0xad], &mut out);
        assert_eq!(out, b"\\xdead");
    }
}
