//! Upstream identities at run time: the database role a session logs in as, chosen from its
//! groups (and database) by the target's `[[targets.identities]]`, with passwords read when the
//! target's listener starts, as the target's own password is.

use policy::Glob;

use crate::config::{Config, ConfigError, PasswordFrom, SettingValue, TargetConfig};

/// Credentials and settings for one upstream login.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: Option<String>,
    /// The password is the client's own token (`password_from = "token"`), filled in per
    /// session by [`Credentials::for_session`].
    pub password_from_token: bool,
    /// Applied right after the login (PostgreSQL: in the StartupMessage; MySQL: `SET SESSION`).
    pub settings: Vec<(String, SettingValue)>,
}

/// Without the password: a logged or printed login must never show it.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("password_from_token", &self.password_from_token)
            .field("settings", &self.settings)
            .finish()
    }
}

/// One `[[targets.identities]]` entry, ready for matching.
#[derive(Clone, Debug)]
pub struct UpstreamIdentity {
    groups: Vec<Glob>,
    database: Option<String>,
    pub credentials: Credentials,
}

impl UpstreamIdentity {
    /// Whether a session of `groups` for `database` gets this identity.
    fn fits(&self, groups: &[String], database: Option<&str>) -> bool {
        let database_fits = match &self.database {
            Some(only) => database == Some(only.as_str()),
            None => true,
        };
        database_fits
            && self
                .groups
                .iter()
                .any(|g| groups.iter().any(|u| g.matches(u)))
    }
}

/// A target's identities, in order, and whether a session must match one.
#[derive(Clone, Debug, Default)]
pub struct Identities {
    entries: Vec<UpstreamIdentity>,
    require: bool,
}

/// Why a session gets no upstream login: `require_identity` and no entry fits it.
#[derive(Debug, thiserror::Error)]
#[error("no upstream identity of target {target:?} fits groups {groups:?}{}", database.as_ref().map(|d| format!(" on database {d:?}")).unwrap_or_default())]
pub struct NoIdentity {
    pub target: String,
    pub groups: Vec<String>,
    pub database: Option<String>,
}

/// Why a session cannot use its identity: the identity passes the client's token upstream, and
/// the client signed in without one (a `[[users]]` password).
#[derive(Debug, thiserror::Error)]
#[error("upstream identity {role:?} logs in with the client's token, and user {user:?} signed in without one")]
pub struct NoToken {
    pub role: String,
    pub user: String,
}

/// Why a session gets no upstream login.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    #[error(transparent)]
    NoIdentity(#[from] NoIdentity),
    #[error(transparent)]
    NoToken(#[from] NoToken),
}

impl LoginRefused {
    /// What the client is told, after "no upstream identity on target …": the rule that
    /// refused it, not the groups.
    pub fn rule(&self) -> &'static str {
        match self {
            LoginRefused::NoIdentity(_) => "require_identity",
            LoginRefused::NoToken(_) => {
                "its identity logs in with the client's token; sign in with one"
            }
        }
    }
}

impl Credentials {
    /// The login for one session of `user`: an identity whose password is the client's token
    /// takes `token`, and refuses a session that has none.
    pub fn for_session(mut self, user: &str, token: Option<&str>) -> Result<Credentials, NoToken> {
        if !self.password_from_token {
            return Ok(self);
        }
        match token {
            Some(t) => {
                self.password = Some(t.to_string());
                Ok(self)
            }
            None => Err(NoToken {
                role: self.user,
                user: user.to_string(),
            }),
        }
    }
}

/// Which login a session gets.
#[derive(Clone, Copy, Debug)]
pub enum Chosen<'a> {
    /// An identity entry matched.
    Identity(&'a Credentials),
    /// None matched: the target's own user.
    TargetUser,
}

impl Identities {
    /// Compiles a target's entries and reads their passwords. Globs were validated at load.
    pub fn from_config(config: &Config, t: &TargetConfig) -> Result<Identities, ConfigError> {
        let mut entries = Vec::with_capacity(t.identities.len());
        for (index, id) in t.identities.iter().enumerate() {
            let groups = id
                .groups
                .iter()
                .map(|g| {
                    Glob::new(g).map_err(|e| {
                        ConfigError::Invalid(format!("{}: {e}", id.owner(&t.name, index)))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            entries.push(UpstreamIdentity {
                groups,
                database: id.database.clone(),
                credentials: Credentials {
                    user: id.user.clone(),
                    password: id.password(&t.name, index, &config.base_dir)?,
                    password_from_token: id.password_from == Some(PasswordFrom::Token),
                    settings: id.session_settings.0.clone(),
                },
            });
        }
        Ok(Identities {
            entries,
            require: t.require_identity,
        })
    }

    /// The first entry that fits; the target's own user when none does, unless
    /// `require_identity` refuses the session.
    pub fn choose(
        &self,
        target: &str,
        groups: &[String],
        database: Option<&str>,
    ) -> Result<Chosen<'_>, NoIdentity> {
        match self.entries.iter().find(|e| e.fits(groups, database)) {
            Some(e) => Ok(Chosen::Identity(&e.credentials)),
            None if self.require => Err(NoIdentity {
                target: target.to_string(),
                groups: groups.to_vec(),
                database: database.map(str::to_string),
            }),
            None => Ok(Chosen::TargetUser),
        }
    }

    /// The credentials of entry `index`, in the order written (for `sluice check --live`).
    pub fn credentials_at(&self, index: usize) -> Option<&Credentials> {
        self.entries.get(index).map(|e| &e.credentials)
    }

    /// Whether any entries are configured (sessions then name their identity in the log).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A session's upstream login, kept to check a change of user within the session (MySQL
/// COM_CHANGE_USER keeps the upstream connection, and so the role it logged in as): a user whose
/// groups would get another role must not go on with this one.
pub struct SessionLogin {
    pub upstream: std::sync::Arc<crate::upstream::UpstreamTarget>,
    pub database: Option<String>,
    /// The role the session logged in upstream as.
    pub user: String,
}

impl SessionLogin {
    /// `Err(why)` when a user of `groups` would log in upstream as another role than this
    /// session's (or be refused by `require_identity`).
    pub fn check(&self, new_user: &str, groups: &[String]) -> Result<(), String> {
        let t = &self.upstream;
        let wanted = match t
            .identities
            .choose(&t.name, groups, self.database.as_deref())
        {
            // The new user presented no token to pass upstream: the session's login is another
            // person's.
            Ok(Chosen::Identity(c)) if c.password_from_token => {
                return Err(format!(
                    "sluice: user {new_user:?} reaches target {:?} with its own token only; reconnect as {new_user:?}",
                    t.name
                ))
            }
            Ok(Chosen::Identity(c)) => c.user.as_str(),
            Ok(Chosen::TargetUser) => t.user.as_str(),
            Err(e) => {
                return Err(format!(
                    "sluice: {e}; this session cannot go on as {new_user:?}"
                ))
            }
        };
        match wanted == self.user {
            true => Ok(()),
            false => Err(format!(
                "sluice: user {new_user:?} reaches target {:?} as another database role than this session's; reconnect as {new_user:?}",
                t.name
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identities(text: &str) -> Identities {
        let base = "[[targets]]\nname = \"t\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:1\"\nupstream = \"h:5432\"\nuser = \"owner\"\n";
        let config = Config::parse(&format!("{base}{text}"), Default::default()).unwrap();
        Identities::from_config(&config, &config.targets[0]).unwrap()
    }

    fn user(chosen: Result<Chosen<'_>, NoIdentity>) -> String {
        match chosen {
            Ok(Chosen::Identity(c)) => c.user.clone(),
            Ok(Chosen::TargetUser) => "<target>".into(),
            Err(e) => format!("<refused: {e}>"),
        }
    }

    #[test]
    fn the_first_fitting_entry_decides_and_the_target_user_is_the_fallback() {
        let ids = identities(
            "[[targets.identities]]\ngroups = [\"ana*\"]\nuser = \"ro\"\ndatabase = \"sales\"\n\
             [[targets.identities]]\ngroups = [\"ANALYSTS\", \"ops\"]\nuser = \"ro_all\"\n",
        );
        let g = |s: &str| vec![s.to_string()];
        assert_eq!(user(ids.choose("t", &g("analysts"), Some("sales"))), "ro");
        assert_eq!(user(ids.choose("t", &g("analysts"), Some("hr"))), "ro_all");
        assert_eq!(user(ids.choose("t", &g("ops"), None)), "ro_all");
        assert_eq!(user(ids.choose("t", &g("dba"), Some("sales"))), "<target>");
        assert_eq!(user(ids.choose("t", &[], None)), "<target>");
    }

    #[test]
    fn a_token_identity_takes_the_sessions_token_and_refuses_sessions_without_one() {
        let base = "[jwt]\nissuer = \"i\"\naudience = \"a\"\njwks_file = \"j.json\"\n\
                    [[targets]]\nname = \"t\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:1\"\nupstream = \"h:5432\"\nuser = \"owner\"\n\
                    [[targets.identities]]\ngroups = [\"sso\"]\nuser = \"sso_ro\"\npassword_from = \"token\"\n";
        let config = Config::parse(base, Default::default()).unwrap();
        let ids = Identities::from_config(&config, &config.targets[0]).unwrap();
        let Ok(Chosen::Identity(c)) = ids.choose("t", &["sso".to_string()], None) else {
            panic!("the identity fits");
        };
        assert_eq!(c.password, None, "no password of its own");
        let login = c.clone().for_session("ann", Some("eyJ.token.sig")).unwrap();
        assert_eq!(
            (login.user.as_str(), login.password.as_deref()),
            ("sso_ro", Some("eyJ.token.sig"))
        );
        assert!(!format!("{login:?}").contains("eyJ"), "never printed");
        let refused = c.clone().for_session("bob", None).unwrap_err().to_string();
        assert!(refused.contains("\"sso_ro\" logs in with the client's token, and user \"bob\" signed in without one"), "{refused}");
    }

    #[test]
    fn a_change_of_user_onto_a_token_identity_is_refused() {
        let base = "[jwt]\nissuer = \"i\"\naudience = \"a\"\njwks_file = \"j.json\"\n\
                    [[targets]]\nname = \"t\"\nprotocol = \"mysql\"\nlisten = \"127.0.0.1:1\"\nupstream = \"h:3306\"\nuser = \"owner\"\n\
                    [[targets.identities]]\ngroups = [\"sso\"]\nuser = \"sso_ro\"\npassword_from = \"token\"\n";
        let config = Config::parse(base, Default::default()).unwrap();
        let upstream = crate::upstream::UpstreamTarget {
            name: "t".into(),
            host: "h".into(),
            port: 3306,
            user: "owner".into(),
            password: None,
            database: None,
            tls_mode: crate::config::UpstreamTls::Disable,
            tls_config: None,
            connect_timeout: std::time::Duration::from_secs(1),
            identities: Identities::from_config(&config, &config.targets[0]).unwrap(),
        };
        let login = SessionLogin {
            upstream: std::sync::Arc::new(upstream),
            database: None,
            user: "sso_ro".into(),
        };
        // The session's role, but the new user presented no token of its own.
        let refused = login.check("carol", &["sso".to_string()]).unwrap_err();
        assert!(refused.contains("with its own token only"), "{refused}");
        assert!(
            login.check("dora", &["dba".to_string()]).is_err(),
            "another role"
        );
    }

    #[test]
    fn require_identity_refuses_sessions_no_entry_fits() {
        let ids = identities(
            "require_identity = true\n[[targets.identities]]\ngroups = [\"analysts\"]\nuser = \"ro\"\n",
        );
        let refused = user(ids.choose("t", &["dba".to_string()], Some("app")));
        assert!(
            refused.contains(
                "no upstream identity of target \"t\" fits groups [\"dba\"] on database \"app\""
            ),
            "{refused}"
        );
    }
}
