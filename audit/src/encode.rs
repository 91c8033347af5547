//! The canonical encoding of statement and result records, written directly.
//!
//! The writer signs every record it takes, and two of those per statement are statements and
//! results. Through serde, each key and value goes through the JSON escaper byte by byte, and
//! the flattened body through a map serializer: about a tenth of sluice's instructions per
//! statement. Here keys are constants and a value is copied whole unless it holds a byte that
//! JSON escapes.
//!
//! The bytes must be exactly serde's: a reader recomputes the canonical encoding with serde
//! (`Record::canonical_bytes`) to verify the chain, so any difference would read as tampering.
//! The tests compare both encodings over every field and adversarial strings. Other kinds are
//! rare and stay on serde.

use crate::record::{Draft, RecordBody, ResultColumn};

/// Appends the canonical JSON of `draft` as record `seq` after `prev` to `out`, when its kind
/// is one written here; `false` (and nothing appended) otherwise.
pub(crate) fn canonical(draft: &Draft, seq: u64, prev: &[u8; 32], out: &mut Vec<u8>) -> bool {
    if !matches!(
        draft.body,
        RecordBody::Statement { .. } | RecordBody::Result { .. }
    ) {
        return false;
    }
    out.extend_from_slice(b"{\"seq\":");
    number(out, seq);
    out.extend_from_slice(b",\"session\":");
    number(out, draft.session);
    out.extend_from_slice(b",\"ts_micros\":");
    out.extend_from_slice(itoa::Buffer::new().format(draft.ts_micros).as_bytes());
    out.extend_from_slice(b",\"target\":");
    string(out, &draft.target);
    out.extend_from_slice(b",\"user\":");
    string(out, &draft.user);
    out.extend_from_slice(b",\"groups\":");
    strings(out, &draft.groups);
    out.extend_from_slice(b",\"client_addr\":");
    string(out, &draft.client_addr);
    match &draft.body {
        RecordBody::Statement {
            statement_id,
            text,
            params,
            statement_kind,
            tables,
            rule,
            decision,
        } => {
            out.extend_from_slice(b",\"kind\":\"statement\",\"statement_id\":");
            number(out, *statement_id);
            out.extend_from_slice(b",\"text\":");
            string(out, text);
            out.extend_from_slice(b",\"params\":");
            optional_strings(out, params);
            out.extend_from_slice(b",\"statement_kind\":");
            string(out, statement_kind);
            out.extend_from_slice(b",\"tables\":");
            strings(out, tables);
            out.extend_from_slice(b",\"rule\":");
            optional_string(out, rule.as_deref());
            out.extend_from_slice(b",\"decision\":");
            string(out, decision);
        }
        RecordBody::Result {
            statement_id,
            columns,
            rows,
            row_count,
            bytes,
            duration_micros,
            rows_affected,
            truncated,
        } => {
            out.extend_from_slice(b",\"kind\":\"result\",\"statement_id\":");
            number(out, *statement_id);
            out.extend_from_slice(b",\"columns\":");
            result_columns(out, columns);
            out.extend_from_slice(b",\"rows\":[");
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                optional_strings(out, row);
            }
            out.extend_from_slice(b"],\"row_count\":");
            number(out, *row_count);
            out.extend_from_slice(b",\"bytes\":");
            number(out, *bytes);
            out.extend_from_slice(b",\"duration_micros\":");
            number(out, *duration_micros);
            out.extend_from_slice(b",\"rows_affected\":");
            match rows_affected {
                Some(n) => number(out, *n),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"truncated\":");
            out.extend_from_slice(if *truncated { b"true" } else { b"false" });
        }
        _ => {}
    }
    out.extend_from_slice(b",\"prev\":\"");
    let at = out.len();
    out.resize(at + 64, 0);
    // 64 bytes for 32 bytes of hex: cannot fail.
    let _ = hex::encode_to_slice(prev, &mut out[at..]);
    out.extend_from_slice(b"\"}");
    true
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn result_columns(out: &mut Vec<u8>, columns: &[ResultColumn]) {
    out.push(b'[');
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        string(out, &c.name);
        out.extend_from_slice(b",\"origin\":");
        optional_string(out, c.origin.as_deref());
        out.extend_from_slice(b",\"type_name\":");
        string(out, &c.type_name);
        out.push(b'}');
    }
    out.push(b']');
}

fn strings(out: &mut Vec<u8>, values: &[String]) {
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, v);
    }
    out.push(b']');
}

fn optional_strings(out: &mut Vec<u8>, values: &[Option<String>]) {
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        optional_string(out, v.as_deref());
    }
    out.push(b']');
}

fn optional_string(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v) => string(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string as serde_json writes it: `"` and `\` escaped with a backslash, the control
/// characters below 0x20 as `\b \t \n \f \r` or `\u00xx` (lowercase hex), everything else
/// (DEL and non-ASCII included) as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings that exercise every escaping rule.
    const NASTY: &[&str] = &[
        "",
        "plain",
        "SELECT abalance FROM pgbench_accounts WHERE aid = 642726;",
        "quote \" backslash \\ slash /",
        "\u{0}\u{1}\u{7}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{e}\u{1f}\u{20}",
        "\u{7f} del, é ü ß, 漢字, emoji 🦀, line sep \u{2028} para sep \u{2029}",
        "\\u0041 not an escape",
        "trailing backslash \\",
        "\"",
    ];

    fn drafts() -> Vec<Draft> {
        let mut out = Vec::new();
        for (i, s) in NASTY.iter().enumerate() {
            let s = s.to_string();
            let mut d = Draft::new(
                u64::MAX - i as u64,
                s.clone(),
                format!("user {s}"),
                RecordBody::Statement {
                    statement_id: i as u64,
                    text: s.clone(),
                    params: vec![Some(s.clone()), None, Some(String::new())],
                    statement_kind: "select".into(),
                    tables: vec![s.clone(), "public.t".into()],
                    rule: (i % 2 == 0).then(|| s.clone()),
                    decision: "allow".into(),
                },
            );
            d.ts_micros = if i % 2 == 0 { i64::MIN } else { -(i as i64) };
            d.groups = vec![s.clone(), "analysts".into()].into();
            d.client_addr = format!("[::1]:{i} {s}").into();
            out.push(d.clone());
            let mut empty = d.clone();
            empty.groups = Vec::<String>::new().into();
            empty.body = RecordBody::Statement {
                statement_id: 0,
                text: String::new(),
                params: vec![],
                statement_kind: String::new(),
                tables: vec![],
                rule: None,
                decision: "block".into(),
            };
            out.push(empty);
            for (rows, rows_affected, truncated) in [
                (vec![], None, false),
                (
                    vec![vec![Some(s.clone()), None], vec![], vec![None]],
                    Some(u64::MAX),
                    true,
                ),
            ] {
                out.push(Draft {
                    body: RecordBody::Result {
                        statement_id: u64::MAX,
                        columns: vec![
                            ResultColumn {
                                name: s.clone(),
                                origin: Some(format!("public.{s}.c")),
                                type_name: "int4".into(),
                            },
                            ResultColumn {
                                name: "n".into(),
                                origin: None,
                                type_name: s.clone(),
                            },
                        ],
                        rows,
                        row_count: i as u64,
                        bytes: 0,
                        duration_micros: 12_345,
                        rows_affected,
                        truncated,
                    },
                    ..d.clone()
                });
            }
        }
        out
    }

    #[test]
    fn statements_and_results_are_encoded_exactly_as_serde_encodes_them() {
        let prev: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        let all = drafts();
        assert!(all.len() > 30);
        for d in all {
            let mut fast = Vec::new();
            assert!(canonical(&d, 42, &prev, &mut fast));
            let record = d.into_record(42, prev);
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(record.canonical_bytes()).unwrap()
            );
        }
    }

    #[test]
    fn every_single_byte_character_is_escaped_as_serde_escapes_it() {
        let mut ours = Vec::new();
        for c in (0u8..=0x7f).map(char::from).chain(['é', '\u{2028}', '🦀']) {
            let s = format!("a{c}b{c}");
            ours.clear();
            string(&mut ours, &s);
            assert_eq!(ours, serde_json::to_vec(&s).unwrap(), "{c:?}");
        }
    }

    #[test]
    fn other_kinds_are_left_to_serde() {
        let d = Draft::new(1, "t", "u", RecordBody::SessionEnd { reason: "x".into() });
        let mut out = Vec::new();
        assert!(!canonical(&d, 1, &[0; 32], &mut out));
        assert!(out.is_empty());
    }
}
