//! Client authentication to sluice itself. Clients never authenticate to the database: they
//! prove who they are to sluice, which then logs in upstream with the target's credentials.

pub mod scram;

use std::collections::HashMap;

use crate::config::UserConfig;
use scram::ScramVerifier;

/// Who a client proved to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

/// A configured user.
#[derive(Clone, Debug)]
pub struct UserEntry {
    pub verifier: Option<ScramVerifier>,
    pub groups: Vec<String>,
}

/// The `[[users]]` of the config, ready for lookups.
#[derive(Debug)]
pub struct UserDirectory {
    users: HashMap<String, UserEntry>,
    /// Salts mock exchanges for unknown users; per process, never stored.
    mock_secret: [u8; 32],
}

impl UserDirectory {
    /// Builds the directory; hashes were validated when the config was loaded.
    pub fn from_config(users: &[UserConfig]) -> Result<UserDirectory, String> {
        let mut map = HashMap::new();
        for u in users {
            let verifier = match &u.password_hash {
                Some(h) => Some(
                    h.parse::<ScramVerifier>()
                        .map_err(|e| format!("user {:?}: {e}", u.name))?,
                ),
                None => None,
            };
            map.insert(
                u.name.clone(),
                UserEntry {
                    verifier,
                    groups: u.groups.clone(),
                },
            );
        }
        let mut mock_secret = [0u8; 32];
        scram::fill_random(&mut mock_secret);
        Ok(UserDirectory {
            users: map,
            mock_secret,
        })
    }

    /// The verifier to run an exchange against: the user's own, or a mock one that always fails
    /// for unknown users and users without a password.
    pub fn verifier(&self, user: &str) -> (ScramVerifier, Option<&UserEntry>) {
        match self.users.get(user) {
            Some(
                entry @ UserEntry {
                    verifier: Some(v), ..
                },
            ) => (v.clone(), Some(entry)),
            _ => (ScramVerifier::mock(user, &self.mock_secret), None),
        }
    }
}
