//! The admin HTTP listener (`server.admin_listen`): liveness, readiness and Prometheus metrics.
//! The audit, approval and reload routes of CONTRACT.md come with their features.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::server::Reloader;

/// What the admin routes read.
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    /// Every target is listening and sluice is not shutting down.
    pub ready: AtomicBool,
    pub reloader: Arc<Reloader>,
    /// The audit log, with `[audit]`: its health is part of readiness.
    pub audit: Option<Arc<crate::recorder::Auditor>>,
    /// `[[audit.sinks]]`: their lag is part of readiness and of the metrics.
    pub shipper: Option<Arc<crate::shipper::Shipper>>,
    /// `[approvals]`: its routes and metrics.
    pub approvals: Option<Arc<crate::approvals::Approvals>>,
    /// The targets, for readiness (their upstreams must be reachable).
    pub listeners: Option<Arc<crate::listeners::Listeners>>,
    /// Who may call the operational routes, and which paths are open to all.
    pub admin_groups: Vec<String>,
    pub admin_public: Vec<String>,
}

/// Serves the admin routes until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AdminState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/reload", post(reload))
        .with_state(Arc::clone(&state));
    let app = match &state.audit {
        Some(a) => app.merge(crate::admin_audit::routes(a.dir().to_path_buf())),
        None => app,
    };
    let app = match &state.approvals {
        Some(a) => app.merge(crate::approvals::routes::routes(
            Arc::clone(a),
            Arc::clone(&state.reloader.live),
        )),
        None => app,
    };
    let app = app.layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state),
        guard,
    ));
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    // With the peer's address, for login throttling.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "admin listener failed");
    }
}

/// Lets public paths through, leaves the approvers' routes to their own checks (approvers need
/// not be admins), and requires an admin for everything else.
async fn guard(
    State(state): State<Arc<AdminState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let approvals = path == "/approvals"
        || path.starts_with("/approvals/")
        || path == "/api/approvals"
        || path.starts_with("/api/approvals/");
    if state.admin_public.iter().any(|p| p == path) || approvals {
        return next.run(request).await;
    }
    let users = state.reloader.live.users();
    let refuse = |status: StatusCode, message: String| {
        let body = serde_json::json!({ "error": message }).to_string();
        let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"sluice\""),
            );
        }
        r
    };
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let login = state.reloader.live.login();
    match crate::admin_auth::authenticate(&users, request.headers(), login, peer).await {
        Ok(Some(who)) if crate::auth::in_any(&who.groups, &state.admin_groups) => {
            tracing::info!(user = %who.user, %path, "admin API call");
            let mut request = request;
            request.extensions_mut().insert(who);
            next.run(request).await
        }
        Ok(Some(who)) => refuse(
            StatusCode::FORBIDDEN,
            format!(
                "{} is not in server.admin_groups {:?}",
                who.user, state.admin_groups
            ),
        ),
        Ok(None) => refuse(
            StatusCode::UNAUTHORIZED,
            "authenticate as a sluice user in server.admin_groups (HTTP basic or a bearer token)"
                .into(),
        ),
        Err(crate::admin_auth::AuthError::Bad(why)) => {
            tracing::warn!(%path, reason = %why, "admin API: authentication failed");
            refuse(
                StatusCode::UNAUTHORIZED,
                "wrong user name, password or token".into(),
            )
        }
    }
}

async fn readyz(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    if !state.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_string());
    }
    if let Some(audit::Health::Failing { reason, .. }) =
        state.audit.as_ref().map(|a| a.log().health())
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the audit log cannot write: {reason}\n"),
        );
    }
    if let Some(why) = state.shipper.as_ref().and_then(|s| s.not_ready()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        );
    }
    // Every target's database must accept a TCP connection (a login is not attempted).
    let upstreams = state
        .listeners
        .as_ref()
        .map(|l| l.upstreams())
        .unwrap_or_default();
    let checks = upstreams.into_iter().map(|(name, addr)| async move {
        let connect = tokio::net::TcpStream::connect(addr.clone());
        match tokio::time::timeout(std::time::Duration::from_secs(2), connect).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("target \"{name}\": {addr}: {e}")),
            Err(_) => Some(format!("target \"{name}\": {addr}: no answer within 2 s")),
        }
    });
    let down: Vec<String> = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect();
    if !down.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: upstream unreachable: {}\n", down.join("; ")),
        );
    }
    (StatusCode::OK, "ready\n".to_string())
}

/// Reloads users and rules; an invalid file is rejected with the reason and nothing changes.
async fn reload(
    State(state): State<Arc<AdminState>>,
    who: Option<axum::Extension<crate::auth::Identity>>,
) -> impl IntoResponse {
    let by = who.map_or_else(|| "admin API".to_string(), |w| w.0.user);
    match state.reloader.reload(&by).await {
        Ok(summary) => (StatusCode::OK, format!("reloaded: {summary}\n")),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("reload rejected, configuration unchanged: {e}\n"),
        ),
    }
}

async fn metrics(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    let admin_throttled = state.reloader.live.login().admin_throttled();
    state
        .metrics
        .admin_logins_throttled
        .store(admin_throttled, std::sync::atomic::Ordering::Relaxed);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render()
            + &audit_metrics(state.audit.as_deref())
            + &state
                .shipper
                .as_deref()
                .map(crate::shipper::Shipper::render_metrics)
                .unwrap_or_default()
            + &state
                .approvals
                .as_deref()
                .map(crate::approvals::render_metrics)
                .unwrap_or_default(),
    )
}

/// The audit log's counters, in Prometheus text format.
fn audit_metrics(audit: Option<&crate::recorder::Auditor>) -> String {
    let Some(a) = audit else {
        return String::new();
    };
    let s = a.log().stats();
    format!(
        "# HELP sluice_audit_records_total Audit records written durably.\n# TYPE sluice_audit_records_total counter\nsluice_audit_records_total {}\n\
         # HELP sluice_audit_commits_total Audit log commits.\n# TYPE sluice_audit_commits_total counter\nsluice_audit_commits_total {}\n\
         # HELP sluice_audit_commit_seconds Time spent committing the audit log.\n# TYPE sluice_audit_commit_seconds summary\nsluice_audit_commit_seconds_sum {:.6}\nsluice_audit_commit_seconds_count {}\n\
         # HELP sluice_audit_queue Audit records waiting to be written.\n# TYPE sluice_audit_queue gauge\nsluice_audit_queue {}\n\
         # HELP sluice_audit_failing 1 while the audit log cannot write.\n# TYPE sluice_audit_failing gauge\nsluice_audit_failing {}\n",
        s.records_written,
        s.commits,
        s.commit_micros as f64 / 1e6,
        s.commits,
        s.queue_len,
        u8::from(s.failing)
    )
}
