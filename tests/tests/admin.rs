//! The admin listener: liveness, readiness, and Prometheus metrics that count what happened.

use sluice_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A plain HTTP/1.1 GET; returns (status, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let opts = ProxyOpts {
        extra_config: "[[rules]]\nname = \"no-drop\"\nwhen = { statements = [\"drop\"] }\naction = \"block\"\n".into(),
        ..ProxyOpts::default()
    };
    let mut proxy = Proxy::start(pg_scram(), opts).await;
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    assert_eq!(get(admin, "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(get(admin, "/readyz").await, (200, "ready\n".to_string()));

    assert!(proxy.try_connect(USER, "wrong").await.is_err());
    let client = proxy.connect().await;
    assert!(client
        .batch_execute("DROP TABLE nothing_here")
        .await
        .is_err());

    let (status, body) = get(admin, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "sluice_sessions_active{target=\"pg\",protocol=\"postgres\"} 1",
        "sluice_sessions_total{target=\"pg\",protocol=\"postgres\"} 1",
        "sluice_auth_failures_total{target=\"pg\",protocol=\"postgres\"} 1",
        "sluice_statements_refused_total{target=\"pg\",protocol=\"postgres\"} 1",
        "# TYPE sluice_sessions_total counter",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in\n{body}"
        );
    }
    drop(client);
    proxy.shutdown().await;
    assert!(
        TcpStream::connect(admin).await.is_err(),
        "the admin listener stops with sluice"
    );
}
