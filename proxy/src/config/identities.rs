//! `[[targets.identities]]`: which database role each group of people logs in upstream as.
//!
//! sluice's rules and masks sit on top of the database's own grants only when sessions reach
//! the database as roles that fit the people behind them; these entries say which. They are
//! checked strictly at load: a mapping that cannot apply, or a setting sluice could not send
//! safely, is a config error rather than a surprise at the first login.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{ConfigError, PasswordError, Protocol, TargetConfig};

/// One upstream identity of a target: members of `groups` log in upstream as `user`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Globs over the session's groups (as `except_groups`); any match selects the entry.
    pub groups: Vec<String>,
    /// The database role sluice logs in as.
    pub user: String,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// `"token"`: the password is the token the client signed in with (`[jwt]`).
    pub password_from: Option<PasswordFrom>,
    /// When set, the entry applies only to sessions for this database.
    pub database: Option<String>,
    /// Applied right after the upstream login, in the order written.
    #[serde(default)]
    pub session_settings: SessionSettings,
}

/// Where an identity's password comes from, other than `password_env` / `password_file`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PasswordFrom {
    /// The client's own OIDC/JWT access token, for databases that accept it as a password.
    Token,
}

/// `session_settings = { key = value, ... }`, in the order written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionSettings(pub Vec<(String, SettingValue)>);

/// A setting's value: TOML strings, integers, floats and booleans. Numbers stay numbers, because
/// MySQL refuses a quoted value for a numeric variable (`max_statement_time = '5'`).
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl SettingValue {
    /// The value as PostgreSQL reads it in a StartupMessage (no quoting there).
    pub fn postgres_text(&self) -> String {
        match self {
            SettingValue::Text(s) => s.clone(),
            SettingValue::Integer(n) => n.to_string(),
            SettingValue::Float(f) => f.to_string(),
            SettingValue::Bool(b) => if *b { "on" } else { "off" }.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for SessionSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Settings;
        impl<'de> Visitor<'de> for Settings {
            type Value = SessionSettings;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of setting = value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, SettingValue>()? {
                    out.push((k, v));
                }
                Ok(SessionSettings(out))
            }
        }
        d.deserialize_map(Settings)
    }
}

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Value;
        impl Visitor<'_> for Value {
            type Value = SettingValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SettingValue, E> {
                Ok(SettingValue::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SettingValue, E> {
                Ok(SettingValue::Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SettingValue, E> {
                i64::try_from(v)
                    .map(SettingValue::Integer)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SettingValue, E> {
                Ok(SettingValue::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SettingValue, E> {
                Ok(SettingValue::Bool(v))
            }
        }
        d.deserialize_any(Value)
    }
}

/// StartupMessage parameters that are not settings: sluice owns them.
const POSTGRES_RESERVED: [&str; 3] = ["user", "database", "replication"];

/// Reads an upstream password from `password_env` or `password_file` (trailing newline
/// stripped); `None` when neither is set (trust auth upstream). One rule for a target's own
/// password and its identities', so both behave the same. `owner` names the entry in errors.
pub fn read_password(
    owner: &str,
    password_env: Option<&str>,
    password_file: Option<&Path>,
    base_dir: &Path,
) -> Result<Option<String>, PasswordError> {
    if let Some(var) = password_env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| PasswordError::EnvNotSet {
                owner: owner.to_string(),
                var: var.to_string(),
            });
    }
    if let Some(file) = password_file {
        let path = base_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| PasswordError::File {
            owner: owner.to_string(),
            path: path.clone(),
            source,
        })?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(None)
}

/// The password sources rule, checked at load: one of them at most.
pub fn check_password_source(
    owner: &str,
    password_env: Option<&str>,
    password_file: Option<&Path>,
) -> Result<(), ConfigError> {
    match (password_env, password_file) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid(format!(
            "{owner}: set password_env or password_file, not both"
        ))),
        _ => Ok(()),
    }
}

impl IdentityConfig {
    /// How errors name this entry: `target "t": identities[2] (user "ro")`.
    pub fn owner(&self, target: &str, index: usize) -> String {
        format!(
            "target {target:?}: identities[{index}] (user {:?})",
            self.user
        )
    }

    /// The entry's upstream password, read as the target's own is.
    pub fn password(
        &self,
        target: &str,
        index: usize,
        base_dir: &Path,
    ) -> Result<Option<String>, PasswordError> {
        read_password(
            &self.owner(target, index),
            self.password_env.as_deref(),
            self.password_file.as_deref(),
            base_dir,
        )
    }
}

/// Validates a target's `identities` and `require_identity`; `jwt`: whether `[jwt]` sign-in is
/// configured (a token can only be passed on when clients sign in with one).
pub fn validate(t: &TargetConfig, jwt: bool) -> Result<(), ConfigError> {
    if t.require_identity && t.identities.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "target {:?}: require_identity = true needs at least one [[targets.identities]]",
            t.name
        )));
    }
    for (index, id) in t.identities.iter().enumerate() {
        let owner = id.owner(&t.name, index);
        validate_one(t, id, &owner)?;
        check_password_from(id, jwt, &owner)?;
    }
    Ok(())
}

fn validate_one(t: &TargetConfig, id: &IdentityConfig, owner: &str) -> Result<(), ConfigError> {
    if id.groups.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{owner}: groups is empty; list the groups (globs) this identity is for"
        )));
    }
    for g in &id.groups {
        policy::Glob::new(g)
            .map_err(|e| ConfigError::Invalid(format!("{owner}: groups {g:?}: {e}")))?;
    }
    if id.user.is_empty() || id.user.chars().any(char::is_control) {
        return Err(ConfigError::Invalid(format!(
            "{owner}: user must be a non-empty name without control characters"
        )));
    }
    check_password_source(
        owner,
        id.password_env.as_deref(),
        id.password_file.as_deref(),
    )?;
    if let (Some(only), Some(db)) = (&t.database, &id.database) {
        if only != db {
            return Err(ConfigError::Invalid(format!(
                "{owner}: database {db:?} is never reached: the target serves only {only:?}"
            )));
        }
    }
    for (key, value) in &id.session_settings.0 {
        check_setting(t.protocol, key, value)
            .map_err(|e| ConfigError::Invalid(format!("{owner}: session_settings: {e}")))?;
    }
    Ok(())
}

/// `password_from = "token"` needs `[jwt]`, and is the only source of the password.
fn check_password_from(id: &IdentityConfig, jwt: bool, owner: &str) -> Result<(), ConfigError> {
    if id.password_from != Some(PasswordFrom::Token) {
        return Ok(());
    }
    if id.password_env.is_some() || id.password_file.is_some() {
        return Err(ConfigError::Invalid(format!(
            "{owner}: password_from = \"token\" takes the password from the client's token; remove password_env / password_file"
        )));
    }
    if !jwt {
        return Err(ConfigError::Invalid(format!(
            "{owner}: password_from = \"token\" needs [jwt] sign-in, and no [jwt] is configured"
        )));
    }
    Ok(())
}

/// A setting sluice can send without quoting the key: a plain identifier (PostgreSQL also takes
/// `prefix.name` custom settings), and a value without control characters.
fn check_setting(protocol: Protocol, key: &str, value: &SettingValue) -> Result<(), ConfigError> {
    let dotted = protocol == Protocol::Postgres;
    if !is_setting_name(key, dotted) {
        return Err(ConfigError::Invalid(format!(
            "{key:?} is not a plain setting name (letters, digits and _{})",
            if dotted { ", parts joined by ." } else { "" }
        )));
    }
    if protocol == Protocol::Postgres
        && POSTGRES_RESERVED.contains(&key.to_ascii_lowercase().as_str())
    {
        return Err(ConfigError::Invalid(format!(
            "{key:?} is set by sluice itself, not a setting"
        )));
    }
    match value {
        SettingValue::Text(s) if s.chars().any(char::is_control) => Err(ConfigError::Invalid(
            format!("{key}: the value contains a control character"),
        )),
        SettingValue::Float(f) if !f.is_finite() => Err(ConfigError::Invalid(format!(
            "{key}: the value is not finite"
        ))),
        _ => Ok(()),
    }
}

fn is_setting_name(key: &str, dotted: bool) -> bool {
    let part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match dotted {
        true => key.split('.').all(part),
        false => part(key),
    }
}

#[cfg(test)]
mod tests;
