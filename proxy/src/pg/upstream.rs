//! Connecting to the database as the target's own user or a session's upstream identity: TLS per
//! libpq's `sslmode`, the StartupMessage (with the identity's settings), and SCRAM-SHA-256(-PLUS), MD5 or cleartext password authentication. The
//! password never leaves this module towards the client.

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding as ClientBinding, ScramSha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::frame::Reader;
use super::messages::{self, SSL_REQUEST};
use crate::auth::scram::{SCRAM_SHA_256, SCRAM_SHA_256_PLUS};
use crate::config::UpstreamTls;
use crate::identities::Credentials;
use crate::tls::BoxStream;
pub use crate::upstream::UpstreamTarget;
use crate::upstream::{bounded, Progress, Step};

/// An authenticated upstream session, idle and ready for a query.
pub struct Upstream {
    pub stream: BoxStream,
    /// The server's BackendKeyData, used to forward cancels.
    pub key: Option<(u32, u32)>,
    /// ParameterStatus and NoticeResponse frames from startup, raw, for the client.
    pub greeting: BytesMut,
}

/// Why no upstream session could be had.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("the database rejected sluice's credentials: {0}")]
    Credentials(String),
    /// The database refused the session for a reason the client should see (e.g. no such
    /// database, too many connections); the raw ErrorResponse is forwarded.
    #[error("the database refused the session: {message}")]
    Refused { frame: BytesMut, message: String },
    #[error("{0}")]
    Protocol(String),
    /// `connect_timeout` passed: the address and the step it cut.
    #[error("{0}")]
    TimedOut(String),
}

impl UpstreamError {
    fn protocol(what: impl Into<String>) -> Self {
        UpstreamError::Protocol(what.into())
    }
}

impl From<crate::upstream::ConnectError> for UpstreamError {
    fn from(e: crate::upstream::ConnectError) -> Self {
        match e {
            crate::upstream::ConnectError::Unreachable { addr, reason } => {
                UpstreamError::Unreachable { addr, reason }
            }
            crate::upstream::ConnectError::Tls(reason) => UpstreamError::Protocol(reason),
            timed_out @ crate::upstream::ConnectError::TimedOut { .. } => {
                UpstreamError::TimedOut(timed_out.to_string())
            }
        }
    }
}

impl From<std::io::Error> for UpstreamError {
    fn from(e: std::io::Error) -> Self {
        UpstreamError::Protocol(format!("connection to the database failed: {e}"))
    }
}

/// Opens a TCP (and, per the mode, TLS) connection to the target, within its
/// `connect_timeout`.
pub async fn open(target: &UpstreamTarget) -> Result<(BoxStream, Option<Vec<u8>>), UpstreamError> {
    let progress = Progress::default();
    bounded(target, &progress, open_steps(target, &progress)).await
}

async fn open_steps(
    target: &UpstreamTarget,
    progress: &Progress,
) -> Result<(BoxStream, Option<Vec<u8>>), UpstreamError> {
    let mut tcp = crate::upstream::tcp(target).await?;
    if target.tls_mode == UpstreamTls::Disable {
        return Ok((Box::new(tcp), None));
    }
    progress.at(Step::Tls);
    let mut req = [0u8; 8];
    req[..4].copy_from_slice(&8u32.to_be_bytes());
    req[4..].copy_from_slice(&SSL_REQUEST.to_be_bytes());
    tcp.write_all(&req).await?;
    let answer = tcp.read_u8().await?;
    if answer != b'S' {
        if target.tls_mode == UpstreamTls::Prefer {
            return Ok((Box::new(tcp), None));
        }
        return Err(UpstreamError::protocol(format!(
            "the database does not offer TLS, and upstream_tls = {:?} requires it",
            target.tls_mode
        )));
    }
    Ok(crate::upstream::tls(target, tcp).await?)
}

/// Connects, starts a session with the client's parameters and logs in as the target's user.
pub async fn connect(
    target: &UpstreamTarget,
    client_params: &[(String, String)],
    database: &str,
) -> Result<Upstream, UpstreamError> {
    connect_as(target, &target.own_credentials(), client_params, database).await
}

/// The StartupMessage parameters: sluice's login, then the identity's settings, then the
/// client's own parameters except those sluice or the identity set. A setting passed at startup
/// becomes the session's default, so `RESET` and `DISCARD ALL` return to it.
fn startup_params(
    login: &Credentials,
    client_params: &[(String, String)],
    database: &str,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = vec![
        ("user".into(), login.user.clone()),
        ("database".into(), database.to_string()),
    ];
    params.extend(
        login
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.postgres_text())),
    );
    let taken = |k: &str| params.iter().any(|(p, _)| p.eq_ignore_ascii_case(k));
    let from_client: Vec<(String, String)> = client_params
        .iter()
        .filter(|(k, _)| !taken(k))
        .cloned()
        .collect();
    params.extend(from_client);
    params
}

/// Connects and logs in with `login`: its user, password and settings. The whole of it, from
/// the TCP connection to ReadyForQuery, is bounded by the target's `connect_timeout`.
pub async fn connect_as(
    target: &UpstreamTarget,
    login: &Credentials,
    client_params: &[(String, String)],
    database: &str,
) -> Result<Upstream, UpstreamError> {
    let progress = Progress::default();
    let attempt = login_steps(target, &progress, login, client_params, database);
    bounded(target, &progress, attempt).await
}

async fn login_steps(
    target: &UpstreamTarget,
    progress: &Progress,
    login: &Credentials,
    client_params: &[(String, String)],
    database: &str,
) -> Result<Upstream, UpstreamError> {
    let (mut stream, end_point) = open_steps(target, progress).await?;
    progress.at(Step::Login);
    let params = startup_params(login, client_params, database);
    let mut out = BytesMut::new();
    messages::startup_message(&mut out, &params);
    stream.write_all(&out).await?;
    stream.flush().await?;

    let mut auth = UpstreamAuth {
        login,
        end_point,
        scram: None,
    };
    let mut key = None;
    let mut greeting = BytesMut::new();
    loop {
        let (tag, frame) = read_message(&mut stream).await?;
        let body = &frame[5..];
        out.clear();
        match tag {
            b'R' => auth.answer(body, &mut out)?,
            b'E' => {
                let (code, message) = messages::parse_error_fields(body);
                if code.starts_with("28") {
                    return Err(UpstreamError::Credentials(format!("{code}: {message}")));
                }
                return Err(UpstreamError::Refused {
                    frame,
                    message: format!("{code}: {message}"),
                });
            }
            b'K' => {
                let mut r = Reader(body);
                key = r.u32().zip(r.u32());
            }
            b'S' | b'N' => greeting.extend_from_slice(&frame),
            b'v' => {}
            b'Z' => {
                return Ok(Upstream {
                    stream,
                    key,
                    greeting,
                })
            }
            other => {
                return Err(UpstreamError::protocol(format!(
                    "unexpected message {:?} from the database during startup",
                    char::from(other)
                )))
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            stream.flush().await?;
        }
    }
}

/// The client side of the database's authentication requests: cleartext, MD5 and
/// SCRAM-SHA-256(-PLUS, bound to the TLS end point when there is one).
struct UpstreamAuth<'a> {
    login: &'a Credentials,
    end_point: Option<Vec<u8>>,
    scram: Option<ScramSha256>,
}

impl UpstreamAuth<'_> {
    fn password(&self) -> Result<&str, UpstreamError> {
        self.login.password.as_deref().ok_or_else(|| {
            UpstreamError::Credentials(format!(
                "the database asks for a password and upstream user {:?} has none",
                self.login.user
            ))
        })
    }

    /// Answers one AuthenticationRequest (`body`), writing the reply, if any, to `out`.
    fn answer(&mut self, body: &[u8], out: &mut BytesMut) -> Result<(), UpstreamError> {
        let mut r = Reader(body);
        let code = r
            .u32()
            .ok_or_else(|| UpstreamError::protocol("short authentication message"))?;
        match code {
            0 => {}
            3 => {
                let mut pw = self.password()?.as_bytes().to_vec();
                pw.push(0);
                messages::password_message(out, &pw);
            }
            5 => {
                let salt: [u8; 4] = r
                    .bytes(4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| UpstreamError::protocol("short MD5 salt"))?;
                let hash = postgres_protocol::authentication::md5_hash(
                    self.login.user.as_bytes(),
                    self.password()?.as_bytes(),
                    salt,
                );
                let mut pw = hash.into_bytes();
                pw.push(0);
                messages::password_message(out, &pw);
            }
            10 => self.sasl_start(&mut r, out)?,
            11 => {
                let s = self.scram.as_mut().ok_or_else(|| UpstreamError::protocol("SASL continue before start"))?;
                s.update(r.rest()).map_err(|e| UpstreamError::protocol(format!("SCRAM: {e}")))?;
                messages::password_message(out, s.message());
            }
            12 => {
                let mut s = self.scram.take().ok_or_else(|| UpstreamError::protocol("SASL final before start"))?;
                // Proves the database knows the password too: no impostor upstream.
                s.finish(r.rest()).map_err(|e| UpstreamError::Credentials(format!("SCRAM server proof: {e}")))?;
            }
            other => {
                return Err(UpstreamError::protocol(format!(
                    "the database asks for authentication method {other}, which sluice does not support"
                )))
            }
        }
        Ok(())
    }

    /// AuthenticationSASL: picks SCRAM-SHA-256-PLUS over TLS when offered, else SCRAM-SHA-256.
    fn sasl_start(&mut self, r: &mut Reader<'_>, out: &mut BytesMut) -> Result<(), UpstreamError> {
        let mut mechanisms = Vec::new();
        while let Some(m) = r.cstr().filter(|m| !m.is_empty()) {
            mechanisms.push(m);
        }
        let (mechanism, binding) = match &self.end_point {
            Some(hash) if mechanisms.contains(&SCRAM_SHA_256_PLUS) => (
                SCRAM_SHA_256_PLUS,
                ClientBinding::tls_server_end_point(hash.clone()),
            ),
            Some(_) => (SCRAM_SHA_256, ClientBinding::unrequested()),
            None => (SCRAM_SHA_256, ClientBinding::unsupported()),
        };
        if !mechanisms.contains(&SCRAM_SHA_256) && mechanism == SCRAM_SHA_256 {
            return Err(UpstreamError::protocol(format!(
                "the database offers no supported SASL mechanism ({mechanisms:?})"
            )));
        }
        let s = ScramSha256::new(self.password()?.as_bytes(), binding);
        messages::sasl_initial_response(out, mechanism, s.message());
        self.scram = Some(s);
        Ok(())
    }
}

/// Reads one tagged message during startup, without reading ahead.
pub(super) async fn read_message(stream: &mut BoxStream) -> Result<(u8, BytesMut), UpstreamError> {
    let tag = stream.read_u8().await?;
    let len = stream.read_u32().await?;
    if !(4..=1 << 20).contains(&len) {
        return Err(UpstreamError::protocol(format!(
            "invalid message length {len} from the database"
        )));
    }
    let mut frame = BytesMut::zeroed(len as usize + 1);
    frame[0] = tag;
    frame[1..5].copy_from_slice(&len.to_be_bytes());
    stream.read_exact(&mut frame[5..]).await?;
    Ok((tag, frame))
}
