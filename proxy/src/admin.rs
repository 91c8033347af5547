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
    pub metrics: Metrics,
    /// Every target is listening and sluice is not shutting down.
    pub ready: AtomicBool,
    pub reloader: Arc<Reloader>,
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
        .with_state(state);
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "admin listener failed");
    }
}

async fn readyz(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Reloads users and rules; an invalid file is rejected with the reason and nothing changes.
async fn reload(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    match state.reloader.reload() {
        Ok(summary) => (StatusCode::OK, format!("reloaded: {summary}\n")),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("reload rejected, configuration unchanged: {e}\n"),
        ),
    }
}

async fn metrics(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
