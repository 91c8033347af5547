//! SCRAM-SHA-256 (RFC 5802 / RFC 7677) on the server side, as PostgreSQL speaks it, with the
//! `tls-server-end-point` channel binding of SCRAM-SHA-256-PLUS.
//!
//! The exchange is two typed states: [`begin`] consumes the client-first message and yields an
//! [`AwaitingProof`], whose [`AwaitingProof::verify`] consumes the client-final message. A proof
//! can therefore only be checked against the nonce and salt this server actually sent.
//!
//! Verifiers use PostgreSQL's format, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
//! so `sluice passwd` output and `pg_authid.rolpassword` values are interchangeable.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The name of the plain mechanism.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";
/// The name of the mechanism with channel binding.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// Makes a verifier for `password` in PostgreSQL's format (random salt, 4096 iterations,
/// SASLprep-normalised as PostgreSQL does).
pub fn hash_password(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}

/// What a server stores for a SCRAM user: never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramVerifier(..)")
    }
}

impl FromStr for ScramVerifier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (made by `sluice passwd`)".to_string()
        };
        let rest = s.strip_prefix("SCRAM-SHA-256$").ok_or_else(bad)?;
        let (params, keys) = rest.split_once('$').ok_or_else(bad)?;
        let (iter, salt) = params.split_once(':').ok_or_else(bad)?;
        let (stored, server) = keys.split_once(':').ok_or_else(bad)?;
        let iterations: u32 = iter.parse().map_err(|_| bad())?;
        if iterations == 0 {
            return Err(bad());
        }
        let salt = B64.decode(salt).map_err(|_| bad())?;
        let key = |k: &str| -> Result<[u8; 32], String> {
            B64.decode(k)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(bad)
        };
        Ok(ScramVerifier {
            iterations,
            salt,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

impl ScramVerifier {
    /// Whether `password` (sent in the clear, as over the admin API's HTTP basic auth) is the
    /// one this verifier was made from. The password is used as its UTF-8 bytes: PostgreSQL's
    /// SASLprep leaves ASCII passwords unchanged.
    pub fn check_cleartext(&self, password: &[u8]) -> bool {
        let Some(iterations) = std::num::NonZeroU32::new(self.iterations) else {
            return false;
        };
        let mut salted = [0u8; 32];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &self.salt,
            password,
            &mut salted,
        );
        let client_key = hmac(&salted, b"Client Key");
        constant_time_eq(Sha256::digest(client_key).as_slice(), &self.stored_key)
    }

    /// A verifier for a user that does not exist. The exchange runs to the end and then fails
    /// exactly like a wrong password, so probing cannot tell unknown users from known ones. The
    /// salt is derived from `secret` and the name, so it is stable for the same name.
    pub fn mock(username: &str, secret: &[u8]) -> ScramVerifier {
        let salt = hmac(secret, username.as_bytes())[..16].to_vec();
        let mut stored_key = [0u8; 32];
        let mut server_key = [0u8; 32];
        fill_random(&mut stored_key);
        fill_random(&mut server_key);
        ScramVerifier {
            iterations: 4096,
            salt,
            stored_key,
            server_key,
        }
    }
}

/// The channel binding this connection can offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelBinding {
    /// Plaintext connection: only SCRAM-SHA-256 is offered.
    Unavailable,
    /// TLS connection: `tls-server-end-point` data (hash of the server certificate).
    TlsServerEndPoint(Vec<u8>),
}

impl ChannelBinding {
    /// The SASL mechanisms to advertise, strongest first.
    pub fn mechanisms(&self) -> &'static [&'static str] {
        match self {
            ChannelBinding::Unavailable => &[SCRAM_SHA_256],
            ChannelBinding::TlsServerEndPoint(_) => &[SCRAM_SHA_256_PLUS, SCRAM_SHA_256],
        }
    }
}

/// Why an exchange failed. `WrongPassword` is the only outcome a well-formed client with a bad
/// password sees; the others are protocol violations.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("password authentication failed")]
    WrongPassword,
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("channel binding mismatch: {0}")]
    ChannelBinding(&'static str),
    #[error("unsupported SASL mechanism")]
    UnsupportedMechanism,
}

/// The exchange after the server-first message was produced, waiting for the client's proof.
pub struct AwaitingProof {
    verifier: ScramVerifier,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    cbind_input: Vec<u8>,
}

/// Starts an exchange: checks the mechanism and the client-first message against what this
/// connection can offer, and returns the server-first message to send.
pub fn begin(
    verifier: &ScramVerifier,
    mechanism: &str,
    client_first: &[u8],
    binding: &ChannelBinding,
) -> Result<(AwaitingProof, String), ScramError> {
    let text = std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    let (flag, rest) = text
        .split_once(',')
        .ok_or(ScramError::Malformed("no GS2 header"))?;
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(ScramError::Malformed("no GS2 header"))?;
    if !authzid.is_empty() {
        return Err(ScramError::Malformed(
            "authorization identities are not supported",
        ));
    }
    let plus = match mechanism {
        SCRAM_SHA_256_PLUS => true,
        SCRAM_SHA_256 => false,
        _ => return Err(ScramError::UnsupportedMechanism),
    };
    let cbind_data: &[u8] = match (flag, binding, plus) {
        ("p=tls-server-end-point", ChannelBinding::TlsServerEndPoint(data), true) => data,
        (f, _, true) if f.starts_with("p=") => {
            return Err(ScramError::ChannelBinding(
                "unsupported channel binding type",
            ))
        }
        (_, _, true) => return Err(ScramError::ChannelBinding("PLUS mechanism without binding")),
        (f, _, false) if f.starts_with("p=") => {
            return Err(ScramError::ChannelBinding(
                "binding requested with SCRAM-SHA-256",
            ))
        }
        // The client supports binding and believes we do not, though we offered it: a
        // downgrade by someone in the middle.
        ("y", ChannelBinding::TlsServerEndPoint(_), false) => {
            return Err(ScramError::ChannelBinding(
                "downgrade detected (flag y over TLS)",
            ))
        }
        ("y" | "n", _, false) => &[],
        _ => return Err(ScramError::Malformed("bad GS2 flag")),
    };
    let client_nonce = attribute(bare, "r=").ok_or(ScramError::Malformed("no client nonce"))?;
    if !bare.starts_with("n=") || client_nonce.is_empty() {
        return Err(ScramError::Malformed("client-first-message"));
    }
    let mut server_part = [0u8; 18];
    fill_random(&mut server_part);
    let nonce = format!("{client_nonce}{}", B64.encode(server_part));
    let server_first = format!(
        "r={nonce},s={},i={}",
        B64.encode(&verifier.salt),
        verifier.iterations
    );
    let mut cbind_input = format!("{flag},{authzid},").into_bytes();
    cbind_input.extend_from_slice(cbind_data);
    let state = AwaitingProof {
        verifier: verifier.clone(),
        client_first_bare: bare.to_string(),
        server_first: server_first.clone(),
        nonce,
        cbind_input,
    };
    Ok((state, server_first))
}

impl AwaitingProof {
    /// Checks the client-final message. On success returns the server-final message
    /// (`v=<ServerSignature>`) that proves to the client that this server knows the verifier.
    pub fn verify(self, client_final: &[u8]) -> Result<String, ScramError> {
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let cbind = attribute(without_proof, "c=").ok_or(ScramError::Malformed("no binding"))?;
        let cbind = B64
            .decode(cbind)
            .map_err(|_| ScramError::Malformed("binding not base64"))?;
        if cbind != self.cbind_input {
            return Err(ScramError::ChannelBinding("client binding data differs"));
        }
        if attribute(without_proof, "r=") != Some(self.nonce.as_str()) {
            return Err(ScramError::Malformed("nonce differs"));
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof not base64"))?;
        if proof.len() != 32 {
            return Err(ScramError::Malformed("proof length"));
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let client_signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(client_signature.iter())
            .map(|(p, s)| p ^ s)
            .collect();
        let stored_key = Sha256::digest(&client_key);
        if !constant_time_eq(stored_key.as_slice(), &self.verifier.stored_key) {
            return Err(ScramError::WrongPassword);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

/// The value of the first `name=` attribute of a comma-separated SCRAM message.
fn attribute<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.split(',').find_map(|part| part.strip_prefix(name))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Compares secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) {
    use ring::rand::SecureRandom;
    // SystemRandom reads getrandom(2); failure means the OS has no entropy source at all, and
    // no authentication can be done safely then.
    if ring::rand::SystemRandom::new().fill(buf).is_err() {
        panic!("the operating system random number generator failed");
    }
}

#[cfg(test)]
mod tests;
