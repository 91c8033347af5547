//! MySQL client authentication material and checks, server side.
//!
//! `mysql_native_password` needs SHA1(SHA1(password)) and `caching_sha2_password` needs
//! SHA256(SHA256(password)): the same values MySQL itself keeps. `sluice passwd` stores them next
//! to the SCRAM verifier (see [`super::PasswordHash`]), so one entry serves both protocols.
//! They are unsalted, as in MySQL, and so only as strong as the password.

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// What the server keeps for one user's MySQL logins.
#[derive(Clone, PartialEq, Eq)]
pub struct MysqlVerifier {
    /// SHA1(SHA1(password)), as in `mysql.user.authentication_string` without the `*`.
    pub native: [u8; 20],
    /// SHA256(SHA256(password)), the `caching_sha2_password` fast-path cache entry.
    pub sha2: [u8; 32],
}

impl std::fmt::Debug for MysqlVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MysqlVerifier(..)")
    }
}

impl MysqlVerifier {
    pub fn from_password(password: &str) -> MysqlVerifier {
        let p = password.as_bytes();
        MysqlVerifier {
            native: Sha1::digest(Sha1::digest(p)).into(),
            sha2: Sha256::digest(Sha256::digest(p)).into(),
        }
    }

    /// Whether this is the verifier of the empty password, whose clients send an empty
    /// response: MySQL's own rule for both plugins (mysql-test logs in as root that way).
    fn is_empty_password(&self) -> bool {
        ct_eq(&self.native, &MysqlVerifier::from_password("").native)
    }

    /// `mysql_native_password`: response = SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw))).
    pub fn check_native(&self, scramble: &[u8], response: &[u8]) -> bool {
        if response.is_empty() {
            return self.is_empty_password();
        }
        if response.len() != 20 {
            return false;
        }
        let mut h = Sha1::new();
        h.update(scramble);
        h.update(self.native);
        let mask = h.finalize();
        let stage1: Vec<u8> = response
            .iter()
            .zip(mask.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        ct_eq(Sha1::digest(&stage1).as_slice(), &self.native)
    }

    /// `caching_sha2_password` fast path:
    /// response = SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || scramble).
    pub fn check_sha2_fast(&self, scramble: &[u8], response: &[u8]) -> bool {
        if response.is_empty() {
            return self.is_empty_password();
        }
        if response.len() != 32 {
            return false;
        }
        let mut h = Sha256::new();
        h.update(self.sha2);
        h.update(scramble);
        let mask = h.finalize();
        let stage1: Vec<u8> = response
            .iter()
            .zip(mask.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        ct_eq(Sha256::digest(&stage1).as_slice(), &self.sha2)
    }

    /// A cleartext password (full `caching_sha2_password` authentication over TLS).
    pub fn check_cleartext(&self, password: &[u8]) -> bool {
        ct_eq(
            Sha256::digest(Sha256::digest(password)).as_slice(),
            &self.sha2,
        )
    }

    /// The `;mysql_native=…;caching_sha2=…` suffix of a password hash.
    pub fn encode(&self) -> String {
        format!(
            ";mysql_native={};caching_sha2={}",
            hex::encode(self.native),
            hex::encode(self.sha2)
        )
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::auth::plugins::caching_sha2_password::scramble_sha256;
    use mysql_common::auth::plugins::mysql_native_password::scramble_native;

    const SCRAMBLE: [u8; 20] = *b"0123456789abcdefghij";

    #[test]
    fn native_responses_from_the_client_library_verify() {
        let v = MysqlVerifier::from_password("s3cret");
        let good = scramble_native(&SCRAMBLE, b"s3cret").unwrap();
        let bad = scramble_native(&SCRAMBLE, b"nope").unwrap();
        assert!(v.check_native(&SCRAMBLE, &good));
        assert!(!v.check_native(&SCRAMBLE, &bad));
        assert!(!v.check_native(&SCRAMBLE, &good[..19]));
    }

    #[test]
    fn sha2_fast_path_and_cleartext_verify() {
        let v = MysqlVerifier::from_password("s3cret");
        let good = scramble_sha256(&SCRAMBLE, b"s3cret").unwrap();
        let bad = scramble_sha256(&SCRAMBLE, b"nope").unwrap();
        assert!(v.check_sha2_fast(&SCRAMBLE, &good));
        assert!(!v.check_sha2_fast(&SCRAMBLE, &bad));
        assert!(v.check_cleartext(b"s3cret"));
        assert!(!v.check_cleartext(b"s3cret "));
    }

    #[test]
    fn an_empty_response_verifies_only_the_empty_password() {
        // As in MySQL: a client with no password sends nothing, and only an account whose
        // password is empty lets it in.
        let empty = MysqlVerifier::from_password("");
        assert!(empty.check_native(&SCRAMBLE, &[]));
        assert!(empty.check_sha2_fast(&SCRAMBLE, &[]));
        let v = MysqlVerifier::from_password("s3cret");
        assert!(!v.check_native(&SCRAMBLE, &[]));
        assert!(!v.check_sha2_fast(&SCRAMBLE, &[]));
        let other = scramble_native(&SCRAMBLE, b"s3cret").unwrap();
        assert!(!empty.check_native(&SCRAMBLE, &other));
    }
}
