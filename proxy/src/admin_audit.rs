//! The admin API's audit read routes (CONTRACT.md), over the audit directory:
//!
//! - `GET /api/sessions[?since=T&until=T&user=U&target=NAME]`: a JSON array of session
//!   summaries (the objects of `sluice audit sessions --json`); `T` is RFC 3339 or a duration
//!   ago (`1h`, `7d`), as for the CLI.
//! - `GET /api/sessions/{id}/events`: the session's records as a JSON array of the export
//!   objects (`sluice audit export --session ID`); 404 when the session has no records.
//!
//! Errors are JSON `{"error": "..."}`: 400 for a bad parameter, 404, 500. The reads run on
//! the blocking pool; they open the segments read-only, next to the running writer.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::audit_cli::{FilterArgs, SessionJson};

struct AuditRoutes {
    dir: PathBuf,
}

/// The audit read routes for the log in `dir`, to be merged into the admin router.
pub fn routes(dir: PathBuf) -> Router {
    Router::new()
        .route("/api/sessions", get(list_sessions))
        .route("/api/sessions/{id}/events", get(session_events))
        .with_state(Arc::new(AuditRoutes { dir }))
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    json(status, body)
}

/// A failed read: the status and the message of the `{"error": ...}` body.
type Failure = (StatusCode, String);

/// Runs blocking reader work producing a JSON body (200) or a [`Failure`].
async fn blocking(f: impl FnOnce() -> Result<String, Failure> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(body)) => json(StatusCode::OK, body),
        Ok(Err((status, message))) => error(status, &message),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("audit read failed: {e}"),
        ),
    }
}

async fn list_sessions(
    State(state): State<Arc<AuditRoutes>>,
    RawQuery(query): RawQuery,
) -> Response {
    let args = match filter_args(query.as_deref().unwrap_or("")) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let filter = match args.to_filter(audit::now_micros()) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    blocking(move || {
        let reader = audit::AuditReader::open(&state.dir).map_err(internal)?;
        let list = audit::sessions(&reader, &filter).map_err(internal)?;
        let items: Vec<SessionJson<'_>> = list.iter().map(SessionJson::new).collect();
        serde_json::to_string(&items).map_err(internal)
    })
    .await
}

async fn session_events(State(state): State<Arc<AuditRoutes>>, Path(id): Path<String>) -> Response {
    let Ok(session) = id.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("session id {id:?} is not a number"),
        );
    };
    blocking(move || {
        let reader = audit::AuditReader::open(&state.dir).map_err(internal)?;
        let filter = audit::Filter {
            session: Some(session),
            ..audit::Filter::default()
        };
        let mut body = String::from("[");
        let mut n = 0u64;
        for r in reader.records(&filter).flatten() {
            if n > 0 {
                body.push(',');
            }
            body.push_str(&r.export_line());
            n += 1;
        }
        body.push(']');
        if n == 0 {
            return Err((
                StatusCode::NOT_FOUND,
                format!("session {session} has no records"),
            ));
        }
        Ok(body)
    })
    .await
}

fn internal(e: impl std::fmt::Display) -> Failure {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `since`, `until`, `user`, `target` and `session` from a query string; others are ignored.
fn filter_args(query: &str) -> Result<FilterArgs, String> {
    let mut args = FilterArgs::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        let v = Some(v).filter(|v| !v.is_empty());
        match k.as_str() {
            "since" => args.since = v,
            "until" => args.until = v,
            "user" => args.user = v,
            "target" => args.target = v,
            "session" => {
                args.session = v
                    .map(|s| {
                        s.parse()
                            .map_err(|_| format!("session: {s:?} is not a number"))
                    })
                    .transpose()?
            }
            _ => {}
        }
    }
    Ok(args)
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-encoding in {s:?}"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let a =
            filter_args("since=2024-05-01T12%3A00%3A00%2B02%3A00&user=a+b&x=1&session=7").unwrap();
        assert_eq!(a.since.as_deref(), Some("2024-05-01T12:00:00+02:00"));
        assert_eq!(a.user.as_deref(), Some("a b"));
        assert_eq!(a.session, Some(7));
        assert!(filter_args("user=%zz").is_err());
        assert!(filter_args("session=x").is_err());
        assert_eq!(filter_args("").unwrap(), FilterArgs::default());
    }
}
