//! Every mask function × tight declared sizes: the masked value fits its column
//! (`varchar(n)`/`char(n)`/MySQL lengths in characters, `numeric(p, s)`), stays valid for
//! the type and stays deterministic.

use masking::{ColumnType, MaskFunction, MaskOutcome, MaskSpec, Size, TypeKind, Wire};

fn compile(function: &str) -> MaskFunction {
    let mut spec = MaskSpec {
        function: function.into(),
        ..Default::default()
    };
    match function {
        "hash" => spec.key = Some(b"k".to_vec()),
        "partial" => spec.keep_last = Some(4),
        "generalize" => spec.step = Some(1000.0),
        "regex_replace" => {
            spec.pattern = Some("[0-9]".into());
            spec.replacement = Some("<digit>".into());
        }
        "constant" => spec.value = Some("1234567.891".into()),
        _ => {}
    }
    MaskFunction::compile(&spec).unwrap()
}

fn all() -> Vec<MaskFunction> {
    masking::FUNCTIONS.iter().map(|f| compile(f)).collect()
}

fn run(m: &MaskFunction, ty: ColumnType, v: &[u8]) -> Option<Vec<u8>> {
    let mut out = b"left over".to_vec();
    (m.apply(ty, v, &mut out) == MaskOutcome::Value).then_some(out)
}

fn sized(kind: TypeKind, wire: Wire, size: Size) -> ColumnType {
    ColumnType {
        size,
        ..ColumnType::new(kind, wire)
    }
}

const TEXT_WIRES: [Wire; 4] = [
    Wire::PgText,
    Wire::PgBinary,
    Wire::MySqlText,
    Wire::MySqlBinary,
];

const VALUES: [&str; 6] = [
    "4111-1111-1111-1111",
    "ab@x.io",
    "z@example.org",
    "ünïcödé-名前-1",
    "1234",
    "x",
];

#[test]
fn every_function_fits_every_tight_text_length() {
    for m in all() {
        for wire in TEXT_WIRES {
            for v in VALUES {
                let len = v.chars().count() as u32;
                // Every limit the value itself fits, down to its own length.
                for n in len..=len + 40 {
                    let ty = sized(TypeKind::Text, wire, Size::Chars(n));
                    let Some(out) = run(&m, ty, v.as_bytes()) else {
                        continue;
                    };
                    let text = String::from_utf8(out.clone()).expect("whole characters");
                    assert!(
                        text.chars().count() as u32 <= n,
                        "{} on {v:?} in {n} chars: {text:?}",
                        m.name()
                    );
                    assert_eq!(run(&m, ty, v.as_bytes()), Some(out), "deterministic");
                }
            }
        }
    }
}

#[test]
fn a_short_hash_is_the_long_hash_cut() {
    let m = compile("hash");
    let long = run(&m, ColumnType::pg(1043, false), b"4111-1111-1111-1111").unwrap();
    assert_eq!(long.len(), 32);
    for n in 1..32 {
        let ty = ColumnType::pg(1043, false).with_pg_typmod(n + 4);
        let short = run(&m, ty, b"4111-1111-1111-1111").unwrap();
        assert_eq!(short, long[..n as usize], "varchar({n})");
    }
    // Different values still give different short hashes.
    let ty = ColumnType::pg(1043, false).with_pg_typmod(19 + 4);
    assert_ne!(
        run(&m, ty, b"4111-1111-1111-1111"),
        run(&m, ty, b"4111-1111-1111-1112")
    );
}

#[test]
fn a_short_email_mask_still_hides_the_local_part() {
    let m = compile("email");
    let ty = |n: u32| ColumnType::pg(1043, false).with_pg_typmod(n as i32 + 4);
    let s = |n: u32, v: &str| String::from_utf8(run(&m, ty(n), v.as_bytes()).unwrap()).unwrap();
    assert_eq!(s(100, "ab@x.io"), "a***@x.io");
    assert_eq!(s(8, "ab@x.io"), "a**@x.io");
    assert_eq!(s(7, "ab@x.io"), "a*@x.io");
    assert_eq!(s(14, "z@example.org"), "**@example.org");
    assert_eq!(s(13, "z@example.org"), "*@example.org");
    assert_eq!(s(7, "alice@x.io"), "a*@x.io");
}

#[test]
fn partial_and_digits_already_fit_and_are_unchanged() {
    let v = b"4111-1111-1111-1111";
    for name in ["partial", "digits"] {
        let m = compile(name);
        let free = run(&m, ColumnType::pg(25, false), v);
        let tight = run(&m, ColumnType::pg(1043, false).with_pg_typmod(19 + 4), v);
        assert_eq!(free, tight, "{name}");
    }
    let m = compile("partial");
    assert_eq!(
        run(&m, ColumnType::pg(1043, false).with_pg_typmod(23), v).unwrap(),
        b"***************1111"
    );
}

#[test]
fn redact_and_constant_are_cut_in_a_char_4_column() {
    let bpchar4 = ColumnType::pg(1042, false).with_pg_typmod(8);
    assert_eq!(run(&compile("redact"), bpchar4, b"1234").unwrap(), b"[RED");
    assert_eq!(
        run(&compile("constant"), bpchar4, b"1234").unwrap(),
        b"1234"
    );
    let mysql_char4 = ColumnType::mysql(254, 45, false).with_mysql_length(16, 0, 0, 45);
    assert_eq!(
        run(&compile("redact"), mysql_char4, b"1234").unwrap(),
        b"[RED"
    );
}

/// A PostgreSQL binary numeric as text (enough of it to count digits).
fn pg_binary_numeric_text(v: &[u8]) -> String {
    let be = |i: usize| i16::from_be_bytes([v[i], v[i + 1]]);
    let (ndigits, weight, sign, dscale) = (be(0), be(2), be(4) as u16, be(6) as usize);
    if sign == 0xC000 {
        return "NaN".into();
    }
    let digit = |i: i32| -> u16 {
        if i < 0 || i >= i32::from(ndigits) {
            0
        } else {
            be(8 + 2 * i as usize) as u16
        }
    };
    let mut int = String::new();
    for i in 0..=i32::from(weight) {
        int += &format!("{:04}", digit(i));
    }
    let int = int.trim_start_matches('0');
    let mut frac = String::new();
    let mut i = i32::from(weight) + 1;
    while frac.len() < dscale {
        frac += &format!("{:04}", digit(i));
        i += 1;
    }
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    let int = if int.is_empty() { "0" } else { int };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

fn numeric_wire(wire: Wire, text: &str) -> Vec<u8> {
    if wire != Wire::PgBinary {
        return text.as_bytes().to_vec();
    }
    // Encode through `constant`, which parses text and writes the wire form.
    let c = MaskFunction::compile(&MaskSpec {
        function: "constant".into(),
        value: Some(text.into()),
        ..Default::default()
    })
    .unwrap();
    run(
        &c,
        ColumnType::new(TypeKind::Numeric, wire),
        b"\0\0\0\0\0\0\0\0",
    )
    .unwrap()
}

/// Integer and fraction digit counts of a numeric value on `wire`.
fn digit_counts(wire: Wire, v: &[u8]) -> (usize, usize) {
    let text = if wire == Wire::PgBinary {
        pg_binary_numeric_text(v)
    } else {
        String::from_utf8(v.to_vec()).unwrap()
    };
    let t = text.trim_start_matches('-');
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    assert!(
        int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()),
        "{text}"
    );
    (int.trim_start_matches('0').len(), frac.len())
}

#[test]
fn every_function_fits_every_tight_numeric_precision() {
    let inputs = ["0", "1.5", "-9.99", "123.45", "-999.99", "99999", "0.01"];
    for m in all() {
        for wire in TEXT_WIRES {
            for precision in 1u16..=8 {
                for scale in 0..=precision {
                    let size = Size::Decimal { precision, scale };
                    let ty = sized(TypeKind::Numeric, wire, size);
                    for v in inputs {
                        let (i, f) = digit_counts(Wire::PgText, v.as_bytes());
                        if i > usize::from(precision - scale) || f > usize::from(scale) {
                            continue; // the column could not hold the input
                        }
                        let input = numeric_wire(wire, v);
                        let Some(out) = run(&m, ty, &input) else {
                            continue;
                        };
                        let (i, f) = digit_counts(wire, &out);
                        assert!(
                            i <= usize::from(precision - scale) && f <= usize::from(scale),
                            "{} on {v} in numeric({precision},{scale}) {wire:?}: {out:?}",
                            m.name()
                        );
                        assert_eq!(run(&m, ty, &input), Some(out), "deterministic");
                    }
                }
            }
        }
    }
}

#[test]
fn numbers_out_of_range_are_clamped_or_cut() {
    let n52 = |wire| ColumnType::pg(1700, wire == Wire::PgBinary).with_pg_typmod((5 << 16 | 2) + 4);
    let constant = compile("constant");
    assert_eq!(
        run(&constant, n52(Wire::PgText), b"1.00").unwrap(),
        b"999.99"
    );
    let binary = run(
        &constant,
        n52(Wire::PgBinary),
        &numeric_wire(Wire::PgBinary, "1.00"),
    );
    assert_eq!(pg_binary_numeric_text(&binary.unwrap()), "999.99");
    let generalize = compile("generalize");
    assert_eq!(
        run(&generalize, n52(Wire::PgText), b"-999.99").unwrap(),
        b"-999.99"
    );
    let mysql = ColumnType::mysql(246, 63, false).with_mysql_length(7, 2, 0, 63);
    assert_eq!(run(&constant, mysql, b"1.00").unwrap(), b"999.99");
}

#[test]
fn bit_columns_get_whole_bytes_with_no_bit_above_their_width() {
    for wire in [Wire::MySqlText, Wire::MySqlBinary] {
        for bits in [1u32, 3, 8, 12, 64] {
            let ty = ColumnType::mysql(16, 63, wire == Wire::MySqlBinary).with_bit_width(bits);
            for m in all() {
                let Some(out) = run(&m, ty, &[0x05]) else {
                    continue;
                };
                let bytes = bits.div_ceil(8) as usize;
                assert_eq!(out.len(), bytes, "{} on BIT({bits}): {out:?}", m.name());
                let spare = bytes as u32 * 8 - bits;
                if spare > 0 {
                    assert_eq!(
                        out[0] >> (8 - spare),
                        0,
                        "{} on BIT({bits}): {out:?}",
                        m.name()
                    );
                }
            }
        }
    }
}
