//! Content detectors: each kind, validators, user patterns, dictionary, masking of hits.

use masking::{DetectorKind, DetectorSet, Hit, HitKind, MaskFunction, MaskSpec};

fn all() -> DetectorSet {
    DetectorSet::new(&DetectorKind::ALL, &[], &[]).unwrap()
}

fn kinds(set: &DetectorSet, text: &str) -> Vec<(HitKind, String)> {
    set.find(text.as_bytes())
        .into_iter()
        .map(|Hit { kind, range }| (kind, text[range].to_string()))
        .collect()
}

fn b(k: DetectorKind) -> HitKind {
    HitKind::Builtin(k)
}

#[test]
fn parse_names() {
    for k in DetectorKind::ALL {
        assert_eq!(DetectorKind::parse(k.name()), Ok(k));
    }
    assert!(DetectorKind::parse("ssn").unwrap_err().contains("us_ssn"));
}

#[test]
fn credit_cards_are_luhn_checked() {
    let s = all();
    assert_eq!(
        kinds(&s, "pay 4111 1111 1111 1111 now"),
        [(b(DetectorKind::CreditCard), "4111 1111 1111 1111".into())]
    );
    assert_eq!(
        kinds(&s, "5555-5555-5555-4444"),
        [(b(DetectorKind::CreditCard), "5555-5555-5555-4444".into())]
    );
    assert_eq!(
        kinds(&s, "amex 378282246310005."),
        [(b(DetectorKind::CreditCard), "378282246310005".into())]
    );
    assert!(kinds(&s, "4111 1111 1111 1112").is_empty());
    assert!(
        kinds(&s, "id 41111111111111110000").is_empty(),
        "inside a longer digit run"
    );
    assert!(!s.contains(b"order 1234567890123"));
}

#[test]
fn ssn_rules() {
    let s = all();
    assert_eq!(
        kinds(&s, "ssn: 123-45-6789"),
        [(b(DetectorKind::UsSsn), "123-45-6789".into())]
    );
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "1234-45-6789",
    ] {
        assert!(kinds(&s, bad).is_empty(), "{bad}");
    }
    assert_eq!(kinds(&s, "772-01-0001").len(), 1);
}

#[test]
fn ibans_are_mod97_checked() {
    let s = all();
    assert_eq!(
        kinds(&s, "IBAN GB82 WEST 1234 5698 7654 32, thanks"),
        [(b(DetectorKind::Iban), "GB82 WEST 1234 5698 7654 32".into())]
    );
    assert_eq!(
        kinds(&s, "DE89370400440532013000"),
        [(b(DetectorKind::Iban), "DE89370400440532013000".into())]
    );
    assert!(kinds(&s, "GB83 WEST 1234 5698 7654 32").is_empty());
    // A capitalised word after the IBAN is not part of it.
    assert_eq!(
        kinds(&s, "GB82 WEST 1234 5698 7654 32 CASH"),
        [(b(DetectorKind::Iban), "GB82 WEST 1234 5698 7654 32".into())]
    );
}

#[test]
fn emails_jwts_and_bearer_tokens() {
    let s = all();
    assert_eq!(
        kinds(&s, "mail alice.b+x@mail.example.co.uk."),
        [(
            b(DetectorKind::Email),
            "alice.b+x@mail.example.co.uk".into()
        )]
    );
    assert!(kinds(&s, "user@localhost").is_empty());
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc_DEF-123";
    assert_eq!(
        kinds(&s, &format!("token={jwt}&x=1")),
        [(b(DetectorKind::Jwt), jwt.into())]
    );
    assert!(kinds(&s, "eyJonly.one").is_empty());
    // The Bearer hit covers the token, not the scheme.
    assert_eq!(
        kinds(&s, "Authorization: Bearer abcDEF123456._~+/=="),
        [(b(DetectorKind::BearerToken), "abcDEF123456._~+/==".into())]
    );
    assert_eq!(
        kinds(&s, &format!("bearer {jwt}")),
        [(b(DetectorKind::BearerToken), jwt.into())]
    );
    assert!(kinds(&s, "the bearer of bad news").is_empty());
}

#[test]
fn several_kinds_in_one_value() {
    let s = all();
    let text =
        "card 4111111111111111 ssn 123-45-6789 mail bob@example.org iban GB82WEST12345698765432";
    let got: Vec<HitKind> = kinds(&s, text).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        got,
        [
            b(DetectorKind::CreditCard),
            b(DetectorKind::UsSsn),
            b(DetectorKind::Email),
            b(DetectorKind::Iban)
        ]
    );
    let hits = s.find(text.as_bytes());
    assert!(hits.windows(2).all(|w| w[0].range.end <= w[1].range.start));
    // Only the kinds asked for.
    let only = DetectorSet::new(&[DetectorKind::Email], &[], &[]).unwrap();
    assert_eq!(
        kinds(&only, text),
        [(b(DetectorKind::Email), "bob@example.org".into())]
    );
}

#[test]
fn patterns_and_dictionary() {
    let set = DetectorSet::new(
        &[DetectorKind::Email],
        &[r"EMP-\d{6}".to_string()],
        &[
            "Project Falcon".to_string(),
            "falcon".to_string(),
            "codename".to_string(),
        ],
    )
    .unwrap();
    assert_eq!(
        kinds(
            &set,
            "EMP-123456 on PROJECT FALCON, falcons and falcon; codenames"
        ),
        [
            (HitKind::Pattern(0), "EMP-123456".into()),
            (HitKind::Dictionary, "PROJECT FALCON".into()),
            (HitKind::Dictionary, "falcon".into()),
        ]
    );
    assert!(set.contains(b"the codename is"));
    assert!(!set.contains(b"codenames"));
    assert!(DetectorSet::new(&[], &["(".to_string()], &[])
        .unwrap_err()
        .contains("#0"));
    assert!(DetectorSet::new(&[], &["a*".to_string()], &[])
        .unwrap_err()
        .contains("empty string"));
    assert!(DetectorSet::new(&[], &[], &[String::new()])
        .unwrap_err()
        .contains("empty"));
    let empty = DetectorSet::new(&[], &[], &[]).unwrap();
    assert!(!empty.contains(b"4111 1111 1111 1111"));
}

#[test]
fn mask_hits_rewrites_only_the_hits() {
    let s = all();
    let redact = MaskFunction::compile(&MaskSpec {
        function: "redact".into(),
        ..Default::default()
    })
    .unwrap();
    let partial = MaskFunction::compile(&MaskSpec {
        function: "partial".into(),
        keep_last: Some(4),
        ..Default::default()
    })
    .unwrap();
    let null = MaskFunction::compile(&MaskSpec {
        function: "null".into(),
        ..Default::default()
    })
    .unwrap();
    let mut out = Vec::new();
    let text = b"card 4111 1111 1111 1111, mail bob@example.org.";
    assert!(s.mask_hits(text, &redact, &mut out));
    assert_eq!(out, b"card [REDACTED], mail [REDACTED].");
    assert!(s.mask_hits(text, &partial, &mut out));
    assert_eq!(
        String::from_utf8_lossy(&out),
        "card ***************1111, mail ***********.org."
    );
    assert!(s.mask_hits(b"4111111111111111", &null, &mut out));
    assert_eq!(out, b"[REDACTED]");
    out.clear();
    out.extend_from_slice(b"untouched");
    assert!(!s.mask_hits(b"nothing to see, 4111 1111 1111 1112", &redact, &mut out));
    assert_eq!(out, b"untouched");
    // Not UTF-8: still scanned, bytes around hits preserved.
    assert!(s.mask_hits(b"\xff\xfe 123-45-6789 \xc3", &redact, &mut out));
    assert_eq!(out, b"\xff\xfe [REDACTED] \xc3");
}
