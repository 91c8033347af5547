//! `[jwt]`: OIDC/JWT access tokens as passwords. A token is accepted only when its signature
//! verifies with a key of the configured JWKS (RS*, PS*, ES256/384 or EdDSA; never `none` or
//! an HMAC algorithm, so a public key can never be used as an HMAC secret), its `iss` and
//! `aud` are the configured ones, `exp`/`nbf` hold (60 s leeway), and its user claim is the
//! user name the client logged in with. Groups come from `groups_claim` (a string or an array).
//!
//! Keys come from `jwks_file` (re-read when a token names an unknown key) or `jwks_url`
//! (cached for five minutes, fetched again at once for an unknown key, at most every 30 s),
//! so a rotation at the identity provider needs no restart.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

use super::Identity;
use crate::config::{Config, JwtConfig};

const ACCEPTED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
const LEEWAY_SECS: u64 = 60;
const URL_CACHE: Duration = Duration::from_secs(300);
const URL_REFETCH_MIN: Duration = Duration::from_secs(30);
const FILE_REREAD_MIN: Duration = Duration::from_secs(1);

/// Why a token was refused: for the log only (clients see a generic authentication error).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not a JWT ({0})")]
    Malformed(String),
    #[error("algorithm {0} is not accepted (RS*, PS*, ES256, ES384 and EdDSA are)")]
    Algorithm(String),
    #[error("no key {0:?} in the JWKS")]
    UnknownKey(Option<String>),
    #[error("key {0:?} does not fit the token's algorithm {1}")]
    KeyMismatch(Option<String>, String),
    #[error("{0}")]
    Invalid(String),
    #[error("the token has no string {0:?} claim")]
    MissingClaim(String),
    #[error("the token is for {token:?}, but the client logged in as {login:?}")]
    UserMismatch { token: String, login: String },
    #[error("the JWKS cannot be read: {0}")]
    Keys(String),
}

/// Who a verified token says the client is, and until when.
#[derive(Clone, Debug)]
pub struct TokenIdentity {
    pub identity: Identity,
    /// The token's `exp`, in seconds since the epoch.
    pub expires_at: i64,
}

enum KeySource {
    File(PathBuf),
    Url(String),
}

struct Keys {
    set: JwkSet,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// `[jwt]`, ready to verify tokens.
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    user_claim: String,
    groups_claim: String,
    source: KeySource,
    keys: Mutex<Keys>,
    /// A token-signed session may outlive its token by this much (default 5 minutes).
    pub session_grace: Duration,
    /// When set, a token-signed session lasts at most this long from sign-in instead.
    pub max_session: Option<Duration>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

fn parse_set(text: &str, what: &str) -> Result<JwkSet, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not a JWKS: {e}"))
}

impl JwtVerifier {
    /// The verifier of `config`'s `[jwt]`; a `jwks_file` is read now, so a bad one is a config
    /// error.
    pub fn load(config: &Config) -> Result<Option<JwtVerifier>, String> {
        let Some(j) = &config.jwt else {
            return Ok(None);
        };
        Self::validate(j)?;
        let (source, set) = match (&j.jwks_file, &j.jwks_url) {
            (Some(file), None) => {
                let path = config.path(std::path::Path::new(file));
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("[jwt] jwks_file {}: {e}", path.display()))?;
                let set = parse_set(&text, &format!("[jwt] jwks_file {}", path.display()))?;
                (KeySource::File(path), set)
            }
            (None, Some(url)) => (KeySource::Url(url.clone()), JwkSet { keys: Vec::new() }),
            _ => unreachable!("validated"),
        };
        let fetched = matches!(source, KeySource::File(_)).then(Instant::now);
        Ok(Some(JwtVerifier {
            issuer: j.issuer.clone(),
            audience: j.audience.clone(),
            user_claim: j.user_claim.clone().unwrap_or_else(|| "sub".into()),
            groups_claim: j.groups_claim.clone().unwrap_or_else(|| "groups".into()),
            source,
            keys: Mutex::new(Keys {
                set,
                fetched,
                last_attempt: fetched,
            }),
            session_grace: j
                .session_grace
                .as_ref()
                .map_or(Duration::from_secs(300), |d| d.0),
            max_session: j.max_session.as_ref().map(|d| d.0),
        }))
    }

    /// Checks that can be made without reading files.
    pub fn validate(j: &JwtConfig) -> Result<(), String> {
        match (&j.jwks_file, &j.jwks_url) {
            (Some(_), None) => Ok(()),
            (None, Some(u)) if u.starts_with("https://") || u.starts_with("http://") => Ok(()),
            (None, Some(u)) => Err(format!("[jwt] jwks_url {u:?} must be an http(s) URL")),
            _ => Err("[jwt]: set exactly one of jwks_file and jwks_url".into()),
        }
    }

    /// Whether `password` could be a JWT at all (three base64url parts).
    pub fn looks_like_token(password: &str) -> bool {
        let parts: Vec<&str> = password.split('.').collect();
        parts.len() == 3
            && parts[..2].iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn find(&self, kid: Option<&str>) -> Option<Jwk> {
        let keys = self.lock();
        match kid {
            Some(kid) => keys
                .set
                .keys
                .iter()
                .find(|k| k.common.key_id.as_deref() == Some(kid))
                .cloned(),
            None if keys.set.keys.len() == 1 => keys.set.keys.first().cloned(),
            None => None,
        }
    }

    /// Loads the keys again (an unknown key was named, or the URL cache is stale).
    async fn refresh(&self, force: bool) -> Result<(), TokenError> {
        let (due, url) = {
            let k = self.lock();
            let since = |t: Option<Instant>| t.map_or(Duration::MAX, |t| t.elapsed());
            match &self.source {
                KeySource::File(_) => (force && since(k.last_attempt) >= FILE_REREAD_MIN, None),
                KeySource::Url(u) => {
                    let stale = since(k.fetched) >= URL_CACHE;
                    let may = since(k.last_attempt) >= URL_REFETCH_MIN || k.fetched.is_none();
                    ((force || stale) && may, Some(u.clone()))
                }
            }
        };
        if !due {
            return Ok(());
        }
        self.lock().last_attempt = Some(Instant::now());
        let loaded = match (&self.source, url) {
            (KeySource::File(path), _) => std::fs::read_to_string(path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|t| parse_set(&t, &path.display().to_string())),
            (KeySource::Url(_), Some(url)) => fetch(&url).await,
            (KeySource::Url(_), None) => return Ok(()),
        };
        match loaded {
            Ok(set) => {
                let mut k = self.lock();
                k.set = set;
                k.fetched = Some(Instant::now());
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed; the keys already loaded stay in use");
                if self.lock().set.keys.is_empty() {
                    Err(TokenError::Keys(e))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Verifies `token` for a client that logged in as `login`.
    pub async fn verify(&self, token: &str, login: &str) -> Result<TokenIdentity, TokenError> {
        self.verify_for(token, Some(login)).await
    }

    /// Verifies a bearer token: whoever its user claim names.
    pub async fn verify_bearer(&self, token: &str) -> Result<TokenIdentity, TokenError> {
        self.verify_for(token, None).await
    }

    async fn verify_for(
        &self,
        token: &str,
        login: Option<&str>,
    ) -> Result<TokenIdentity, TokenError> {
        let header = decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        let alg = header.alg;
        if !ACCEPTED.contains(&alg) {
            return Err(TokenError::Algorithm(format!("{alg:?}")));
        }
        self.refresh(false).await?;
        let kid = header.kid.as_deref();
        let jwk = match self.find(kid) {
            Some(k) => k,
            None => {
                self.refresh(true).await?;
                self.find(kid)
                    .ok_or_else(|| TokenError::UnknownKey(header.kid.clone()))?
            }
        };
        let fits = matches!(
            (&jwk.algorithm, alg),
            (
                AlgorithmParameters::RSA(_),
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (
                AlgorithmParameters::EllipticCurve(_),
                Algorithm::ES256 | Algorithm::ES384
            ) | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
        ) && jwk
            .common
            .key_algorithm
            .is_none_or(|ka| format!("{ka:?}") == format!("{alg:?}"));
        if !fits {
            return Err(TokenError::KeyMismatch(header.kid, format!("{alg:?}")));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        let data = decode::<serde_json::Value>(token, &key, &v)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let user = claims
            .get(&self.user_claim)
            .and_then(|u| u.as_str())
            .ok_or_else(|| TokenError::MissingClaim(self.user_claim.clone()))?;
        if let Some(login) = login.filter(|l| *l != user) {
            return Err(TokenError::UserMismatch {
                token: user.to_string(),
                login: login.to_string(),
            });
        }
        let groups = match claims.get(&self.groups_claim) {
            Some(serde_json::Value::String(g)) => vec![g.clone()],
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let expires_at = claims
            .get("exp")
            .and_then(|e| e.as_i64())
            .ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
        Ok(TokenIdentity {
            identity: Identity {
                user: user.to_string(),
                groups,
            },
            expires_at,
        })
    }

    /// When a session signed in with `token` must end (seconds since the epoch).
    pub fn session_deadline(&self, token: &TokenIdentity, now: i64) -> i64 {
        match self.max_session {
            Some(m) => now.saturating_add(i64::try_from(m.as_secs()).unwrap_or(i64::MAX)),
            None => token
                .expires_at
                .saturating_add(i64::try_from(self.session_grace.as_secs()).unwrap_or(0)),
        }
    }
}

async fn fetch(url: &str) -> Result<JwkSet, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let text = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
    parse_set(&text, url)
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    audit::now_micros() / 1_000_000
}
