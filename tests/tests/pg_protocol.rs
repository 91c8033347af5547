//! Protocol corners real clients rely on: PostgreSQL 17 direct TLS, GSSAPI encryption refusal,
//! protocol version negotiation, startup `options`, and FunctionCall (libpq large objects).

use std::process::Command;
use std::sync::Arc;

use sluice_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::NoTls;

fn startup_packet(version: u32, params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    packet
}

/// Reads one tagged message: (tag, body).
async fn read_message<S: AsyncReadExt + Unpin>(s: &mut S) -> (u8, Vec<u8>) {
    let tag = s.read_u8().await.unwrap();
    let len = s.read_u32().await.unwrap();
    let mut body = vec![0u8; len as usize - 4];
    s.read_exact(&mut body).await.unwrap();
    (tag, body)
}

fn is_sasl_request((tag, body): &(u8, Vec<u8>)) -> bool {
    *tag == b'R'
        && body[..4] == 10u32.to_be_bytes()
        && body.windows(13).any(|w| w == b"SCRAM-SHA-256")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_17_direct_tls_with_alpn_is_accepted() {
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            client_tls: Some(true),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut config = client_tls_config(&proxy.ca_file());
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    let tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(&startup_packet(
        196_608,
        &[("user", USER), ("database", "app")],
    ))
    .await
    .unwrap();
    let first = read_message(&mut tls).await;
    assert!(
        is_sasl_request(&first),
        "expected AuthenticationSASL, got {:?}",
        first.0 as char
    );
    // SCRAM-SHA-256-PLUS is offered over TLS.
    assert!(first.1.windows(18).any(|w| w == b"SCRAM-SHA-256-PLUS"));

    // Without the ALPN, direct TLS is refused (PostgreSQL 17 behaves the same).
    let tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let config = client_tls_config(&proxy.ca_file());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let refused = match tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    {
        Err(_) => true,
        Ok(mut tls) => {
            let _ = tls
                .write_all(&startup_packet(196_608, &[("user", USER)]))
                .await;
            let mut byte = [0u8; 1];
            matches!(tls.read(&mut byte).await, Ok(0) | Err(_))
        }
    };
    assert!(refused, "direct TLS without ALPN must not get a session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gssapi_encryption_is_refused_so_clients_fall_back() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    tcp.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30])
        .await
        .unwrap();
    assert_eq!(tcp.read_u8().await.unwrap(), b'N');
    // No TLS configured: SSLRequest is declined too, and the plain startup proceeds.
    tcp.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .await
        .unwrap();
    assert_eq!(tcp.read_u8().await.unwrap(), b'N');
    tcp.write_all(&startup_packet(
        196_608,
        &[("user", USER), ("database", "app")],
    ))
    .await
    .unwrap();
    assert!(is_sasl_request(&read_message(&mut tcp).await));

    // And psql with gssencmode=prefer simply works.
    let out = psql(
        &proxy.conn_str(USER, PASSWORD, "gssencmode=prefer"),
        &["-At", "-c", "select 42"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "42",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_minor_protocol_is_negotiated_down_to_3_0() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let packet = startup_packet(
        196_610,
        &[
            ("user", USER),
            ("database", "app"),
            ("_pq_.compression", "on"),
        ],
    );
    tcp.write_all(&packet).await.unwrap();
    let (tag, body) = read_message(&mut tcp).await;
    assert_eq!(tag, b'v', "NegotiateProtocolVersion first");
    assert_eq!(
        body[..8],
        [0, 0, 0, 0, 0, 0, 0, 1],
        "minor 0, one unrecognized option"
    );
    assert_eq!(&body[8..], b"_pq_.compression\0");
    assert!(is_sasl_request(&read_message(&mut tcp).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_options_and_encoding_reach_the_database() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(proxy.port())
        .user(USER)
        .password(PASSWORD)
        .dbname("app")
        .options("-c statement_timeout=1234 -c search_path=pg_catalog")
        .connect(NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let timeout: String = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(timeout, "1234ms");
    let path: String = client
        .query_one("SHOW search_path", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(path, "pg_catalog");
    // psql's client_encoding reaches the server as a startup parameter.
    let out = psql(
        &proxy.conn_str(USER, PASSWORD, "client_encoding=LATIN1"),
        &["-At", "-c", "SHOW client_encoding"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "LATIN1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calls_work_through_libpq_large_objects() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.bin");
    let output = dir.path().join("out.bin");
    // 300 KiB of varied bytes: libpq moves it with lo_write/lo_read FunctionCall messages.
    let data: Vec<u8> = (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&input, &data).unwrap();
    let conn = proxy.conn_str(USER, PASSWORD, "");
    let out = psql(
        &conn,
        &["-At", "-c", &format!("\\lo_import '{}'", input.display())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oid = stdout
        .trim()
        .strip_prefix("lo_import ")
        .expect("psql prints the new OID")
        .to_string();
    let out = psql(
        &conn,
        &[
            "-At",
            "-c",
            &format!("\\lo_export {oid} '{}'", output.display()),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&output).unwrap(), data);
    let out = Command::new("psql")
        .args(["-X", "-At", &conn, "-c", &format!("\\lo_unlink {oid}")])
        .output()
        .unwrap();
    assert!(out.status.success());
}
