//! The demo's webhook receiver: what an approver's chat bot or ticketing system would be. It
//! checks each delivery's `Sluice-Signature` and prints the request with the commands that
//! decide it, so a newcomer sees the whole approval round trip in one terminal.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The path the demo's `[[approvals.webhooks]]` url points at.
pub const HOOK_PATH: &str = "/sluice-webhook";

/// What the receiver needs to check a delivery and to say how to decide it.
pub struct Receiver {
    /// The webhook secret (the same bytes as the config's `secret_file`).
    pub secret: Vec<u8>,
    /// The command that approves a request, without its id.
    pub approve_command: String,
    /// The command that denies a request, without its id.
    pub deny_command: String,
}

/// Serves [`HOOK_PATH`] on `addr` until the runtime stops; returns the bound address.
pub async fn start(addr: &str, receiver: Receiver) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("webhook receiver on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Router::new()
        .route(HOOK_PATH, post(delivery))
        .with_state(Arc::new(receiver));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("sluice demo: webhook receiver stopped: {e}");
        }
    });
    Ok(bound)
}

async fn delivery(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get("Sluice-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !signed_by(&receiver.secret, signature, &body) {
        println!("\nwebhook: a delivery with a bad Sluice-Signature was refused");
        return StatusCode::UNAUTHORIZED;
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(request) => println!("{}", describe(&receiver, &request)),
        Err(e) => println!("\nwebhook: signed, but not JSON: {e}"),
    }
    StatusCode::OK
}

/// Whether `header` (`t=<unix>,v1=<hex>`) is the HMAC-SHA-256 of `"<t>.<body>"` under `secret`.
fn signed_by(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

/// The lines printed for one signed request.
fn describe(receiver: &Receiver, request: &serde_json::Value) -> String {
    let field = |name: &str| request[name].as_str().unwrap_or("?").to_string();
    let id = field("id");
    format!(
        "\nwebhook received, Sluice-Signature verified: request {id}\n\
         \x20 {} on {} wants: {}\n\
         \x20 held by rule {}\n\
         \x20 approve: {} {id}\n\
         \x20 deny:    {} {id}\n\
         \x20 or open  {} (sign in as dora / dora)",
        field("user"),
        field("target"),
        field("statement"),
        field("rule"),
        receiver.approve_command,
        receiver.deny_command,
        field("page_url"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_by_sluice_is_accepted_and_a_changed_body_is_not() {
        let secret = b"demo-secret";
        let header = crate::approvals::webhook::signature(secret, 1_700_000_000, "{\"id\":\"7\"}");
        assert!(signed_by(secret, &header, b"{\"id\":\"7\"}"));
        assert!(!signed_by(secret, &header, b"{\"id\":\"8\"}"));
        assert!(!signed_by(b"other", &header, b"{\"id\":\"7\"}"));
        assert!(!signed_by(secret, "t=1", b"{}"));
    }
}
