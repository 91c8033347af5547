//! The client side of connection start: TLS negotiation (SSLRequest and PostgreSQL 17 direct
//! TLS), GSSAPI refusal, CancelRequest, and the StartupMessage.
//!
//! Nothing is read ahead of the TLS handshake: a client's bytes sent after SSLRequest are read
//! only through TLS, so plaintext cannot be smuggled into the encrypted session.

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::frame::{read_startup_packet, FrameError, Reader};
use super::messages::{self, Severity, CANCEL_REQUEST, GSSENC_REQUEST, SSL_REQUEST};
use crate::tls::{BoxStream, ServerTls};

/// What a new connection asked for.
pub enum Hello {
    /// A session: the startup parameters, in the client's order.
    Startup(Startup),
    /// A cancel of another session's running statement.
    Cancel { pid: u32, secret: u32 },
}

/// A client that sent a StartupMessage.
pub struct Startup {
    pub stream: BoxStream,
    pub params: Vec<(String, String)>,
    /// Protocol-extension options (`_pq_.*`) sluice does not know; reported back to the client.
    pub unrecognized: Vec<String>,
    /// The minor protocol version the client asked for.
    pub minor: u32,
    pub tls: bool,
}

impl Startup {
    /// The value of a startup parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Why negotiation ended without a session. The client was told already where that is possible.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("{0}")]
    Refused(String),
}

impl From<std::io::Error> for NegotiationError {
    fn from(e: std::io::Error) -> Self {
        NegotiationError::Frame(FrameError::Io(e))
    }
}

/// Runs the startup phase on a fresh connection.
pub async fn negotiate(tcp: TcpStream, tls: Option<&ServerTls>) -> Result<Hello, NegotiationError> {
    let mut first = [0u8; 1];
    let direct_tls = tcp.peek(&mut first).await? == 1 && first[0] == 0x16;
    let mut is_tls = false;
    let mut stream: BoxStream = Box::new(tcp);
    if direct_tls {
        // PostgreSQL 17 `sslnegotiation=direct`: a TLS ClientHello with ALPN "postgresql".
        let Some(tls) = tls else {
            return Err(NegotiationError::Refused(
                "direct TLS attempted but TLS is not configured".into(),
            ));
        };
        let conn = tls
            .acceptor
            .accept(stream)
            .await
            .map_err(NegotiationError::Tls)?;
        if conn.get_ref().1.alpn_protocol() != Some(b"postgresql") {
            return Err(NegotiationError::Refused(
                "direct TLS without ALPN \"postgresql\"".into(),
            ));
        }
        stream = Box::new(conn);
        is_tls = true;
    }
    loop {
        let body = read_startup_packet(&mut stream).await?;
        match classify(&body) {
            Packet::Ssl if !is_tls => match tls {
                Some(tls) => {
                    stream.write_all(b"S").await?;
                    let conn = tls
                        .acceptor
                        .accept(stream)
                        .await
                        .map_err(NegotiationError::Tls)?;
                    stream = Box::new(conn);
                    is_tls = true;
                }
                None => stream.write_all(b"N").await?,
            },
            Packet::GssEnc if !is_tls => stream.write_all(b"N").await?,
            Packet::Ssl | Packet::GssEnc => {
                return refuse(stream, "08P01", "encryption requested twice").await;
            }
            Packet::Cancel(Some((pid, secret))) => return Ok(Hello::Cancel { pid, secret }),
            Packet::Cancel(None) => {
                return Err(NegotiationError::Refused("short CancelRequest".into()));
            }
            Packet::Startup { .. } if tls.is_some_and(|t| t.require) && !is_tls => {
                return refuse(
                    stream,
                    "28000",
                    "sluice requires TLS on this listener: connect with sslmode=require",
                )
                .await;
            }
            Packet::Startup { params: None, .. } => {
                return refuse(stream, "08P01", "invalid startup packet layout").await;
            }
            Packet::Startup {
                minor,
                params: Some(params),
            } => {
                let (unrecognized, params): (Vec<_>, Vec<_>) = params
                    .into_iter()
                    .partition(|(k, _)| k.starts_with("_pq_."));
                return Ok(Hello::Startup(Startup {
                    stream,
                    params,
                    unrecognized: unrecognized.into_iter().map(|(k, _)| k).collect(),
                    minor,
                    tls: is_tls,
                }));
            }
            Packet::Unsupported(other) => {
                let msg = format!(
                    "unsupported frontend protocol {}.{}: server supports 3.0",
                    other >> 16,
                    other & 0xffff
                );
                return refuse(stream, "0A000", &msg).await;
            }
        }
    }
}

/// A startup-phase packet, by its code.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet {
    Ssl,
    GssEnc,
    /// The key of the session to cancel; `None` when the packet is too short to hold one.
    Cancel(Option<(u32, u32)>),
    /// A StartupMessage for protocol 3.`minor`; `params` is `None` when they are malformed.
    Startup {
        minor: u32,
        params: Option<Vec<(String, String)>>,
    },
    Unsupported(u32),
}

/// What a startup-phase packet body (after its length) asks for.
pub fn classify(body: &[u8]) -> Packet {
    let mut r = Reader(body);
    match r.u32().unwrap_or(0) {
        SSL_REQUEST => Packet::Ssl,
        GSSENC_REQUEST => Packet::GssEnc,
        CANCEL_REQUEST => Packet::Cancel(r.u32().zip(r.u32())),
        code if code >> 16 == 3 => Packet::Startup {
            minor: code & 0xffff,
            params: parse_params(r.rest()),
        },
        other => Packet::Unsupported(other),
    }
}

/// Startup parameters: NUL-terminated key/value pairs closed by an empty key.
fn parse_params(mut rest: &[u8]) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    loop {
        let mut r = Reader(rest);
        let key = r.cstr()?;
        if key.is_empty() {
            return Some(params);
        }
        let value = r.cstr()?;
        params.push((key.to_string(), value.to_string()));
        rest = r.rest();
    }
}

/// Sends a FATAL error and ends negotiation.
async fn refuse<T>(
    mut stream: BoxStream,
    code: &str,
    message: &str,
) -> Result<T, NegotiationError> {
    send_fatal(&mut stream, code, message).await;
    Err(NegotiationError::Refused(message.to_string()))
}

/// Best-effort FATAL ErrorResponse: the connection is being closed either way.
pub async fn send_fatal(stream: &mut BoxStream, code: &str, message: &str) {
    let mut buf = BytesMut::new();
    messages::error_response(&mut buf, Severity::Fatal, code, message);
    let _ = stream.write_all(&buf).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_until_the_empty_key() {
        let p = parse_params(b"user\0alice\0database\0app\0\0").unwrap();
        assert_eq!(
            p,
            vec![
                ("user".into(), "alice".into()),
                ("database".into(), "app".into())
            ]
        );
        assert!(parse_params(b"user\0alice").is_none());
        assert!(parse_params(b"user\0").is_none());
    }
}
