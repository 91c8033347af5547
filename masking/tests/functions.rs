//! Every mask function, on every type and wire, with exact expected bytes.

use masking::{ColumnType, MaskFunction, MaskOutcome, MaskSpec, TypeKind, Wire};

const KEY: &[u8] = b"secret-key";

fn f(function: &str) -> MaskFunction {
    let key = matches!(function, "hash").then(|| KEY.to_vec());
    MaskFunction::compile(&MaskSpec {
        function: function.into(),
        key,
        ..Default::default()
    })
    .unwrap()
}

fn spec(function: &str) -> MaskSpec {
    MaskSpec {
        function: function.into(),
        ..Default::default()
    }
}

fn ty(kind: TypeKind, wire: Wire) -> ColumnType {
    ColumnType::new(kind, wire)
}

/// Applies and returns the output, or None for NULL.
fn run(m: &MaskFunction, t: ColumnType, v: &[u8]) -> Option<Vec<u8>> {
    let mut out = b"garbage from a previous value".to_vec();
    match m.apply(t, v, &mut out) {
        MaskOutcome::Value => Some(out),
        MaskOutcome::Null => None,
    }
}

fn run_s(m: &MaskFunction, t: ColumnType, v: &str) -> Option<String> {
    run(m, t, v.as_bytes()).map(|o| String::from_utf8(o).unwrap())
}

const TEXT: ColumnType = ColumnType::new(TypeKind::Text, Wire::PgText);
const INT4_T: ColumnType = ColumnType::new(TypeKind::Int { bytes: 4 }, Wire::PgText);
const INT4_B: ColumnType = ColumnType::new(TypeKind::Int { bytes: 4 }, Wire::PgBinary);
const INT8_MB: ColumnType = ColumnType::new(TypeKind::Int { bytes: 8 }, Wire::MySqlBinary);

#[test]
fn null_is_null_for_everything() {
    let m = f("null");
    assert_eq!(run(&m, TEXT, b"x"), None);
    assert_eq!(run(&m, INT4_B, &[0, 0, 0, 1]), None);
}

#[test]
fn redact_every_type_and_wire() {
    let m = f("redact");
    let r = |k, w, v: &[u8]| run(&m, ty(k, w), v);
    use TypeKind::*;
    use Wire::*;
    assert_eq!(r(Text, PgText, b"secret").unwrap(), b"[REDACTED]");
    assert_eq!(r(Text, MySqlBinary, b"secret").unwrap(), b"[REDACTED]");
    assert_eq!(r(Bytes, PgText, b"\\x0102").unwrap(), b"\\x");
    assert_eq!(r(Bytes, PgBinary, b"\x01\x02").unwrap(), b"");
    assert_eq!(r(Int { bytes: 4 }, PgText, b"42").unwrap(), b"0");
    assert_eq!(r(Int { bytes: 2 }, PgBinary, &[0, 42]).unwrap(), [0, 0]);
    assert_eq!(r(Int { bytes: 8 }, PgBinary, &[1; 8]).unwrap(), [0; 8]);
    assert_eq!(
        r(Int { bytes: 3 }, MySqlBinary, &[1, 0, 0, 0]).unwrap(),
        [0; 4]
    );
    assert_eq!(r(Int { bytes: 1 }, MySqlBinary, &[7]).unwrap(), [0]);
    assert_eq!(r(Int { bytes: 8 }, MySqlText, b"7").unwrap(), b"0");
    assert_eq!(r(Float { bytes: 8 }, PgText, b"1.5").unwrap(), b"0");
    assert_eq!(
        r(Float { bytes: 4 }, PgBinary, &[0; 4]).unwrap(),
        0f32.to_be_bytes()
    );
    assert_eq!(
        r(Float { bytes: 8 }, MySqlBinary, &[0; 8]).unwrap(),
        0f64.to_le_bytes()
    );
    assert_eq!(r(Numeric, PgText, b"12.50").unwrap(), b"0");
    assert_eq!(r(Numeric, PgBinary, &[0; 8]).unwrap(), [0; 8]);
    assert_eq!(r(Numeric, MySqlBinary, b"12.50").unwrap(), b"0");
    assert_eq!(r(Bool, PgText, b"t").unwrap(), b"f");
    assert_eq!(r(Bool, PgBinary, &[1]).unwrap(), [0]);
    assert_eq!(r(Date, PgText, b"2024-08-17").unwrap(), b"1970-01-01");
    assert_eq!(
        r(Date, PgBinary, &[0; 4]).unwrap(),
        (-10957i32).to_be_bytes()
    );
    assert_eq!(r(Date, MySqlText, b"2024-08-17").unwrap(), b"1970-01-01");
    assert_eq!(
        r(Date, MySqlBinary, &[0xe8, 7, 8, 17]).unwrap(),
        [0xb2, 0x07, 1, 1]
    );
    assert_eq!(
        r(Timestamp, PgText, b"2024-08-17 10:00:00").unwrap(),
        b"1970-01-01 00:00:00"
    );
    assert_eq!(
        r(TimestampTz, PgText, b"2024-08-17 10:00:00+02").unwrap(),
        b"1970-01-01 00:00:00+00"
    );
    assert_eq!(
        r(TimestampTz, PgBinary, &[0; 8]).unwrap(),
        (-946_684_800_000_000i64).to_be_bytes()
    );
    assert_eq!(
        r(Timestamp, MySqlText, b"2024-08-17 10:00:00").unwrap(),
        b"1970-01-01 00:00:00"
    );
    assert_eq!(
        r(Timestamp, MySqlBinary, &[]).unwrap(),
        [0xb2, 0x07, 1, 1, 0, 0, 0]
    );
    assert_eq!(r(Time, PgText, b"12:34:56").unwrap(), b"00:00:00");
    assert_eq!(r(Time, PgBinary, &[1; 8]).unwrap(), [0; 8]);
    assert_eq!(r(Time, MySqlBinary, &[]).unwrap(), [0; 8]);
    assert_eq!(
        r(Uuid, PgText, b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap(),
        b"00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(r(Uuid, PgBinary, &[9; 16]).unwrap(), [0; 16]);
    assert_eq!(r(Json, PgText, b"{\"a\":1}").unwrap(), b"null");
    assert_eq!(r(Json, PgBinary, b"\x01{\"a\":1}").unwrap(), b"\x01null"); // jsonb
    assert_eq!(r(Json, PgBinary, b"{\"a\":1}").unwrap(), b"null"); // json
    assert_eq!(r(Json, MySqlBinary, b"{\"a\":1}").unwrap(), b"null");
    assert_eq!(r(Other, PgText, b"(1,2)"), None);
}

#[test]
fn partial_defaults_and_options() {
    let m = |kf, kl, fill: Option<&str>| {
        MaskFunction::compile(&MaskSpec {
            keep_first: kf,
            keep_last: kl,
            fill: fill.map(String::from),
            ..spec("partial")
        })
        .unwrap()
    };
    assert_eq!(
        run_s(&m(None, Some(4), None), TEXT, "123-45-6789").unwrap(),
        "*******6789"
    );
    assert_eq!(run_s(&m(None, None, None), TEXT, "hello").unwrap(), "*****");
    assert_eq!(
        run_s(&m(Some(2), Some(2), Some("#")), TEXT, "München").unwrap(),
        "Mü###en"
    );
    assert_eq!(
        run_s(&m(Some(1), Some(1), Some("•")), TEXT, "Zoë").unwrap(),
        "Z•ë"
    );
    // Never reveals a short value whole.
    assert_eq!(
        run_s(&m(Some(2), Some(2), None), TEXT, "Zoë").unwrap(),
        "***"
    );
    assert_eq!(
        run_s(&m(None, Some(4), None), TEXT, "6789").unwrap(),
        "****"
    );
    // Multibyte characters are never split.
    let out = run_s(&m(Some(1), None, None), TEXT, "日本語").unwrap();
    assert_eq!(out, "日**");
    // Non-text falls back to redact.
    assert_eq!(
        run(&m(None, Some(4), None), INT4_B, &[0, 0, 0, 9]).unwrap(),
        [0, 0, 0, 0]
    );
    assert_eq!(
        run_s(
            &m(None, Some(2), None),
            ty(TypeKind::Date, Wire::PgText),
            "2024-08-17"
        )
        .unwrap(),
        "1970-01-01"
    );
}

#[test]
fn email() {
    let m = f("email");
    assert_eq!(
        run_s(&m, TEXT, "alice@example.com").unwrap(),
        "a***@example.com"
    );
    assert_eq!(
        run_s(&m, TEXT, "bob.smith+tag@mail.co.uk").unwrap(),
        "b***@mail.co.uk"
    );
    // Not an address: nothing of it, its length included, is kept.
    assert_eq!(run_s(&m, TEXT, "no-at-sign").unwrap(), "***");
    assert_eq!(run_s(&m, TEXT, "ünïcode").unwrap(), "***");
    assert_eq!(run_s(&m, TEXT, "x").unwrap(), "***");
    assert_eq!(
        run_s(&m, ty(TypeKind::Json, Wire::PgText), "\"a@b.c\"").unwrap(),
        "null"
    );
}

#[test]
fn hash_is_deterministic_and_typed() {
    let m = f("hash");
    let h = run_s(&m, TEXT, "alice@example.com").unwrap();
    // HMAC-SHA-256("secret-key", "alice@example.com"), first 16 bytes in hex.
    assert_eq!(h, "e7c2c6e750de17bc7cf066c0fc31f518");
    assert_eq!(
        run_s(&m, ty(TypeKind::Text, Wire::MySqlText), "alice@example.com").unwrap(),
        h
    );
    assert_ne!(run_s(&m, TEXT, "alice@example.org").unwrap(), h);
    // Integers hash their decimal text whatever the wire, masked to the positive range.
    assert_eq!(run_s(&m, INT4_T, "42").unwrap(), "1252908147");
    assert_eq!(
        run(&m, INT4_B, &42i32.to_be_bytes()).unwrap(),
        1_252_908_147i32.to_be_bytes()
    );
    assert_eq!(
        run(&m, INT8_MB, &42i64.to_le_bytes()).unwrap(),
        3_007_394_202_082_204_787i64.to_le_bytes()
    );
    let small = run(
        &m,
        ty(TypeKind::Int { bytes: 2 }, Wire::PgBinary),
        &42i16.to_be_bytes(),
    )
    .unwrap();
    assert!(i16::from_be_bytes([small[0], small[1]]) >= 0);
    // UUIDs: v4-shaped, same result from text and binary.
    let u = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    let text = run_s(&m, ty(TypeKind::Uuid, Wire::PgText), u).unwrap();
    assert_eq!(text.len(), 36);
    assert_eq!(&text[14..15], "4");
    assert!("89ab".contains(&text[19..20]));
    assert_eq!(text.matches('-').count(), 4);
    let raw: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&u.replace('-', "")[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let bin = run(&m, ty(TypeKind::Uuid, Wire::PgBinary), &raw).unwrap();
    let hex: String = bin.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, text.replace('-', ""));
    assert_eq!(
        run(&m, ty(TypeKind::Uuid, Wire::PgText), b"not-a-uuid"),
        None
    );
    // Bytes: the raw digest, or its \x hex form in PostgreSQL text; both agree.
    let b = run(&m, ty(TypeKind::Bytes, Wire::PgBinary), b"\xde\xad").unwrap();
    assert_eq!(b.len(), 32);
    let t = run_s(&m, ty(TypeKind::Bytes, Wire::PgText), "\\xdead").unwrap();
    assert_eq!(t.len(), 66);
    assert_eq!(
        &t[2..],
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    );
    // Numeric: an integer with as many integer digits; binary and text agree.
    let n = run_s(&m, ty(TypeKind::Numeric, Wire::PgText), "1234.50").unwrap();
    assert_eq!(n.len(), 4);
    assert!(n.bytes().all(|c| c.is_ascii_digit()) && !n.starts_with('0'));
    let n_bin = run(
        &m,
        ty(TypeKind::Numeric, Wire::PgBinary),
        &[0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xd2, 0x13, 0x88],
    )
    .unwrap();
    let v: u16 = n.parse().unwrap();
    assert_eq!(
        n_bin,
        [[0, 1, 0, 0, 0, 0, 0, 0].as_slice(), &v.to_be_bytes()].concat()
    );
    // Types hash cannot produce: NULL.
    assert_eq!(
        run(&m, ty(TypeKind::Date, Wire::PgText), b"2024-01-01"),
        None
    );
    assert_eq!(
        run(&m, ty(TypeKind::Float { bytes: 8 }, Wire::PgText), b"1.5"),
        None
    );
}

#[test]
fn generalize_dates_and_timestamps() {
    // Timestamps keep the year by default, as dates do; `precision = "day"` keeps the day.
    let year = f("generalize");
    let day = MaskFunction::compile(&MaskSpec {
        precision: Some("day".into()),
        ..spec("generalize")
    })
    .unwrap();
    let explicit_year = MaskFunction::compile(&MaskSpec {
        precision: Some("year".into()),
        ..spec("generalize")
    })
    .unwrap();
    use TypeKind::*;
    for (ty, v) in [
        (ty(Timestamp, PgText), "1985-03-14 10:11:12"),
        (ty(TimestampTz, PgText), "1985-03-14 10:11:12+00"),
        (ty(Timestamp, MySqlText), "1985-03-14 10:11:12.123"),
    ] {
        let masked = run_s(&year, ty, v).unwrap();
        assert!(masked.starts_with("1985-01-01 00:00:00"), "{v} → {masked}");
        assert_eq!(run_s(&explicit_year, ty, v).unwrap(), masked);
    }
    use Wire::*;
    assert_eq!(
        run_s(&day, ty(Date, PgText), "1987-06-05").unwrap(),
        "1987-01-01"
    );
    assert_eq!(
        run_s(&day, ty(Date, PgText), "0044-03-15 BC").unwrap(),
        "0044-01-01 BC"
    );
    assert_eq!(
        run_s(&day, ty(Date, PgText), "infinity").unwrap(),
        "infinity"
    );
    assert_eq!(
        run_s(&day, ty(Date, MySqlText), "1987-06-05").unwrap(),
        "1987-01-01"
    );
    assert_eq!(
        run_s(&day, ty(Date, MySqlText), "0000-00-00").unwrap(),
        "0000-00-00"
    );
    // 1987-06-05 is day -4593 from 2000-01-01; 1987-01-01 is -4748.
    assert_eq!(
        run(&day, ty(Date, PgBinary), &(-4593i32).to_be_bytes()).unwrap(),
        (-4748i32).to_be_bytes()
    );
    assert_eq!(
        run(&day, ty(Date, MySqlBinary), &[0xc3, 0x07, 6, 5]).unwrap(),
        [0xc3, 0x07, 1, 1]
    );
    assert_eq!(run(&day, ty(Date, PgText), b"1987-13-05"), None);

    let ts = ty(Timestamp, PgText);
    assert_eq!(
        run_s(&day, ts, "2024-08-17 13:45:10.123456").unwrap(),
        "2024-08-17 00:00:00"
    );
    assert_eq!(
        run_s(&year, ts, "2024-08-17 13:45:10").unwrap(),
        "2024-01-01 00:00:00"
    );
    let tz = ty(TimestampTz, PgText);
    assert_eq!(
        run_s(&day, tz, "2024-08-17 13:45:10+05:30").unwrap(),
        "2024-08-17 00:00:00+05:30"
    );
    assert_eq!(
        run_s(&year, tz, "2024-08-17 13:45:10-07").unwrap(),
        "2024-01-01 00:00:00-07"
    );
    // Binary: µs since 2000-01-01 UTC. 2000-01-02 12:00 → 2000-01-02 00:00.
    let us = 86_400_000_000i64 + 43_200_000_000;
    assert_eq!(
        run(&day, ty(TimestampTz, PgBinary), &us.to_be_bytes()).unwrap(),
        86_400_000_000i64.to_be_bytes()
    );
    assert_eq!(
        run(&year, ty(Timestamp, PgBinary), &us.to_be_bytes()).unwrap(),
        0i64.to_be_bytes()
    );
    // Before 2000: floors towards the past.
    assert_eq!(
        run(&day, ty(Timestamp, PgBinary), &(-1i64).to_be_bytes()).unwrap(),
        (-86_400_000_000i64).to_be_bytes()
    );
    assert_eq!(
        run_s(&day, ty(Timestamp, MySqlText), "2024-08-17 13:45:10").unwrap(),
        "2024-08-17 00:00:00"
    );
    assert_eq!(
        run(
            &year,
            ty(Timestamp, MySqlBinary),
            &[0xe8, 7, 8, 17, 13, 45, 10, 1, 0, 0, 0]
        )
        .unwrap(),
        [0xe8, 7, 1, 1, 0, 0, 0]
    );
    assert_eq!(run(&day, ty(Time, PgText), b"12:00:00"), None);
    assert_eq!(run(&day, TEXT, b"text"), None);
}

#[test]
fn generalize_numbers() {
    let ten = f("generalize");
    let step = |s: f64| {
        MaskFunction::compile(&MaskSpec {
            step: Some(s),
            ..spec("generalize")
        })
        .unwrap()
    };
    use TypeKind::*;
    use Wire::*;
    assert_eq!(run_s(&ten, INT4_T, "1234").unwrap(), "1230");
    assert_eq!(run_s(&ten, INT4_T, "-1").unwrap(), "-10");
    assert_eq!(
        run(&ten, INT4_B, &47i32.to_be_bytes()).unwrap(),
        40i32.to_be_bytes()
    );
    assert_eq!(
        run(&ten, INT8_MB, &(-47i64).to_le_bytes()).unwrap(),
        (-50i64).to_le_bytes()
    );
    assert_eq!(
        run(
            &step(1000.0),
            ty(Int { bytes: 2 }, PgBinary),
            &(-32768i16).to_be_bytes()
        )
        .unwrap(),
        (-32768i16).to_be_bytes()
    );
    assert_eq!(
        run_s(&step(5.0), ty(Int { bytes: 1 }, MySqlText), "254").unwrap(),
        "250"
    );
    assert_eq!(
        run_s(&ten, ty(Float { bytes: 8 }, PgText), "12.7").unwrap(),
        "10"
    );
    assert_eq!(
        run_s(&step(0.1), ty(Float { bytes: 8 }, PgText), "0.37").unwrap(),
        "0.3"
    );
    assert_eq!(
        run_s(&ten, ty(Float { bytes: 8 }, PgText), "NaN").unwrap(),
        "NaN"
    );
    assert_eq!(
        run(
            &step(0.5),
            ty(Float { bytes: 4 }, MySqlBinary),
            &1.7f32.to_le_bytes()
        )
        .unwrap(),
        1.5f32.to_le_bytes()
    );
    assert_eq!(
        run_s(&ten, ty(Numeric, PgText), "123.45").unwrap(),
        "120.00"
    );
    assert_eq!(
        run_s(&step(0.25), ty(Numeric, MySqlText), "-3.10").unwrap(),
        "-3.25"
    );
    // numeric 12345.678 in binary → 12340.000 (ndigits 2, weight 1, dscale 3: 1 2340).
    let bin = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
    assert_eq!(
        run(&ten, ty(Numeric, PgBinary), &bin).unwrap(),
        [0, 2, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x24]
    );
    assert_eq!(run(&ten, ty(Numeric, PgText), b"12abc"), None);
}

#[test]
fn digits_format_preserving() {
    let plain = MaskFunction::compile(&spec("digits")).unwrap();
    let keyed = MaskFunction::compile(&MaskSpec {
        key: Some(KEY.to_vec()),
        ..spec("digits")
    })
    .unwrap();
    assert_eq!(
        run_s(&plain, TEXT, "+1 (555) 010-9999").unwrap(),
        "+0 (000) 000-0000"
    );
    let a = run_s(&keyed, TEXT, "4111-1111-1111-1111").unwrap();
    assert_eq!(a, run_s(&keyed, TEXT, "4111-1111-1111-1111").unwrap());
    assert_ne!(a, "4111-1111-1111-1111");
    assert_eq!(a.len(), 19);
    assert!(a.chars().enumerate().all(|(i, c)| if i % 5 == 4 {
        c == '-'
    } else {
        c.is_ascii_digit()
    }));
    // Integers keep sign and digit count, and stay in range.
    let n = run_s(&keyed, INT4_T, "-123456").unwrap();
    assert!(
        n.starts_with('-') && n.len() == 7 && !n[1..].starts_with('0'),
        "{n}"
    );
    let b = run(
        &keyed,
        ty(TypeKind::Int { bytes: 2 }, Wire::PgBinary),
        &32767i16.to_be_bytes(),
    )
    .unwrap();
    let v = i16::from_be_bytes([b[0], b[1]]);
    assert!((10000..=32767).contains(&v), "{v}");
    assert_eq!(run_s(&plain, INT4_T, "98765").unwrap(), "10000");
    assert_eq!(
        run_s(&plain, ty(TypeKind::Date, Wire::PgText), "2024-01-01").unwrap(),
        "1970-01-01"
    );
}

#[test]
fn regex_replace() {
    let m = MaskFunction::compile(&MaskSpec {
        pattern: Some(r"(\d{3})-(\d{2})-(\d{4})".into()),
        replacement: Some("XXX-XX-$3".into()),
        ..spec("regex_replace")
    })
    .unwrap();
    assert_eq!(
        run_s(&m, TEXT, "ssn 123-45-6789, 987-65-4321").unwrap(),
        "ssn XXX-XX-6789, XXX-XX-4321"
    );
    assert_eq!(run_s(&m, TEXT, "no match").unwrap(), "no match");
    assert_eq!(run(&m, INT4_B, &[0, 0, 0, 1]).unwrap(), [0, 0, 0, 0]);
}

#[test]
fn constant_per_type() {
    let c = |v: &str| {
        MaskFunction::compile(&MaskSpec {
            value: Some(v.into()),
            ..spec("constant")
        })
        .unwrap()
    };
    use TypeKind::*;
    use Wire::*;
    assert_eq!(run_s(&c("n/a"), TEXT, "x").unwrap(), "n/a");
    assert_eq!(run(&c("n/a"), INT4_T, b"1"), None);
    assert_eq!(
        run(&c("-7"), INT4_B, b"\0\0\0\x01").unwrap(),
        (-7i32).to_be_bytes()
    );
    assert_eq!(
        run(&c("-7"), INT8_MB, &[0; 8]).unwrap(),
        (-7i64).to_le_bytes()
    );
    assert_eq!(run(&c("70000"), ty(Int { bytes: 2 }, PgText), b"1"), None);
    assert_eq!(
        run(&c("2.5"), ty(Float { bytes: 8 }, PgBinary), &[0; 8]).unwrap(),
        2.5f64.to_be_bytes()
    );
    assert_eq!(
        run(&c("2.5"), ty(Numeric, PgBinary), &[0; 8]).unwrap(),
        [0, 2, 0, 0, 0, 0, 0, 1, 0, 2, 0x13, 0x88]
    );
    assert_eq!(run(&c("true"), ty(Bool, PgText), b"f").unwrap(), b"t");
    assert_eq!(
        run(&c("2000-01-02"), ty(Date, PgBinary), &[0; 4]).unwrap(),
        1i32.to_be_bytes()
    );
    assert_eq!(
        run_s(&c("2000-01-02"), ty(TimestampTz, PgText), "x").unwrap(),
        "2000-01-02 00:00:00+00"
    );
    assert_eq!(
        run(
            &c("2000-01-01 01:00:00+01"),
            ty(TimestampTz, PgBinary),
            &[0; 8]
        )
        .unwrap(),
        0i64.to_be_bytes()
    );
    assert_eq!(
        run(
            &c("2000-01-01 01:00:00+01"),
            ty(Timestamp, MySqlBinary),
            &[]
        )
        .unwrap(),
        [0xd0, 7, 1, 1, 1, 0, 0]
    );
    assert_eq!(
        run(&c("01:02:03"), ty(Time, MySqlBinary), &[]).unwrap(),
        [0, 0, 0, 0, 0, 1, 2, 3]
    );
    assert_eq!(
        run(
            &c("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            ty(Uuid, PgBinary),
            &[0; 16]
        )
        .unwrap()[..2],
        [0xa0, 0xee]
    );
    assert_eq!(
        run(&c("{\"masked\":true}"), ty(Json, PgBinary), b"\x01{}").unwrap(),
        b"\x01{\"masked\":true}"
    );
    assert_eq!(run(&c("not json"), ty(Json, PgText), b"{}"), None);
    assert_eq!(
        run_s(&c("AB"), ty(Bytes, PgText), "\\x00").unwrap(),
        "\\x4142"
    );
}

#[test]
fn compile_errors_name_the_key() {
    let err = |s: MaskSpec| MaskFunction::compile(&s).unwrap_err();
    assert!(err(spec("scramble")).contains("unknown mask `function` \"scramble\""));
    assert_eq!(
        err(MaskSpec {
            keep_first: Some(1),
            ..spec("email")
        }),
        "mask function `email` does not take `keep_first`"
    );
    assert_eq!(
        err(MaskSpec {
            step: Some(1.0),
            ..spec("partial")
        }),
        "mask function `partial` does not take `step`"
    );
    assert!(err(spec("hash")).contains("key_env"));
    assert!(err(MaskSpec {
        key: Some(vec![]),
        ..spec("hash")
    })
    .contains("empty"));
    assert!(err(MaskSpec {
        fill: Some("**".into()),
        ..spec("partial")
    })
    .contains("`fill`"));
    assert!(err(MaskSpec {
        fill: Some(String::new()),
        ..spec("partial")
    })
    .contains("`fill`"));
    assert!(err(MaskSpec {
        step: Some(0.0),
        ..spec("generalize")
    })
    .contains("`step`"));
    assert!(err(MaskSpec {
        step: Some(f64::INFINITY),
        ..spec("generalize")
    })
    .contains("`step`"));
    assert!(err(MaskSpec {
        precision: Some("hour".into()),
        ..spec("generalize")
    })
    .contains("`precision`"));
    assert!(err(MaskSpec {
        pattern: Some("(".into()),
        replacement: Some("x".into()),
        ..spec("regex_replace")
    })
    .contains("bad `pattern`"));
    assert!(err(MaskSpec {
        pattern: Some("a".into()),
        ..spec("regex_replace")
    })
    .contains("`replacement`"));
    assert!(err(spec("constant")).contains("`value`"));
    assert!(err(MaskSpec {
        value: Some("1".into()),
        ..spec("redact")
    })
    .contains("`value`"));
    // The key never shows in Debug output.
    let m = f("hash");
    assert!(!format!("{m:?}").contains("secret"));
    assert!(!format!(
        "{:?}",
        MaskSpec {
            key: Some(KEY.to_vec()),
            ..spec("hash")
        }
    )
    .contains("115"));
    assert_eq!(m.name(), "hash");
}
