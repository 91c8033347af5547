//! The admin listener's approval routes (CONTRACT.md):
//!
//! - `GET /api/approvals[?state=pending|approved|denied|expired|cancelled|used|abandoned|all]`: JSON array
//!   (default: pending), newest first. `GET /api/approvals/{id}`: one request.
//! - `POST /api/approvals/{id}/approve`, `POST /api/approvals/{id}/deny`: body
//!   `{"reason": "..."}` (required to deny); the caller is an approver.
//! - `GET /approvals`: the approvers' page; `POST /approvals/login`, `POST /approvals/logout`.
//! - `GET|POST /approvals/{id}/approve|deny?token=T`: the webhook's single-use links.
//!
//! Callers authenticate as sluice users: HTTP basic (the API and the CLI) or the page's login,
//! which sets an HttpOnly, SameSite=Strict session cookie; requests made with the cookie must
//! also carry its CSRF token. Errors are JSON `{"error": "..."}` with 400, 401, 403, 404, 409
//! or 503.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::{page, Approvals, DecideError, RequestState};
use crate::auth::Identity;
use crate::live::Live;

const COOKIE: &str = "sluice_approver";
const LOGIN_TTL: Duration = Duration::from_secs(8 * 3600);

struct Login {
    who: Identity,
    csrf: String,
    until: Instant,
}

pub struct ApprovalRoutes {
    approvals: Arc<Approvals>,
    live: Arc<Live>,
    logins: Mutex<HashMap<String, Login>>,
}

/// The approval routes, to be merged into the admin router.
pub fn routes(approvals: Arc<Approvals>, live: Arc<Live>) -> Router {
    Router::new()
        .route("/api/approvals", get(list))
        .route("/api/approvals/{id}", get(one))
        .route("/api/approvals/{id}/{action}", post(api_decide))
        .route("/approvals", get(page_index))
        .route("/approvals/login", post(login))
        .route("/approvals/logout", post(logout))
        .route("/approvals/{id}/{action}", get(link_page).post(link_decide))
        .with_state(Arc::new(ApprovalRoutes {
            approvals,
            live,
            logins: Mutex::new(HashMap::new()),
        }))
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, serde_json::json!({ "error": message }))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

fn decide_error(e: DecideError) -> (StatusCode, String) {
    let status = match &e {
        DecideError::NotFound => StatusCode::NOT_FOUND,
        DecideError::Forbidden(_) => StatusCode::FORBIDDEN,
        DecideError::Conflict(_) => StatusCode::CONFLICT,
        DecideError::BadRequest(_) => StatusCode::BAD_REQUEST,
        DecideError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, e.to_string())
}

/// `key=value` pairs of a query string or a form body.
fn pairs(text: &str) -> HashMap<String, String> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
}

/// A caller turned away: the status, why, and whether to ask for basic credentials.
struct Turned(StatusCode, String, bool);

impl IntoResponse for Turned {
    fn into_response(self) -> Response {
        let mut r = error(self.0, &self.1);
        if self.2 {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"sluice\""),
            );
        }
        r
    }
}

/// Who is calling, and the CSRF token they must echo when they came by cookie.
enum Caller {
    Basic(Identity),
    Cookie(Identity, String),
}

impl Caller {
    fn who(&self) -> &Identity {
        match self {
            Caller::Basic(w) | Caller::Cookie(w, _) => w,
        }
    }
}

impl ApprovalRoutes {
    async fn caller(&self, headers: &HeaderMap) -> Result<Option<Caller>, Turned> {
        if headers.contains_key(header::AUTHORIZATION) {
            let users = self.live.users();
            let login = self.live.login();
            // The peer address is not at hand here: throttled by user name.
            return match crate::admin_auth::authenticate(&users, headers, login, None).await {
                Ok(who) => Ok(who.map(Caller::Basic)),
                Err(crate::admin_auth::AuthError::Bad(why)) => {
                    tracing::warn!(reason = %why, "admin API: authentication failed");
                    Err(Turned(
                        StatusCode::UNAUTHORIZED,
                        "wrong user name, password or token".into(),
                        true,
                    ))
                }
            };
        }
        let Some(token) = cookie(headers) else {
            return Ok(None);
        };
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        logins.retain(|_, l| l.until > now);
        Ok(logins
            .get(&token)
            .map(|l| Caller::Cookie(l.who.clone(), l.csrf.clone())))
    }

    /// An approver, or the response refusing the caller.
    async fn approver(&self, headers: &HeaderMap, csrf: Option<&str>) -> Result<Identity, Turned> {
        let caller = self.caller(headers).await?.ok_or_else(|| {
            Turned(
                StatusCode::UNAUTHORIZED,
                "authenticate as a sluice user (HTTP basic)".into(),
                true,
            )
        })?;
        if let Caller::Cookie(_, expected) = &caller {
            let sent = csrf
                .map(str::to_string)
                .or_else(|| header_str(headers, "x-sluice-csrf"));
            if sent.as_deref() != Some(expected.as_str()) {
                return Err(Turned(
                    StatusCode::FORBIDDEN,
                    "missing or wrong CSRF token".into(),
                    false,
                ));
            }
        }
        let who = caller.who().clone();
        if !self.approvals.is_approver(&who) {
            return Err(Turned(
                StatusCode::FORBIDDEN,
                format!("{} is not an approver", who.user),
                false,
            ));
        }
        Ok(who)
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
}

async fn list(
    State(s): State<Arc<ApprovalRoutes>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = pairs(q.as_deref().unwrap_or(""));
    // Reading is a GET: no CSRF token needed (SameSite=Strict keeps the cookie same-site).
    let csrf = match s.caller(&headers).await {
        Ok(Some(Caller::Cookie(_, c))) => Some(c),
        _ => None,
    };
    if let Err(r) = s.approver(&headers, csrf.as_deref()).await {
        return r.into_response();
    }
    let state = match q.get("state").map(String::as_str) {
        None | Some("pending") => Some(RequestState::Pending),
        Some("all") => None,
        Some(other) => match RequestState::parse(other) {
            Some(st) => Some(st),
            None => return error(StatusCode::BAD_REQUEST, &format!("unknown state {other:?}")),
        },
    };
    let list: Vec<serde_json::Value> = s
        .approvals
        .list(state)
        .iter()
        .map(|r| r.to_json())
        .collect();
    json(StatusCode::OK, serde_json::Value::Array(list))
}

async fn one(
    State(s): State<Arc<ApprovalRoutes>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let csrf = match s.caller(&headers).await {
        Ok(Some(Caller::Cookie(_, c))) => Some(c),
        _ => None,
    };
    if let Err(r) = s.approver(&headers, csrf.as_deref()).await {
        return r.into_response();
    }
    match s.approvals.get(&id) {
        Some(r) => json(StatusCode::OK, r.to_json()),
        None => error(StatusCode::NOT_FOUND, "no such approval request"),
    }
}

fn action(a: &str) -> Option<bool> {
    match a {
        "approve" => Some(true),
        "deny" => Some(false),
        _ => None,
    }
}

async fn api_decide(
    State(s): State<Arc<ApprovalRoutes>>,
    headers: HeaderMap,
    Path((id, act)): Path<(String, String)>,
    body: String,
) -> Response {
    let Some(approve) = action(&act) else {
        return error(StatusCode::NOT_FOUND, "use /approve or /deny");
    };
    let who = match s.approver(&headers, None).await {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let reason = match body.trim() {
        "" => None,
        text => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => match v.get("reason") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(r)) => Some(r.clone()),
                Some(_) => return error(StatusCode::BAD_REQUEST, "\"reason\" must be a string"),
            },
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
        },
    };
    let a = Arc::clone(&s.approvals);
    let decided =
        tokio::task::spawn_blocking(move || a.decide(&id, &who, approve, reason.as_deref())).await;
    match decided {
        Ok(Ok(r)) => json(StatusCode::OK, r.to_json()),
        Ok(Err(e)) => {
            let (status, m) = decide_error(e);
            error(status, &m)
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the decision did not complete",
        ),
    }
}

async fn page_index(State(s): State<Arc<ApprovalRoutes>>, headers: HeaderMap) -> Response {
    match s.caller(&headers).await {
        Ok(Some(Caller::Cookie(who, csrf))) => html(
            StatusCode::OK,
            page::index(&who, &csrf, s.approvals.is_approver(&who)),
        ),
        _ => html(StatusCode::OK, page::login("/approvals", None)),
    }
}

/// Only paths of this listener may be returned to after login.
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with("/approvals") && !n.contains("//") && !n.contains('\\') => {
            n.clone()
        }
        _ => "/approvals".into(),
    }
}

async fn login(State(s): State<Arc<ApprovalRoutes>>, body: String) -> Response {
    let form = pairs(&body);
    let next = safe_next(form.get("next"));
    let (Some(user), Some(password)) = (form.get("user"), form.get("password")) else {
        return html(
            StatusCode::BAD_REQUEST,
            page::login(&next, Some("enter a user name and password")),
        );
    };
    let users = s.live.users();
    // `[login]` throttling by user name, as for the admin API's basic auth.
    let attempt = s.live.login().attempt(None, user);
    if !attempt.wait_turn().await.is_zero() {
        s.live.login().count_admin_throttled();
    }
    let (user, password) = (user.clone(), password.clone());
    let who = tokio::task::spawn_blocking(move || users.check_password(&user, &password))
        .await
        .ok()
        .flatten();
    match &who {
        Some(_) => attempt.succeeded(),
        None => {
            if !attempt.failed().await.delay.is_zero() {
                s.live.login().count_admin_throttled();
            }
        }
    }
    let Some(who) = who else {
        tracing::warn!(
            user = form.get("user").map(String::as_str).unwrap_or(""),
            "approvals page: failed login"
        );
        return html(
            StatusCode::UNAUTHORIZED,
            page::login(&next, Some("wrong user name or password")),
        );
    };
    let token = super::random_hex(24);
    let csrf = super::random_hex(16);
    s.logins.lock().unwrap_or_else(|p| p.into_inner()).insert(
        token.clone(),
        Login {
            who,
            csrf,
            until: Instant::now() + LOGIN_TTL,
        },
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, next),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                    LOGIN_TTL.as_secs()
                ),
            ),
        ],
    )
        .into_response()
}

async fn logout(State(s): State<Arc<ApprovalRoutes>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers) {
        s.logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/approvals".to_string()),
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}

async fn link_page(
    State(s): State<Arc<ApprovalRoutes>>,
    headers: HeaderMap,
    Path((id, act)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(approve) = action(&act) else {
        return html(
            StatusCode::NOT_FOUND,
            page::message("Not found", "Use an approve or deny link."),
        );
    };
    let q = pairs(q.as_deref().unwrap_or(""));
    let token = q.get("token").cloned().unwrap_or_default();
    let request = match s.approvals.check_link(&id, &token) {
        Ok(r) => r,
        Err(e) => {
            let (status, m) = decide_error(e);
            return html(status, page::message("This link cannot be used", &m));
        }
    };
    match s.caller(&headers).await {
        Ok(Some(Caller::Cookie(who, csrf))) => html(
            StatusCode::OK,
            page::link(&request, approve, &token, &csrf, &who),
        ),
        _ => {
            let next = format!("/approvals/{id}/{act}?token={token}");
            html(StatusCode::OK, page::login(&next, None))
        }
    }
}

async fn link_decide(
    State(s): State<Arc<ApprovalRoutes>>,
    headers: HeaderMap,
    Path((id, act)): Path<(String, String)>,
    body: String,
) -> Response {
    let Some(approve) = action(&act) else {
        return html(
            StatusCode::NOT_FOUND,
            page::message("Not found", "Use an approve or deny link."),
        );
    };
    let form = pairs(&body);
    let who = match s
        .approver(&headers, form.get("csrf").map(String::as_str))
        .await
    {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let token = form.get("token").cloned().unwrap_or_default();
    let reason = form.get("reason").cloned();
    let a = Arc::clone(&s.approvals);
    let decided = tokio::task::spawn_blocking(move || {
        a.decide_by_link(&id, &token, &who, approve, reason.as_deref())
    })
    .await;
    match decided {
        Ok(Ok(r)) => html(
            StatusCode::OK,
            page::message(
                "Done",
                &format!(
                    "Request {} is now {} ({} of {} approvals).",
                    r.id,
                    r.state.as_str(),
                    r.approvals.len(),
                    r.required
                ),
            ),
        ),
        Ok(Err(e)) => {
            let (status, m) = decide_error(e);
            html(status, page::message("Not done", &m))
        }
        Err(_) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            page::message("Not done", "the decision did not complete"),
        ),
    }
}
