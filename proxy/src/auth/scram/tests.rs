use super::*;
use postgres_protocol::authentication::sasl::{ChannelBinding as ClientBinding, ScramSha256};

/// Runs a whole exchange with the client implementation tokio-postgres uses.
fn exchange(
    verifier: &ScramVerifier,
    password: &str,
    mechanism: &str,
    client_binding: ClientBinding,
    server_binding: &ChannelBinding,
) -> Result<(), ScramError> {
    let mut client = ScramSha256::new(password.as_bytes(), client_binding);
    let (state, server_first) = begin(verifier, mechanism, client.message(), server_binding)?;
    client
        .update(server_first.as_bytes())
        .expect("client accepts server-first");
    let server_final = state.verify(client.message())?;
    client
        .finish(server_final.as_bytes())
        .expect("client accepts the server signature");
    Ok(())
}

#[test]
fn a_verifier_round_trips_and_authenticates() {
    let v: ScramVerifier = hash_password("s3cret").parse().unwrap();
    exchange(
        &v,
        "s3cret",
        SCRAM_SHA_256,
        ClientBinding::unsupported(),
        &ChannelBinding::Unavailable,
    )
    .unwrap();
}

#[test]
fn a_wrong_password_fails() {
    let v: ScramVerifier = hash_password("s3cret").parse().unwrap();
    let err = exchange(
        &v,
        "nope",
        SCRAM_SHA_256,
        ClientBinding::unsupported(),
        &ChannelBinding::Unavailable,
    );
    assert_eq!(err, Err(ScramError::WrongPassword));
}

#[test]
fn channel_binding_succeeds_with_the_same_certificate_hash() {
    let v: ScramVerifier = hash_password("pw").parse().unwrap();
    let hash = vec![7u8; 32];
    exchange(
        &v,
        "pw",
        SCRAM_SHA_256_PLUS,
        ClientBinding::tls_server_end_point(hash.clone()),
        &ChannelBinding::TlsServerEndPoint(hash),
    )
    .unwrap();
}

#[test]
fn channel_binding_fails_when_the_certificate_differs() {
    // A man in the middle terminates TLS with its own certificate: the hashes differ.
    let v: ScramVerifier = hash_password("pw").parse().unwrap();
    let err = exchange(
        &v,
        "pw",
        SCRAM_SHA_256_PLUS,
        ClientBinding::tls_server_end_point(vec![1u8; 32]),
        &ChannelBinding::TlsServerEndPoint(vec![2u8; 32]),
    );
    assert!(matches!(err, Err(ScramError::ChannelBinding(_))), "{err:?}");
}

#[test]
fn a_downgrade_to_the_plain_mechanism_over_tls_is_refused() {
    let v: ScramVerifier = hash_password("pw").parse().unwrap();
    let err = exchange(
        &v,
        "pw",
        SCRAM_SHA_256,
        ClientBinding::unrequested(),
        &ChannelBinding::TlsServerEndPoint(vec![2u8; 32]),
    );
    assert!(matches!(err, Err(ScramError::ChannelBinding(_))), "{err:?}");
}

#[test]
fn flag_y_on_plaintext_is_fine() {
    let v: ScramVerifier = hash_password("pw").parse().unwrap();
    exchange(
        &v,
        "pw",
        SCRAM_SHA_256,
        ClientBinding::unrequested(),
        &ChannelBinding::Unavailable,
    )
    .unwrap();
}

#[test]
fn a_mock_verifier_never_authenticates() {
    let v = ScramVerifier::mock("ghost", b"server secret");
    let err = exchange(
        &v,
        "",
        SCRAM_SHA_256,
        ClientBinding::unsupported(),
        &ChannelBinding::Unavailable,
    );
    assert_eq!(err, Err(ScramError::WrongPassword));
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let v: ScramVerifier = hash_password("pw").parse().unwrap();
    for junk in [
        &b""[..],
        b"n",
        b"n,,",
        b"x,,n=,r=abc",
        b"\xff\xfe",
        b"n,a=bob,n=,r=x",
    ] {
        assert!(begin(&v, SCRAM_SHA_256, junk, &ChannelBinding::Unavailable).is_err());
    }
    let (state, _) = begin(
        &v,
        SCRAM_SHA_256,
        b"n,,n=,r=abc",
        &ChannelBinding::Unavailable,
    )
    .unwrap();
    assert!(matches!(
        state.verify(b"c=biws,r=abc"),
        Err(ScramError::Malformed(_))
    ));
    assert!(matches!(
        begin(
            &v,
            "SCRAM-SHA-1",
            b"n,,n=,r=abc",
            &ChannelBinding::Unavailable
        ),
        Err(ScramError::UnsupportedMechanism)
    ));
}

#[test]
fn malformed_verifiers_are_refused() {
    for bad in [
        "",
        "SCRAM-SHA-256$",
        "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
        "md5abcdef",
    ] {
        assert!(bad.parse::<ScramVerifier>().is_err(), "{bad}");
    }
}
