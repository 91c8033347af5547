//! ns per masked field for each function, and detector throughput.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use masking::{ColumnType, DetectorKind, DetectorSet, MaskFunction, MaskSpec};

fn spec(function: &str) -> MaskSpec {
    MaskSpec {
        function: function.into(),
        ..Default::default()
    }
}

fn functions(c: &mut Criterion) {
    let text = ColumnType::pg(25, false);
    let int8_bin = ColumnType::pg(20, true);
    let int8_text = ColumnType::pg(20, false);
    let date_bin = ColumnType::pg(1082, true);
    let date_text = ColumnType::mysql(10, 63, false);
    let key = Some(b"bench-key".to_vec());
    let cases: Vec<(&str, MaskSpec, ColumnType, Vec<u8>)> = vec![
        ("null/text", spec("null"), text, b"123-45-6789".to_vec()),
        ("redact/text", spec("redact"), text, b"123-45-6789".to_vec()),
        (
            "redact/int8-bin",
            spec("redact"),
            int8_bin,
            42i64.to_be_bytes().to_vec(),
        ),
        (
            "partial/ssn",
            MaskSpec {
                keep_last: Some(4),
                ..spec("partial")
            },
            text,
            b"123-45-6789".to_vec(),
        ),
        (
            "email/text",
            spec("email"),
            text,
            b"alice@example.com".to_vec(),
        ),
        (
            "hash/text",
            MaskSpec {
                key: key.clone(),
                ..spec("hash")
            },
            text,
            b"alice@example.com".to_vec(),
        ),
        (
            "hash/int8-bin",
            MaskSpec {
                key: key.clone(),
                ..spec("hash")
            },
            int8_bin,
            4_242_424_242i64.to_be_bytes().to_vec(),
        ),
        (
            "generalize/int8-text",
            spec("generalize"),
            int8_text,
            b"4242424242".to_vec(),
        ),
        (
            "generalize/date-pg-bin",
            spec("generalize"),
            date_bin,
            8_994i32.to_be_bytes().to_vec(),
        ),
        (
            "generalize/date-mysql-text",
            spec("generalize"),
            date_text,
            b"2024-08-17".to_vec(),
        ),
        ("digits/ssn", spec("digits"), text, b"123-45-6789".to_vec()),
        (
            "digits-keyed/ssn",
            MaskSpec {
                key,
                ..spec("digits")
            },
            text,
            b"123-45-6789".to_vec(),
        ),
        (
            "constant/text",
            MaskSpec {
                value: Some("n/a".into()),
                ..spec("constant")
            },
            text,
            b"123-45-6789".to_vec(),
        ),
        (
            "constant/int8-bin",
            MaskSpec {
                value: Some("7".into()),
                ..spec("constant")
            },
            int8_bin,
            1i64.to_be_bytes().to_vec(),
        ),
        (
            "regex_replace/ssn",
            MaskSpec {
                pattern: Some(r"\d{3}-\d{2}-(\d{4})".into()),
                replacement: Some("***-**-$1".into()),
                ..spec("regex_replace")
            },
            text,
            b"123-45-6789".to_vec(),
        ),
    ];
    let mut g = c.benchmark_group("mask");
    for (name, s, ty, value) in cases {
        let f = MaskFunction::compile(&s).expect("bench spec compiles");
        let mut out = Vec::with_capacity(64);
        g.bench_function(name, |b| {
            b.iter(|| f.apply(ty, black_box(&value), &mut out))
        });
    }
    g.finish();
}

/// About 64 KiB of prose, numbers and identifiers; `with_hits` sprinkles cards, SSNs,
/// emails and IBANs among them.
fn corpus(with_hits: bool) -> Vec<u8> {
    let words = [
        "the",
        "order",
        "was",
        "shipped",
        "to",
        "warehouse",
        "12",
        "on",
        "2024-08-17",
        "status",
        "ok",
        "invoice",
        "#88123",
        "total",
        "199.90",
        "EUR",
        "customer",
        "notes:",
        "call",
        "back",
        "tomorrow",
        "ref",
        "A-1234",
        "x",
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
    ];
    let hits = [
        "4111 1111 1111 1111",
        "123-45-6789",
        "alice@example.com",
        "GB82 WEST 1234 5698 7654 32",
        "Bearer abcdef0123456789",
    ];
    let mut out = Vec::with_capacity(70_000);
    let mut i = 0usize;
    while out.len() < 64 * 1024 {
        if with_hits && i % 50 == 49 {
            out.extend_from_slice(hits[(i / 50) % hits.len()].as_bytes());
        } else {
            out.extend_from_slice(words[(i * 7 + i / 3) % words.len()].as_bytes());
        }
        out.push(if i % 13 == 12 { b'\n' } else { b' ' });
        i += 1;
    }
    out
}

fn detectors(c: &mut Criterion) {
    let set = DetectorSet::new(&DetectorKind::ALL, &[], &[]).expect("detectors build");
    let dict = DetectorSet::new(
        &DetectorKind::ALL,
        &[r"EMP-\d{6}".to_string()],
        &["falcon".to_string(), "nightjar".to_string()],
    )
    .expect("detectors build");
    let redact = MaskFunction::compile(&spec("redact")).expect("redact");
    let mut g = c.benchmark_group("detect");
    for (name, text) in [("no-hits", corpus(false)), ("hits", corpus(true))] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("contains/{name}"), |b| {
            b.iter(|| set.contains(black_box(&text)))
        });
        g.bench_function(format!("find/{name}"), |b| {
            b.iter(|| set.find(black_box(&text)))
        });
        let mut out = Vec::with_capacity(text.len());
        g.bench_function(format!("mask_hits/{name}"), |b| {
            b.iter(|| set.mask_hits(black_box(&text), &redact, &mut out))
        });
        g.bench_function(format!("contains+pattern+dict/{name}"), |b| {
            b.iter(|| dict.contains(black_box(&text)))
        });
    }
    let field = b"shipped to warehouse 12, call back tomorrow";
    g.throughput(Throughput::Bytes(field.len() as u64));
    g.bench_function("contains/short-field", |b| {
        b.iter(|| set.contains(black_box(field)))
    });
    g.finish();
}

criterion_group!(benches, functions, detectors);
criterion_main!(benches);
