//! Property tests: no input bytes make a function or detector panic, and outputs are
//! valid for their type.

use masking::{
    ColumnType, DetectorKind, DetectorSet, MaskFunction, MaskOutcome, MaskSpec, TypeKind, Wire,
};
use proptest::prelude::*;

const WIRES: [Wire; 4] = [
    Wire::PgText,
    Wire::PgBinary,
    Wire::MySqlText,
    Wire::MySqlBinary,
];

fn kinds() -> Vec<TypeKind> {
    use TypeKind::*;
    vec![
        Text,
        Bool,
        Int { bytes: 1 },
        Int { bytes: 2 },
        Int { bytes: 3 },
        Int { bytes: 4 },
        Int { bytes: 8 },
        Float { bytes: 4 },
        Float { bytes: 8 },
        Numeric,
        Date,
        Timestamp,
        TimestampTz,
        Time,
        Uuid,
        Json,
        Bytes,
        Other,
    ]
}

fn functions() -> Vec<MaskFunction> {
    let key = Some(b"k".to_vec());
    let specs = [
        MaskSpec {
            function: "null".into(),
            ..Default::default()
        },
        MaskSpec {
            function: "redact".into(),
            ..Default::default()
        },
        MaskSpec {
            function: "partial".into(),
            keep_first: Some(1),
            keep_last: Some(2),
            fill: Some("é".into()),
            ..Default::default()
        },
        MaskSpec {
            function: "email".into(),
            ..Default::default()
        },
        MaskSpec {
            function: "hash".into(),
            key: key.clone(),
            ..Default::default()
        },
        MaskSpec {
            function: "generalize".into(),
            ..Default::default()
        },
        MaskSpec {
            function: "generalize".into(),
            step: Some(0.25),
            precision: Some("year".into()),
            ..Default::default()
        },
        MaskSpec {
            function: "digits".into(),
            key,
            ..Default::default()
        },
        MaskSpec {
            function: "digits".into(),
            ..Default::default()
        },
        MaskSpec {
            function: "regex_replace".into(),
            pattern: Some("(.)(.)".into()),
            replacement: Some("$2$1".into()),
            ..Default::default()
        },
        MaskSpec {
            function: "constant".into(),
            value: Some("7".into()),
            ..Default::default()
        },
        MaskSpec {
            function: "constant".into(),
            value: Some("2001-02-03".into()),
            ..Default::default()
        },
    ];
    specs
        .iter()
        .map(|s| MaskFunction::compile(s).unwrap())
        .collect()
}

fn is_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// Checks that `out` is a valid encoding of `ty` (for the types drivers are strict about).
fn valid(ty: ColumnType, out: &[u8]) -> bool {
    let text = std::str::from_utf8(out).unwrap_or("\u{fffd}");
    match (ty.kind, ty.wire) {
        (TypeKind::Int { bytes }, Wire::PgText | Wire::MySqlText) => {
            let bits = u32::from(bytes) * 8;
            let min = -(1i128 << (bits - 1));
            let max = if ty.wire == Wire::PgText {
                (1i128 << (bits - 1)) - 1
            } else {
                (1i128 << bits) - 1
            };
            text.parse::<i128>().is_ok_and(|n| (min..=max).contains(&n))
        }
        (TypeKind::Int { bytes }, _) => {
            out.len() == if bytes == 3 { 4 } else { usize::from(bytes) }
        }
        (TypeKind::Date, Wire::PgBinary | Wire::MySqlBinary) => out.len() == 4,
        (TypeKind::Date, _) => {
            let d = text.strip_suffix(" BC").unwrap_or(text);
            text.ends_with("infinity")
                || (d.len() >= 10
                    && is_digits(&out[..d.len() - 6])
                    && d.as_bytes()[d.len() - 6] == b'-'
                    && d.as_bytes()[d.len() - 3] == b'-')
        }
        (TypeKind::Timestamp | TypeKind::TimestampTz, Wire::PgBinary) => out.len() == 8,
        (TypeKind::Timestamp | TypeKind::TimestampTz, Wire::MySqlBinary) => {
            matches!(out.len(), 0 | 4 | 7 | 11)
        }
        (TypeKind::Uuid, Wire::PgBinary) => out.len() == 16,
        (TypeKind::Uuid, _) => {
            out.len() == 36
                && out.iter().enumerate().all(|(i, &c)| {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        c == b'-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                })
        }
        (TypeKind::Numeric, Wire::PgBinary) => {
            out.len() >= 8 && {
                let nd = i16::from_be_bytes([out[0], out[1]]);
                nd >= 0
                    && out.len() == 8 + 2 * nd as usize
                    && out[8..]
                        .chunks(2)
                        .all(|c| u16::from_be_bytes([c[0], c[1]]) <= 9999)
            }
        }
        (TypeKind::Bool, Wire::PgBinary | Wire::MySqlBinary) => out.len() == 1 && out[0] <= 1,
        (TypeKind::Bool, Wire::PgText) => out == b"t" || out == b"f",
        (TypeKind::Float { bytes }, Wire::PgBinary | Wire::MySqlBinary) => {
            out.len() == usize::from(bytes)
        }
        (TypeKind::Float { .. }, _) => {
            text.parse::<f64>().is_ok() || matches!(text, "NaN" | "Infinity" | "-Infinity")
        }
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn apply_never_panics_and_outputs_are_valid(value in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut out = Vec::new();
        for f in functions() {
            for kind in kinds() {
                for wire in WIRES {
                    let ty = ColumnType::new(kind, wire);
                    if f.apply(ty, &value, &mut out) == MaskOutcome::Value {
                        prop_assert!(valid(ty, &out), "{} on {ty:?}: {value:?} -> {out:?}", f.name());
                    }
                }
            }
        }
    }

    #[test]
    fn valid_ints_always_mask_to_valid_ints(n in any::<i64>(), wire_i in 0usize..4, width_i in 0usize..5) {
        let bytes = [1u8, 2, 3, 4, 8][width_i];
        let wire = WIRES[wire_i];
        prop_assume!(!(wire == Wire::PgBinary && matches!(bytes, 1 | 3)));
        let bits = u32::from(bytes) * 8;
        let n = i128::from(n).rem_euclid(1i128 << bits) - (1i128 << (bits - 1));
        let v = match wire {
            Wire::PgText | Wire::MySqlText => n.to_string().into_bytes(),
            Wire::PgBinary => (n as i64).to_be_bytes()[8 - usize::from(bytes)..].to_vec(),
            Wire::MySqlBinary => (n as i64).to_le_bytes()[..if bytes == 3 { 4 } else { usize::from(bytes) }].to_vec(),
        };
        let ty = ColumnType::new(TypeKind::Int { bytes }, wire);
        let mut out = Vec::new();
        for f in functions() {
            let r = f.apply(ty, &v, &mut out);
            if f.name() != "null" && f.name() != "constant" {
                prop_assert_eq!(r, MaskOutcome::Value, "{} on {:?} {:?}", f.name(), ty, v);
            }
            if r == MaskOutcome::Value {
                prop_assert!(valid(ty, &out), "{} {ty:?} {v:?} -> {out:?}", f.name());
            }
        }
    }

    #[test]
    fn valid_dates_generalize_to_january_first(days in -700_000i32..2_900_000) {
        let f = MaskFunction::compile(&MaskSpec { function: "generalize".into(), ..Default::default() }).unwrap();
        let mut out = Vec::new();
        let ty = ColumnType::pg(1082, true);
        prop_assert_eq!(f.apply(ty, &days.to_be_bytes(), &mut out), MaskOutcome::Value);
        let jan1 = i32::from_be_bytes([out[0], out[1], out[2], out[3]]);
        prop_assert!(jan1 <= days && days - jan1 < 366);
        let text_ty = ColumnType::pg(1082, false);
        let mut text = Vec::new();
        let redact = MaskFunction::compile(&MaskSpec { function: "constant".into(), value: Some("2000-01-01".into()), ..Default::default() }).unwrap();
        prop_assert_eq!(redact.apply(text_ty, b"x", &mut text), MaskOutcome::Value);
        prop_assert_eq!(text, b"2000-01-01".to_vec());
    }

    #[test]
    fn detectors_never_panic(value in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'4'), Just(b' '), Just(b'-'), Just(b'@'), Just(b'.'), Just(b'A')], 0..200)) {
        let set = DetectorSet::new(&DetectorKind::ALL, &[r"x\d+".to_string()], &["ab".to_string(), "a".to_string()]).unwrap();
        let hits = set.find(&value);
        prop_assert_eq!(set.contains(&value), !hits.is_empty());
        for w in hits.windows(2) {
            prop_assert!(w[0].range.end <= w[1].range.start);
        }
        for h in &hits {
            prop_assert!(h.range.start < h.range.end && h.range.end <= value.len());
        }
        let redact = MaskFunction::compile(&MaskSpec { function: "redact".into(), ..Default::default() }).unwrap();
        let mut out = Vec::new();
        prop_assert_eq!(set.mask_hits(&value, &redact, &mut out), !hits.is_empty());
    }
}
