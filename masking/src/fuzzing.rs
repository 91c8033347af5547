//! An entry point for coverage-guided fuzzing (`fuzz/`) and for the test that replays its
//! corpus (`masking/tests/fuzz_corpus.rs`): arbitrary bytes through every mask function, as a
//! value of every column type and wire format, and through the detectors. Must never panic.
//! Not an API.

use crate::{ColumnType, DetectorKind, DetectorSet, MaskFunction, MaskSpec, FUNCTIONS};

/// PostgreSQL type OIDs of every [`crate::TypeKind`], and one sluice does not know (point).
const PG_OIDS: [u32; 18] = [
    25, 1043, 1042, 19, 21, 23, 20, 700, 701, 1700, 16, 1082, 1114, 1184, 1083, 2950, 3802, 600,
];

/// `data`: function, wire and type, two parameters, then the value.
pub fn mask_value(data: &[u8]) {
    let [f, wire, ty, a, b, value @ ..] = data else {
        return;
    };
    let Some(function) = compile(*f, *a, *b) else {
        return;
    };
    let column = match wire % 4 {
        0 => ColumnType::pg(PG_OIDS[usize::from(*ty) % PG_OIDS.len()], false),
        1 => ColumnType::pg(PG_OIDS[usize::from(*ty) % PG_OIDS.len()], true),
        // The charset decides between text and bytes: utf8mb4 or binary.
        w => ColumnType::mysql(*ty, if a & 1 == 0 { 45 } else { 63 }, w == 3),
    };
    let mut out = Vec::new();
    let _ = function.apply(column, value, &mut out);
    out.clear();
    detectors().mask_hits(value, &function, &mut out);
}

/// One of the mask functions, with parameters from two bytes.
fn compile(f: u8, a: u8, b: u8) -> Option<MaskFunction> {
    let name = FUNCTIONS[usize::from(f) % FUNCTIONS.len()];
    let spec = MaskSpec {
        function: name.to_string(),
        keep_first: (name == "partial").then_some(u32::from(a % 8)),
        keep_last: (name == "partial").then_some(u32::from(b % 8)),
        step: (name == "generalize").then_some(f64::from(b) / 4.0),
        pattern: (name == "regex_replace").then(|| "[0-9]+".to_string()),
        replacement: (name == "regex_replace").then(|| "#".to_string()),
        value: (name == "constant").then(|| "x".to_string()),
        key: matches!(name, "hash" | "digits").then(|| vec![a, b, 7, 7]),
        precision: (name == "generalize").then(|| ["day", "year"][usize::from(a & 1)].into()),
        ..MaskSpec::default()
    };
    MaskFunction::compile(&spec).ok()
}

fn detectors() -> &'static DetectorSet {
    static SET: std::sync::OnceLock<DetectorSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let kinds = [
            "credit_card",
            "email",
            "us_ssn",
            "iban",
            "jwt",
            "bearer_token",
        ]
        .iter()
        .filter_map(|k| DetectorKind::parse(k).ok())
        .collect::<Vec<_>>();
        DetectorSet::new(
            &kinds,
            &["secret-[a-z]+".to_string()],
            &["hunter2".to_string()],
        )
        .expect("the fuzzing detectors compile")
    })
}
