//! The client side of a MySQL connection start: sluice's own HandshakeV10, CLIENT_SSL, the
//! HandshakeResponse41, and authentication against `[[users]]` with `mysql_native_password` or
//! `caching_sha2_password` (fast path, and full authentication over TLS), switching plugins when
//! the client starts with one sluice does not use.

use std::net::IpAddr;

use bytes::BytesMut;
use futures_util::StreamExt;
use mysql_common::constants::CapabilityFlags;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::FramedRead;

use super::packet::{err_payload, ok_payload, write_packets, PacketCodec, Reader};
use crate::auth::throttle::{Attempt, LoginThrottle, Penalty};
use crate::auth::{Identity, UserDirectory};
use crate::tls::{BoxStream, ServerTls};

pub const NATIVE: &str = "mysql_native_password";
pub const CACHING_SHA2: &str = "caching_sha2_password";
/// The plugin a client sends its password (here: a token) with, in clear; TLS only.
pub const CLEAR_PASSWORD: &str = "mysql_clear_password";

/// Capabilities sluice can relay. Compression, query attributes, optional metadata and
/// progress reports are never offered: sluice would have to rewrite every packet for them.
pub fn relayable_capabilities() -> CapabilityFlags {
    use CapabilityFlags as C;
    C::CLIENT_LONG_PASSWORD
        | C::CLIENT_FOUND_ROWS
        | C::CLIENT_LONG_FLAG
        | C::CLIENT_CONNECT_WITH_DB
        | C::CLIENT_NO_SCHEMA
        | C::CLIENT_ODBC
        | C::CLIENT_IGNORE_SPACE
        | C::CLIENT_PROTOCOL_41
        | C::CLIENT_INTERACTIVE
        | C::CLIENT_IGNORE_SIGPIPE
        | C::CLIENT_TRANSACTIONS
        | C::CLIENT_RESERVED
        | C::CLIENT_SECURE_CONNECTION
        | C::CLIENT_MULTI_STATEMENTS
        | C::CLIENT_MULTI_RESULTS
        | C::CLIENT_PS_MULTI_RESULTS
        | C::CLIENT_PLUGIN_AUTH
        | C::CLIENT_CONNECT_ATTRS
        | C::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | C::CLIENT_SESSION_TRACK
        | C::CLIENT_DEPRECATE_EOF
}

/// `MARIADB_CLIENT_EXTENDED_METADATA`, in the 4 bytes of MariaDB extended capabilities: column
/// definitions carry the type name and format MariaDB's own types have (the JSON format marker
/// of a JSON column, `uuid`, `inet4`, `inet6`, geometry subtypes).
pub const MARIADB_CLIENT_EXTENDED_METADATA: u32 = 1 << 3;

/// MariaDB extended capabilities sluice can relay: extended metadata only, since it adds a
/// block to column definitions that sluice parses (so masking still finds origins and types)
/// and forwards unchanged. The others would make sluice blind or need rewriting:
/// `MARIADB_CLIENT_PROGRESS` interleaves progress packets with results, `COM_MULTI` and
/// `STMT_BULK_OPERATIONS` (with `BULK_UNIT_RESULTS`) are commands the statement gate does not
/// judge, and `CACHE_METADATA` leaves column definitions out of prepared-statement results,
/// so rows could not be masked by their columns.
pub fn relayable_mariadb_capabilities() -> u32 {
    MARIADB_CLIENT_EXTENDED_METADATA
}

/// What sluice tells clients about itself in the greeting.
pub struct Greeting<'a> {
    pub server_version: &'a str,
    pub connection_id: u32,
    pub capabilities: CapabilityFlags,
    /// MariaDB extended capabilities offered in the greeting's reserved bytes; non-zero only
    /// with `CLIENT_LONG_PASSWORD` (`CLIENT_MYSQL`) left out of `capabilities`, as MariaDB does.
    pub mariadb_capabilities: u32,
    pub collation: u8,
    pub auth_plugin: &'a str,
}

/// A HandshakeResponse41.
#[derive(Debug)]
pub struct ClientResponse {
    pub capabilities: CapabilityFlags,
    pub max_packet: u32,
    pub collation: u8,
    pub user: String,
    pub auth: Vec<u8>,
    pub database: Option<String>,
    pub plugin: Option<String>,
    /// Connect attributes, raw (length-encoded pairs), forwarded upstream as sent.
    pub attributes: Option<Vec<u8>>,
    /// MariaDB extended capabilities the client asked for (the filler's last 4 bytes, read only
    /// when it leaves `CLIENT_MYSQL` unset), as far as sluice offered them.
    pub mariadb_capabilities: u32,
}

impl ClientResponse {
    /// What `sluice check --live` logs in with: a plain protocol-4.1 client, utf8mb4.
    pub fn for_check() -> ClientResponse {
        ClientResponse {
            capabilities: relayable_capabilities(),
            max_packet: 16 << 20,
            collation: 45,
            user: String::new(),
            auth: Vec::new(),
            database: None,
            plugin: None,
            attributes: None,
            mariadb_capabilities: 0,
        }
    }
}

/// A client that finished the handshake and authenticated.
pub struct Authenticated {
    pub stream: BoxStream,
    pub response: ClientResponse,
    pub identity: Identity,
    /// A token-signed session ends at its first statement after this.
    pub deadline: Option<i64>,
    /// The token a token-signed session signed in with (an identity may pass it upstream).
    pub token: Option<String>,
    pub tls: bool,
    /// The sequence id of the next packet sluice sends (the final OK is still to be sent).
    pub next_seq: u8,
    /// The scramble the client authenticated against (COM_CHANGE_USER reuses it).
    pub scramble: [u8; 20],
    /// The login waited for its turn under `[login]` throttling.
    pub throttled: bool,
}

/// Why a connection ended before the session started; the client was told where possible.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("client went away: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Refused(String),
    /// `throttled`: the attempt waited for its turn, or its refusal was delayed.
    #[error("authentication failed for user {user:?}: {reason}")]
    Auth {
        user: String,
        reason: String,
        throttled: bool,
    },
}

type Framed = FramedRead<BoxStream, PacketCodec>;

/// Random scramble bytes: printable, never NUL (the greeting NUL-terminates its second part).
pub fn new_scramble() -> [u8; 20] {
    let mut s = [0u8; 20];
    crate::auth::scram::fill_random(&mut s);
    for b in &mut s {
        *b = 0x21 + (*b % 94);
    }
    s
}

fn greeting_payload(g: &Greeting<'_>, scramble: &[u8; 20]) -> Vec<u8> {
    let caps = g.capabilities.bits();
    let mut p = vec![10u8];
    p.extend_from_slice(g.server_version.as_bytes());
    p.push(0);
    p.extend_from_slice(&g.connection_id.to_le_bytes());
    p.extend_from_slice(&scramble[..8]);
    p.push(0);
    p.extend_from_slice(&(caps as u16).to_le_bytes());
    p.push(g.collation);
    p.extend_from_slice(&2u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0u8; 6]);
    p.extend_from_slice(&g.mariadb_capabilities.to_le_bytes());
    p.extend_from_slice(&scramble[8..]);
    p.push(0);
    p.extend_from_slice(g.auth_plugin.as_bytes());
    p.push(0);
    p
}

/// Parses a HandshakeResponse41 (`None`: malformed or pre-4.1).
pub fn parse_response(payload: &[u8]) -> Option<ClientResponse> {
    let mut r = Reader(payload);
    let capabilities = CapabilityFlags::from_bits_truncate(r.u32()?);
    if !capabilities.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
        return None;
    }
    let max_packet = r.u32()?;
    let collation = r.u8()?;
    let filler = r.bytes(23)?;
    // A MariaDB client leaves CLIENT_MYSQL unset and sends its extended capabilities here.
    let mariadb_capabilities = match capabilities.contains(CapabilityFlags::CLIENT_LONG_PASSWORD) {
        true => 0,
        false => filler
            .get(19..)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes),
    };
    let user = String::from_utf8(r.cstr()?.to_vec()).ok()?;
    let auth = if capabilities.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
        r.lenenc_bytes()?.to_vec()
    } else if capabilities.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
        let n = usize::from(r.u8()?);
        r.bytes(n)?.to_vec()
    } else {
        r.cstr()?.to_vec()
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
    let mut database = None;
    if capabilities.contains(CapabilityFlags::CLIENT_CONNECT_WITH_DB) && !r.is_empty() {
        database = Some(text(r.cstr()?)?).filter(|d| !d.is_empty());
    }
    let mut plugin = None;
    if capabilities.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && !r.is_empty() {
        let name = match r.cstr() {
            Some(n) => n,
            None => {
                let rest = r.rest();
                r = Reader(&[]);
                rest
            }
        };
        plugin = Some(text(name)?);
    }
    let mut attributes = None;
    if capabilities.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) && !r.is_empty() {
        attributes = Some(r.lenenc_bytes()?.to_vec());
    }
    Some(ClientResponse {
        capabilities,
        max_packet,
        collation,
        user,
        auth,
        database,
        plugin,
        attributes,
        mariadb_capabilities,
    })
}

async fn send(framed: &mut Framed, seq: u8, payload: &[u8]) -> std::io::Result<u8> {
    let mut out = BytesMut::new();
    let next = write_packets(&mut out, seq, payload);
    let stream = framed.get_mut();
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(next)
}

/// Sends an ERR packet and closes; used for every refusal before the session starts.
pub async fn refuse(stream: &mut BoxStream, seq: u8, code: u16, state: &str, message: &str) {
    let mut out = BytesMut::new();
    write_packets(&mut out, seq, &err_payload(code, state, message));
    let _ = stream.write_all(&out).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Reads one packet of at most 64 KiB without reading past it.
async fn read_exact_packet(stream: &mut BoxStream) -> Result<(u8, Vec<u8>), HandshakeError> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len > 64 * 1024 {
        return Err(HandshakeError::Refused("oversized handshake packet".into()));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok((header[3], payload))
}

async fn next_packet(framed: &mut Framed) -> Result<(u8, Vec<u8>), HandshakeError> {
    match framed.next().await {
        Some(Ok(p)) if !p.continues() => Ok((p.seq, p.payload().to_vec())),
        Some(Ok(_)) => Err(HandshakeError::Refused("oversized handshake packet".into())),
        Some(Err(e)) => Err(e.into()),
        None => Err(HandshakeError::Io(std::io::ErrorKind::UnexpectedEof.into())),
    }
}

/// Greets the client, negotiates TLS and authenticates it. On success nothing has been sent
/// after the authentication exchange: the caller logs in upstream first, then sends OK (or an
/// error naming the target) with `next_seq`.
pub async fn handshake(
    stream: BoxStream,
    greeting: &Greeting<'_>,
    tls: Option<&ServerTls>,
    users: &UserDirectory,
    throttle: Option<&LoginThrottle>,
    peer: IpAddr,
) -> Result<Authenticated, HandshakeError> {
    let responded = receive_response(stream, greeting, tls).await?;
    let user = responded.response.user.clone();
    // `[login]` throttling: wait out the address's or the name's delay before checking.
    let attempt = throttle.map(|t| t.attempt(Some(peer), &user));
    let waited = match &attempt {
        Some(a) => !a.wait_turn().await.is_zero(),
        None => false,
    };
    let login = Login {
        user,
        peer,
        attempt,
        waited,
    };
    let verifier = users.mysql(&login.user);
    match users.jwt().filter(|_| verifier.is_none() && responded.tls) {
        // Not a local user, over TLS: the password is a token, sent with mysql_clear_password.
        Some(jwt) => token_login(responded, jwt, &login).await,
        None => password_login(responded, verifier, greeting, &login).await,
    }
}

/// The client's handshake response, read after the greeting (and TLS, when asked for).
struct Responded {
    framed: FramedRead<BoxStream, PacketCodec>,
    response: ClientResponse,
    /// The sequence id of sluice's next packet.
    seq: u8,
    tls: bool,
    /// The scramble of the greeting.
    scramble: [u8; 20],
}

/// One login being checked: whom, from where, and its place in `[login]` throttling.
struct Login<'t> {
    user: String,
    peer: IpAddr,
    attempt: Option<Attempt<'t>>,
    /// The attempt waited for its turn.
    waited: bool,
}

impl Login<'_> {
    /// Refuses the login as the server would (1045), after the throttle's delay.
    async fn refuse(
        &self,
        stream: &mut BoxStream,
        seq: u8,
        using_password: &str,
        reason: &str,
    ) -> HandshakeError {
        let penalty = penalize(self.attempt.as_ref()).await;
        let msg = access_denied(&self.user, self.peer, using_password);
        refuse(stream, seq, 1045, "28000", &msg).await;
        HandshakeError::Auth {
            user: self.user.clone(),
            reason: format!("{reason}{}", penalty.describe()),
            throttled: self.waited || !penalty.delay.is_zero(),
        }
    }

    /// Forgets earlier failures after a right password; hands the stream on.
    fn succeeded(&self, stream: BoxStream) -> BoxStream {
        if let Some(a) = &self.attempt {
            a.succeeded();
        }
        stream
    }
}

/// Sends the greeting, upgrades to TLS when the client asks, and reads its handshake
/// response; refuses what sluice does not speak (no TLS where required, protocol before 4.1,
/// compression).
async fn receive_response(
    mut stream: BoxStream,
    greeting: &Greeting<'_>,
    tls: Option<&ServerTls>,
) -> Result<Responded, HandshakeError> {
    let scramble = new_scramble();
    let mut caps = greeting.capabilities;
    caps.set(CapabilityFlags::CLIENT_SSL, tls.is_some());
    let g = Greeting {
        capabilities: caps,
        ..*greeting
    };
    let mut out = BytesMut::new();
    write_packets(&mut out, 0, &greeting_payload(&g, &scramble));
    stream.write_all(&out).await?;
    stream.flush().await?;

    // The first packet is read exactly, nothing ahead: after an SSL request the next bytes are
    // the TLS handshake, and plaintext read ahead of it must never count as encrypted data.
    let (mut seq, mut payload) = read_exact_packet(&mut stream).await?;
    if seq != 1 {
        let msg = "Got packets out of order";
        refuse(&mut stream, 2, 1156, "08S01", msg).await;
        return Err(HandshakeError::Refused(msg.into()));
    }
    let mut framed = FramedRead::new(stream, PacketCodec);
    let mut is_tls = false;
    let client_caps = Reader(&payload)
        .u32()
        .map(CapabilityFlags::from_bits_truncate)
        .unwrap_or_default();
    if client_caps.contains(CapabilityFlags::CLIENT_SSL) && payload.len() == 32 {
        let Some(tls) = tls else {
            return Err(HandshakeError::Refused(
                "client asked for TLS, which is not configured".into(),
            ));
        };
        // Nothing was read past the SSL request (see above), so the TLS handshake starts clean.
        let conn = tls.acceptor.accept(framed.into_inner()).await?;
        framed = FramedRead::new(Box::new(conn), PacketCodec);
        is_tls = true;
        (seq, payload) = next_packet(&mut framed).await?;
    }
    let seq = seq.wrapping_add(1);
    if tls.is_some_and(|t| t.require) && !is_tls {
        let msg = "sluice requires TLS on this listener: connect with --ssl / ssl-mode=REQUIRED";
        refuse(framed.get_mut(), seq, 1045, "28000", msg).await;
        return Err(HandshakeError::Refused(msg.into()));
    }
    let Some(mut response) = parse_response(&payload) else {
        let msg = "malformed handshake response (protocol 4.1 required)";
        refuse(framed.get_mut(), seq, 1043, "08S01", msg).await;
        return Err(HandshakeError::Refused(msg.into()));
    };
    if response
        .capabilities
        .contains(CapabilityFlags::CLIENT_COMPRESS)
    {
        let msg = "compression is not supported through sluice";
        refuse(framed.get_mut(), seq, 1043, "08S01", msg).await;
        return Err(HandshakeError::Refused(msg.into()));
    }
    // Only what sluice offered counts, whatever the client claims.
    response.mariadb_capabilities &= greeting.mariadb_capabilities;
    Ok(Responded {
        framed,
        response,
        seq,
        tls: is_tls,
        scramble,
    })
}

/// A login with an OIDC/JWT access token as the password, sent in clear (inside TLS) with
/// `mysql_clear_password`.
async fn token_login(
    r: Responded,
    jwt: &crate::auth::jwt::JwtVerifier,
    login: &Login<'_>,
) -> Result<Authenticated, HandshakeError> {
    let Responded {
        mut framed,
        response,
        mut seq,
        tls,
        scramble,
    } = r;
    let client_plugin = response.plugin.as_deref().unwrap_or(NATIVE);
    let token = if client_plugin == CLEAR_PASSWORD {
        response.auth.clone()
    } else {
        let mut switch = vec![0xFE];
        switch.extend_from_slice(CLEAR_PASSWORD.as_bytes());
        switch.push(0);
        send(&mut framed, seq, &switch).await?;
        let (s, data) = next_packet(&mut framed).await?;
        seq = s.wrapping_add(1);
        data
    };
    let token = token.strip_suffix(&[0]).unwrap_or(&token);
    let verified = match std::str::from_utf8(token) {
        Ok(t) => jwt
            .verify(t, &login.user)
            .await
            .map(|v| (v, t.to_string()))
            .map_err(|e| e.to_string()),
        Err(_) => Err("the token is not UTF-8".to_string()),
    };
    let mut stream = framed.into_inner();
    match verified {
        Ok((t, token)) => Ok(Authenticated {
            stream: login.succeeded(stream),
            deadline: Some(jwt.session_deadline(&t, crate::auth::jwt::now_secs())),
            token: Some(token),
            identity: t.identity,
            response,
            tls,
            next_seq: seq,
            scramble,
            throttled: login.waited,
        }),
        Err(reason) => {
            let reason = format!("token refused: {reason}");
            Err(login.refuse(&mut stream, seq, "YES", &reason).await)
        }
    }
}

/// A login with a password checked against the user's MySQL verifier:
/// `mysql_native_password`, or `caching_sha2_password` (its fast path, or the full one, which
/// sends the password in clear and is taken only inside TLS). A client starting with another
/// plugin is switched to the greeting's.
async fn password_login(
    r: Responded,
    verifier: Option<(&crate::auth::mysql::MysqlVerifier, &crate::auth::UserEntry)>,
    greeting: &Greeting<'_>,
    login: &Login<'_>,
) -> Result<Authenticated, HandshakeError> {
    let Responded {
        mut framed,
        response,
        mut seq,
        tls,
        mut scramble,
    } = r;
    let mut plugin = response
        .plugin
        .clone()
        .unwrap_or_else(|| NATIVE.to_string());
    let mut auth = response.auth.clone();
    if plugin != NATIVE && plugin != CACHING_SHA2 {
        scramble = new_scramble();
        plugin = greeting.auth_plugin.to_string();
        let mut switch = vec![0xFE];
        switch.extend_from_slice(plugin.as_bytes());
        switch.push(0);
        switch.extend_from_slice(&scramble);
        switch.push(0);
        send(&mut framed, seq, &switch).await?;
        let (s, data) = next_packet(&mut framed).await?;
        seq = s.wrapping_add(1);
        auth = data;
    }
    let ok = match (&verifier, plugin.as_str()) {
        (Some((v, _)), NATIVE) => v.check_native(&scramble, &auth),
        (Some((v, _)), _) => {
            if v.check_sha2_fast(&scramble, &auth) {
                seq = send(&mut framed, seq, &[0x01, 0x03]).await?;
                true
            } else if tls && !auth.is_empty() {
                // Full authentication: the client sends its password in clear, safe only
                // inside TLS.
                send(&mut framed, seq, &[0x01, 0x04]).await?;
                let (s, password) = next_packet(&mut framed).await?;
                seq = s.wrapping_add(1);
                let password = password.strip_suffix(&[0]).unwrap_or(&password);
                v.check_cleartext(password)
            } else {
                false
            }
        }
        (None, _) => false,
    };
    let mut stream = framed.into_inner();
    if !ok {
        let reason = if verifier.is_none() {
            "unknown user or no MySQL verifier"
        } else {
            "wrong password"
        };
        let via = if response.auth.is_empty() {
            "NO"
        } else {
            "YES"
        };
        return Err(login.refuse(&mut stream, seq, via, reason).await);
    }
    let groups = verifier.map(|(_, e)| e.groups.clone()).unwrap_or_default();
    Ok(Authenticated {
        stream: login.succeeded(stream),
        identity: Identity {
            user: response.user.clone(),
            groups,
        },
        deadline: None,
        token: None,
        response,
        tls,
        next_seq: seq,
        scramble,
        throttled: login.waited,
    })
}

/// The server's words for a failed login, naming the client's address as the server names
/// the host a login came from (clients and test suites compare the text).
fn access_denied(user: &str, peer: IpAddr, using_password: &str) -> String {
    let host = peer.to_canonical();
    format!("Access denied for user '{user}'@'{host}' (using password: {using_password})")
}

/// Counts a failed login and waits its delay (none without throttling).
async fn penalize(attempt: Option<&Attempt<'_>>) -> Penalty {
    match attempt {
        Some(a) => a.failed().await,
        None => Penalty {
            delay: std::time::Duration::ZERO,
            failures: 0,
        },
    }
}

/// The final OK of the handshake.
pub async fn send_ok(stream: &mut BoxStream, seq: u8) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    write_packets(&mut out, seq, &ok_payload(2));
    stream.write_all(&out).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_with_every_optional_part_parses() {
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_SECURE_CONNECTION
            | CapabilityFlags::CLIENT_CONNECT_WITH_DB
            | CapabilityFlags::CLIENT_PLUGIN_AUTH
            | CapabilityFlags::CLIENT_CONNECT_ATTRS
            | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
        let mut p = caps.bits().to_le_bytes().to_vec();
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"alice\0");
        p.extend_from_slice(&[3, 1, 2, 3]);
        p.extend_from_slice(b"shop\0mysql_native_password\0");
        p.extend_from_slice(&[4, 1, b'k', 1, b'v']);
        let r = parse_response(&p).unwrap();
        assert_eq!(r.user, "alice");
        assert_eq!(r.auth, vec![1, 2, 3]);
        assert_eq!(r.database.as_deref(), Some("shop"));
        assert_eq!(r.plugin.as_deref(), Some(NATIVE));
        assert_eq!(r.attributes, Some(vec![1, b'k', 1, b'v']));
    }

    #[test]
    fn truncated_responses_are_refused_not_panicked_on() {
        let caps = (CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
            .bits();
        let mut p = caps.to_le_bytes().to_vec();
        for cut in 0..40 {
            p.push(0xFE);
            let _ = parse_response(&p[..cut.min(p.len())]);
        }
        assert!(parse_response(&[0, 0, 0, 0]).is_none());
    }

    #[test]
    fn mariadb_extended_capabilities_are_read_only_without_client_mysql() {
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_PLUGIN_AUTH;
        let response = |caps: CapabilityFlags| {
            let mut p = caps.bits().to_le_bytes().to_vec();
            p.extend_from_slice(&(1u32 << 24).to_le_bytes());
            p.push(45);
            p.extend_from_slice(&[0; 19]);
            p.extend_from_slice(&MARIADB_CLIENT_EXTENDED_METADATA.to_le_bytes());
            p.extend_from_slice(b"alice\0\0mysql_native_password\0");
            parse_response(&p).unwrap()
        };
        assert_eq!(
            response(caps).mariadb_capabilities,
            MARIADB_CLIENT_EXTENDED_METADATA
        );
        // CLIENT_MYSQL set: a MySQL client, the bytes are filler.
        let mysql = caps | CapabilityFlags::CLIENT_LONG_PASSWORD;
        assert_eq!(response(mysql).mariadb_capabilities, 0);
    }

    #[test]
    fn a_mariadb_greeting_carries_extended_capabilities_in_its_reserved_bytes() {
        let g = Greeting {
            server_version: "10.11.9-MariaDB-sluice",
            connection_id: 7,
            capabilities: CapabilityFlags::CLIENT_PROTOCOL_41,
            mariadb_capabilities: MARIADB_CLIENT_EXTENDED_METADATA,
            collation: 45,
            auth_plugin: NATIVE,
        };
        let p = greeting_payload(&g, &[b'a'; 20]);
        // version NUL, id, scramble 8, NUL, caps 2, collation, status 2, caps 2, length 1,
        // then 6 reserved bytes and the 4 extended capability bytes.
        let at = 1 + g.server_version.len() + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 6;
        assert_eq!(
            p[at..at + 4],
            MARIADB_CLIENT_EXTENDED_METADATA.to_le_bytes()
        );
    }

    #[test]
    fn scrambles_are_printable() {
        assert!(new_scramble().iter().all(|b| (0x21..0x7f).contains(b)));
    }
}
