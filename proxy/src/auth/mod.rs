//! Client authentication to sluice itself. Clients never authenticate to the database: they
//! prove who they are to sluice, which then logs in upstream with the target's credentials.

pub mod jwt;
pub mod mysql;
pub mod scram;
pub mod throttle;

use std::collections::HashMap;
use std::str::FromStr;

use crate::config::UserConfig;
use mysql::MysqlVerifier;
pub use scram::constant_time_eq;
use scram::ScramVerifier;

/// A `[[users]]` `password_hash`: PostgreSQL's SCRAM verifier, optionally followed by the MySQL
/// verifiers, as printed by `sluice passwd`:
///
/// `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>;mysql_native=<hex>;caching_sha2=<hex>`
///
/// A hash without the MySQL part still works for PostgreSQL targets.
#[derive(Clone, Debug)]
pub struct PasswordHash {
    pub scram: ScramVerifier,
    pub mysql: Option<MysqlVerifier>,
}

impl FromStr for PasswordHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(';');
        let scram = parts.next().unwrap_or_default().parse::<ScramVerifier>()?;
        let (mut native, mut sha2) = (None, None);
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("unexpected {part:?} after the SCRAM verifier"))?;
            let bytes = hex::decode(value).map_err(|_| format!("{key} must be hex"))?;
            match key {
                "mysql_native" => {
                    native = Some(
                        <[u8; 20]>::try_from(bytes).map_err(|_| "mysql_native must be 20 bytes")?,
                    )
                }
                "caching_sha2" => {
                    sha2 = Some(
                        <[u8; 32]>::try_from(bytes).map_err(|_| "caching_sha2 must be 32 bytes")?,
                    )
                }
                other => return Err(format!("unknown password hash part {other:?}")),
            }
        }
        let mysql = match (native, sha2) {
            (Some(native), Some(sha2)) => Some(MysqlVerifier { native, sha2 }),
            (None, None) => None,
            _ => return Err("mysql_native and caching_sha2 come together".into()),
        };
        Ok(PasswordHash { scram, mysql })
    }
}

/// Makes the full `password_hash` for `password` (SCRAM for PostgreSQL, plus MySQL verifiers).
pub fn hash_password(password: &str) -> String {
    format!(
        "{}{}",
        scram::hash_password(password),
        MysqlVerifier::from_password(password).encode()
    )
}

/// Whether `groups` meets an `allowed_groups` list (an empty list allows everyone).
pub fn in_any(groups: &[String], allowed: &[String]) -> bool {
    allowed.is_empty() || groups.iter().any(|g| allowed.contains(g))
}

/// Who a client proved to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

/// A configured user.
#[derive(Clone, Debug)]
pub struct UserEntry {
    pub hash: Option<PasswordHash>,
    pub groups: Vec<String>,
}

/// The `[[users]]` of the config, ready for lookups.
#[derive(Debug)]
pub struct UserDirectory {
    users: HashMap<String, UserEntry>,
    /// `[jwt]`: tokens accepted as passwords for users not listed in `[[users]]`.
    jwt: Option<std::sync::Arc<jwt::JwtVerifier>>,
    /// Salts mock exchanges for unknown users; per process, never stored.
    mock_secret: [u8; 32],
}

impl UserDirectory {
    /// Builds the directory; hashes were validated when the config was loaded.
    pub fn from_config(users: &[UserConfig]) -> Result<UserDirectory, String> {
        let mut map = HashMap::new();
        for u in users {
            let hash = match &u.password_hash {
                Some(h) => Some(
                    h.parse::<PasswordHash>()
                        .map_err(|e| format!("user {:?}: {e}", u.name))?,
                ),
                None => None,
            };
            map.insert(
                u.name.clone(),
                UserEntry {
                    hash,
                    groups: u.groups.clone(),
                },
            );
        }
        let mut mock_secret = [0u8; 32];
        scram::fill_random(&mut mock_secret);
        Ok(UserDirectory {
            users: map,
            jwt: None,
            mock_secret,
        })
    }

    /// Accepts tokens as `verifier` says.
    pub fn with_jwt(mut self, verifier: Option<jwt::JwtVerifier>) -> Self {
        self.jwt = verifier.map(std::sync::Arc::new);
        self
    }

    /// The token verifier, with `[jwt]`.
    pub fn jwt(&self) -> Option<&std::sync::Arc<jwt::JwtVerifier>> {
        self.jwt.as_ref()
    }

    /// Whether `user` signs in with a password of `[[users]]` (then never with a token).
    pub fn is_local(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|e| e.hash.is_some())
    }

    /// The SCRAM verifier to run an exchange against: the user's own, or a mock one that always
    /// fails for unknown users and users without a password.
    pub fn verifier(&self, user: &str) -> (ScramVerifier, Option<&UserEntry>) {
        match self.users.get(user) {
            Some(entry @ UserEntry { hash: Some(h), .. }) => (h.scram.clone(), Some(entry)),
            _ => (ScramVerifier::mock(user, &self.mock_secret), None),
        }
    }

    /// The user and groups whose password this is (HTTP basic auth on the admin API); `None`
    /// for a wrong password, an unknown user or one without a password.
    pub fn check_password(&self, user: &str, password: &str) -> Option<Identity> {
        let entry = self.users.get(user)?;
        let hash = entry.hash.as_ref()?;
        hash.scram
            .check_cleartext(password.as_bytes())
            .then(|| Identity {
                user: user.to_string(),
                groups: entry.groups.clone(),
            })
    }

    /// The user's MySQL verifier and entry, when the user exists and has one.
    pub fn mysql(&self, user: &str) -> Option<(&MysqlVerifier, &UserEntry)> {
        let entry = self.users.get(user)?;
        Some((entry.hash.as_ref()?.mysql.as_ref()?, entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_hash_round_trips_and_a_scram_only_hash_is_accepted() {
        let full: PasswordHash = hash_password("pw").parse().unwrap();
        assert_eq!(full.mysql, Some(MysqlVerifier::from_password("pw")));
        let scram_only: PasswordHash = scram::hash_password("pw").parse().unwrap();
        assert!(scram_only.mysql.is_none());
        let bad = format!("{};mysql_native=00", scram::hash_password("pw"));
        assert!(bad.parse::<PasswordHash>().is_err());
    }

    #[test]
    fn cleartext_passwords_are_checked_against_the_scram_verifier() {
        let users = UserDirectory::from_config(&[UserConfig {
            name: "ann".into(),
            password_hash: Some(hash_password("s3cret")),
            groups: vec!["dba".into()],
        }])
        .unwrap();
        let who = users.check_password("ann", "s3cret").unwrap();
        assert_eq!(who.groups, vec!["dba".to_string()]);
        assert!(users.check_password("ann", "s3creT").is_none());
        assert!(users.check_password("bob", "s3cret").is_none());
    }
}
