//! Who calls the admin API: a sluice user by HTTP basic auth (a `[[users]]` password), or by
//! `Authorization: Bearer <token>` with `[jwt]`. Everything but the public paths
//! (`server.admin_public`, default `/healthz`, `/readyz`, `/metrics`) requires it; the
//! operational routes (reload, the audit reads) require membership of `server.admin_groups`.
//! Approvers' routes check approver groups themselves.

use axum::http::{header, HeaderMap};
use base64::Engine;

use std::net::IpAddr;

use crate::auth::throttle::LoginThrottle;
use crate::auth::{Identity, UserDirectory};

/// Why a caller was not recognised (for the log and a 401).
#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Credentials were sent and are wrong.
    Bad(String),
}

/// The caller's identity from the request's `Authorization` header; `Ok(None)` when it has
/// none.
pub async fn authenticate(
    users: &UserDirectory,
    headers: &HeaderMap,
    throttle: &LoginThrottle,
    peer: Option<IpAddr>,
) -> Result<Option<Identity>, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = |why: &str| AuthError::Bad(why.to_string());
    let text = value
        .to_str()
        .map_err(|_| bad("unreadable Authorization header"))?;
    if let Some(token) = text.strip_prefix("Bearer ") {
        let Some(jwt) = users.jwt() else {
            return Err(bad("bearer tokens need [jwt]"));
        };
        return jwt
            .verify_bearer(token.trim())
            .await
            .map(|t| Some(t.identity))
            .map_err(|e| AuthError::Bad(format!("bearer token refused: {e}")));
    }
    let encoded = text
        .strip_prefix("Basic ")
        .ok_or_else(|| bad("only Basic and Bearer authorization are accepted"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad("malformed basic credentials"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad("malformed basic credentials"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| bad("malformed basic credentials"))?;
    // `[login]` throttling, as for database logins: wait out the delay, check, and on a
    // failure answer only after the next one.
    let attempt = throttle.attempt(peer, user);
    let waited = !attempt.wait_turn().await.is_zero();
    match users.check_password(user, password) {
        Some(who) => {
            attempt.succeeded();
            if waited {
                throttle.count_admin_throttled();
            }
            Ok(Some(who))
        }
        None => {
            let penalty = attempt.failed().await;
            if waited || !penalty.delay.is_zero() {
                throttle.count_admin_throttled();
            }
            Err(AuthError::Bad(format!(
                "wrong password or unknown user {user:?}{}",
                penalty.describe()
            )))
        }
    }
}
