//! A PostgreSQL client by hand, for what drivers never send: messages in any order, names of
//! one's own, FunctionCall.

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use std::net::SocketAddr;

/// One backend message: its tag and body.
pub async fn read_msg(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let tag = s.read_u8().await?;
    let len = s.read_u32().await?;
    assert!(
        (4..1 << 24).contains(&len),
        "implausible length {len} for {:?}",
        char::from(tag)
    );
    let mut body = vec![0u8; len as usize - 4];
    s.read_exact(&mut body).await?;
    Ok((tag, body))
}

/// The SQLSTATE of an ErrorResponse body.
pub fn sqlstate(body: &[u8]) -> String {
    let mut fields = body.split(|&b| b == 0);
    while let Some(f) = fields.next().filter(|f| !f.is_empty()) {
        if f[0] == b'C' {
            return String::from_utf8_lossy(&f[1..]).into_owned();
        }
    }
    String::new()
}

/// Logs in to database `app` as `user` on a raw socket (SCRAM done by hand); the BackendKeyData
/// on success, else the ErrorResponse body.
pub async fn raw_login_as(
    addr: SocketAddr,
    user: &str,
    password: &str,
) -> (TcpStream, Result<(i32, i32), Vec<u8>>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = BytesMut::new();
    frontend::startup_message([("user", user), ("database", "app")], &mut buf).unwrap();
    s.write_all(&buf).await.unwrap();
    let mut scram = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
    let mut key = None;
    loop {
        let (tag, body) = read_msg(&mut s).await.unwrap();
        buf.clear();
        match tag {
            b'R' => match u32::from_be_bytes(body[..4].try_into().unwrap()) {
                0 => {}
                10 => {
                    assert!(body.windows(13).any(|w| w == b"SCRAM-SHA-256"));
                    frontend::sasl_initial_response("SCRAM-SHA-256", scram.message(), &mut buf)
                        .unwrap();
                }
                11 => {
                    scram.update(&body[4..]).unwrap();
                    frontend::sasl_response(scram.message(), &mut buf).unwrap();
                }
                12 => scram.finish(&body[4..]).unwrap(),
                other => panic!("unexpected authentication request {other}"),
            },
            b'K' => {
                let n = |i: usize| i32::from_be_bytes(body[i..i + 4].try_into().unwrap());
                key = Some((n(0), n(4)));
            }
            b'Z' => return (s, Ok(key.expect("BackendKeyData before ReadyForQuery"))),
            b'E' => return (s, Err(body)),
            _ => {}
        }
        if !buf.is_empty() {
            s.write_all(&buf).await.unwrap();
        }
    }
}
