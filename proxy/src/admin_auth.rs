//! Who calls the admin API: a sluice user by HTTP basic auth (a `[[users]]` password), or by
//! `Authorization: Bearer <token>` with `[jwt]`. Everything but the public paths
//! (`server.admin_public`, default `/healthz`, `/readyz`, `/metrics`) requires it; the
//! operational routes (reload, the audit reads) require membership of `server.admin_groups`.
//! Approvers' routes check approver groups themselves.

use axum::http::{header, HeaderMap};
use base64::Engine;

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
    match users.check_password(user, password) {
        Some(who) => Ok(Some(who)),
        None => Err(AuthError::Bad(format!(
            "wrong password or unknown user {user:?}"
        ))),
    }
}
