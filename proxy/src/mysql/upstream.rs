//! Logging in to a MySQL/MariaDB server as the target's own user or a session's upstream identity
//! (whose `session_settings` sluice then sends as `SET SESSION`): the server's greeting, TLS per
//! `upstream_tls`, and whatever authentication plugin the server asks for
//! (`mysql_native_password`, `caching_sha2_password` with its RSA key exchange off TLS, MariaDB's
//! `client_ed25519`), driven by `mysql_common`'s client-side plugin state machines.

use bytes::BytesMut;
use futures_util::StreamExt;
use mysql_common::auth::plugins::{AuthProc, ChallengeResponsePlugin, Context};
use mysql_common::constants::CapabilityFlags;
use mysql_common::packets::AuthPlugin;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::FramedRead;

use super::client::{relayable_capabilities, relayable_mariadb_capabilities, ClientResponse};
use super::packet::{put_lenenc, write_packets, PacketCodec, Reader};
use crate::config::{SettingValue, UpstreamTls};
use crate::identities::Credentials;
use crate::tls::BoxStream;
use crate::upstream::{self, ConnectError, Progress, Step, UpstreamTarget};

/// What a server says about itself in its greeting.
#[derive(Clone, Debug)]
pub struct ServerGreeting {
    pub version: String,
    pub thread_id: u32,
    pub capabilities: CapabilityFlags,
    /// MariaDB extended capabilities (0 from a server that sets `CLIENT_MYSQL`: MySQL).
    pub mariadb_capabilities: u32,
    pub collation: u8,
    scramble: Vec<u8>,
    plugin: String,
}

/// A logged-in upstream connection.
pub struct Upstream {
    pub stream: BoxStream,
    pub greeting: ServerGreeting,
    /// Capabilities in force on the connection (what the client asked for, as far as the server
    /// and sluice support it).
    pub capabilities: CapabilityFlags,
    /// MariaDB extended capabilities in force, likewise.
    pub mariadb_capabilities: u32,
    /// The status flags of the login's OK packet (`NO_BACKSLASH_ESCAPES` among them).
    pub status: u16,
    /// How the session starts out reading statements (see [`SessionReading`]).
    pub reading: SessionReading,
}

/// Why no upstream session could be had.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("the database rejected sluice's credentials: {0}")]
    Credentials(String),
    /// The server refused for a reason the client should see (an ERR payload).
    #[error("the database refused the session: {message}")]
    Refused { payload: Vec<u8>, message: String },
    /// The server refused one of the identity's `session_settings`.
    #[error("the database refused session setting {key}: {message}")]
    Setting { key: String, message: String },
    #[error("{0}")]
    Protocol(String),
}

impl From<std::io::Error> for UpstreamError {
    fn from(e: std::io::Error) -> Self {
        UpstreamError::Protocol(format!("connection to the database failed: {e}"))
    }
}

fn protocol(what: impl Into<String>) -> UpstreamError {
    UpstreamError::Protocol(what.into())
}

type Framed = FramedRead<BoxStream, PacketCodec>;

async fn next_payload(framed: &mut Framed) -> Result<(u8, Vec<u8>), UpstreamError> {
    match framed.next().await {
        Some(Ok(p)) => Ok((p.seq, p.payload().to_vec())),
        Some(Err(e)) => Err(e.into()),
        None => Err(protocol("the database closed the connection during login")),
    }
}

/// The code and message of an ERR payload.
pub fn parse_err(payload: &[u8]) -> (u16, String) {
    let mut r = Reader(payload);
    let _ = r.u8();
    let code = r.u16().unwrap_or(0);
    let rest = r.rest();
    let msg = rest
        .strip_prefix(b"#")
        .map(|m| m.get(5..).unwrap_or_default())
        .unwrap_or(rest);
    (code, String::from_utf8_lossy(msg).into_owned())
}

fn parse_greeting(payload: &[u8]) -> Option<ServerGreeting> {
    let mut r = Reader(payload);
    if r.u8()? != 10 {
        return None;
    }
    let version = String::from_utf8_lossy(r.cstr()?).into_owned();
    let thread_id = r.u32()?;
    let mut scramble = r.bytes(8)?.to_vec();
    r.u8()?;
    let low = u32::from(r.u16()?);
    let collation = r.u8()?;
    let _status = r.u16()?;
    let high = u32::from(r.u16()?);
    let data_len = usize::from(r.u8()?);
    let reserved = r.bytes(10)?;
    let capabilities = CapabilityFlags::from_bits_truncate(low | high << 16);
    // MariaDB 10.2+ leaves CLIENT_MYSQL unset and offers its own capabilities here.
    let mariadb_capabilities = match capabilities.contains(CapabilityFlags::CLIENT_LONG_PASSWORD) {
        true => 0,
        false => reserved
            .get(6..)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes),
    };
    let more = data_len.saturating_sub(8).max(13);
    let part2 = r.bytes(more.min(r.rest().len()))?;
    scramble.extend_from_slice(part2.strip_suffix(&[0]).unwrap_or(part2));
    let plugin = match r.cstr() {
        Some(p) => p,
        None => r.rest(),
    };
    Some(ServerGreeting {
        version,
        thread_id,
        capabilities,
        mariadb_capabilities,
        collation,
        scramble,
        plugin: String::from_utf8_lossy(plugin).into_owned(),
    })
}

/// Connects and reads the greeting only, within the target's `connect_timeout`: how sluice
/// learns the server's version and capabilities before it greets a client.
pub async fn probe(target: &UpstreamTarget) -> Result<ServerGreeting, UpstreamError> {
    let progress = Progress::default();
    let attempt = async {
        let tcp = upstream::tcp(target).await?;
        progress.at(Step::Greeting);
        let mut framed = FramedRead::new(Box::new(tcp) as BoxStream, PacketCodec);
        read_greeting(&mut framed).await
    };
    upstream::bounded(target, &progress, attempt).await
}

async fn read_greeting(framed: &mut Framed) -> Result<ServerGreeting, UpstreamError> {
    let (_, payload) = next_payload(framed).await?;
    if payload.first() == Some(&0xFF) {
        let (code, message) = parse_err(&payload);
        return Err(UpstreamError::Refused {
            payload,
            message: format!("{code}: {message}"),
        });
    }
    parse_greeting(&payload).ok_or_else(|| protocol("malformed greeting from the database"))
}

struct Ctx<'a> {
    pass: &'a [u8],
    tls: bool,
    scramble: &'a [u8],
}

impl Context for &Ctx<'_> {
    fn pass(&self) -> &[u8] {
        self.pass
    }
    fn is_ipc_transport(&self) -> bool {
        false
    }
    fn is_tls_transport(&self) -> bool {
        self.tls
    }
    fn scramble(&self) -> &[u8] {
        self.scramble
    }
    fn server_key_pem(&self) -> Option<&[u8]> {
        None
    }
}

fn plugin_step(
    proc_: &mut AuthProc,
    ctx: &Ctx<'_>,
    challenge: &[u8],
) -> Result<Option<Vec<u8>>, UpstreamError> {
    proc_
        .run(ctx, challenge)
        .map(|r| r.data().map(<[u8]>::to_vec))
        .map_err(|e| protocol(format!("authentication plugin: {e}")))
}

/// Connects and logs in as the target's user, with the client's capabilities, collation,
/// database and connect attributes.
pub async fn connect(
    target: &UpstreamTarget,
    client: &ClientResponse,
    database: Option<&str>,
    allow_local_infile: bool,
) -> Result<Upstream, UpstreamError> {
    let login = target.own_credentials();
    connect_as(target, &login, client, database, allow_local_infile).await
}

/// Connects and logs in as `login`, then applies its settings, with the client's capabilities,
/// collation, database and connect attributes. The whole of it, from the TCP connection to the
/// answer to sluice's `sql_mode` query, is bounded by the target's `connect_timeout`.
pub async fn connect_as(
    target: &UpstreamTarget,
    login: &Credentials,
    client: &ClientResponse,
    database: Option<&str>,
    allow_local_infile: bool,
) -> Result<Upstream, UpstreamError> {
    let progress = Progress::default();
    let attempt = login_steps(
        target,
        &progress,
        login,
        client,
        database,
        allow_local_infile,
    );
    upstream::bounded(target, &progress, attempt).await
}

async fn login_steps(
    target: &UpstreamTarget,
    progress: &Progress,
    login: &Credentials,
    client: &ClientResponse,
    database: Option<&str>,
    allow_local_infile: bool,
) -> Result<Upstream, UpstreamError> {
    let tcp = upstream::tcp(target).await?;
    progress.at(Step::Greeting);
    let mut framed = FramedRead::new(Box::new(tcp) as BoxStream, PacketCodec);
    let greeting = read_greeting(&mut framed).await?;
    let mut hello = Hello::negotiate(client, &greeting, database, allow_local_infile);
    let tls = target.tls_mode != UpstreamTls::Disable
        && greeting.capabilities.contains(CapabilityFlags::CLIENT_SSL);
    hello.caps.set(CapabilityFlags::CLIENT_SSL, tls);
    if tls {
        progress.at(Step::Tls);
    }
    let mut framed = start_tls(target, framed, &hello, tls).await?;
    progress.at(Step::Login);
    // The SSL request took sequence number 1.
    let (seq, is_tls) = if tls { (2, true) } else { (1, false) };
    let caps = hello.caps;
    let mut auth = Login {
        password: login.password.clone().unwrap_or_default(),
        tls: is_tls,
        scramble: greeting.scramble.clone(),
        plugin: AuthProc::init(&AuthPlugin::from_bytes(greeting.plugin.as_bytes()))
            .map_err(|e| protocol(format!("{e}")))?,
    };
    let first = auth.step(&greeting.scramble[..greeting.scramble.len().min(20)])?;
    let response = hello.response(
        &login.user,
        &first.unwrap_or_default(),
        database,
        &greeting.plugin,
    );
    send(&mut framed, seq, &response).await?;
    let status = auth.finish(&mut framed).await?;
    progress.at(Step::Setup);
    // Settings first: `sql_mode` and the character set they may change decide the reading.
    let status = apply_settings(&mut framed, &login.settings, status).await?;
    let reading = session_reading(&mut framed, caps).await?;
    let parts = framed.into_parts();
    if !parts.read_buf.is_empty() {
        return Err(protocol("the database sent data before any command"));
    }
    Ok(Upstream {
        reading,
        stream: parts.io,
        greeting,
        capabilities: caps,
        mariadb_capabilities: hello.mariadb_caps,
        status,
    })
}

/// What sluice's HandshakeResponse asks of the database: the client's capabilities that sluice
/// relays and the server offers, MariaDB's extended ones, and the client's packet size and
/// collation.
struct Hello<'a> {
    caps: CapabilityFlags,
    mariadb_caps: u32,
    client: &'a ClientResponse,
}

impl<'a> Hello<'a> {
    fn negotiate(
        client: &'a ClientResponse,
        greeting: &ServerGreeting,
        database: Option<&str>,
        allow_local_infile: bool,
    ) -> Hello<'a> {
        let server = greeting.capabilities;
        let mut caps = (client.capabilities & relayable_capabilities() & server)
            | CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_SECURE_CONNECTION
            | CapabilityFlags::CLIENT_PLUGIN_AUTH
            | CapabilityFlags::CLIENT_LONG_PASSWORD;
        let mariadb_caps = client.mariadb_capabilities
            & greeting.mariadb_capabilities
            & relayable_mariadb_capabilities();
        // MariaDB reads extended capabilities only from a client that leaves CLIENT_MYSQL unset.
        caps.set(CapabilityFlags::CLIENT_LONG_PASSWORD, mariadb_caps == 0);
        caps.set(
            CapabilityFlags::CLIENT_LOCAL_FILES,
            allow_local_infile
                && client
                    .capabilities
                    .contains(CapabilityFlags::CLIENT_LOCAL_FILES),
        );
        caps.set(CapabilityFlags::CLIENT_CONNECT_WITH_DB, database.is_some());
        caps.set(
            CapabilityFlags::CLIENT_CONNECT_ATTRS,
            client.attributes.is_some() && server.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS),
        );
        Hello {
            caps,
            mariadb_caps,
            client,
        }
    }

    /// Capabilities, packet size, collation and the filler carrying MariaDB's capabilities: the
    /// start of both the SSL request and the handshake response.
    fn head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.caps.bits().to_le_bytes());
        out.extend_from_slice(&self.client.max_packet.to_le_bytes());
        out.push(self.client.collation);
        let mut filler = [0u8; 23];
        filler[19..].copy_from_slice(&self.mariadb_caps.to_le_bytes());
        out.extend_from_slice(&filler);
    }

    /// The HandshakeResponse41 for `user`, with the plugin's first `auth` data.
    fn response(&self, user: &str, auth: &[u8], database: Option<&str>, plugin: &str) -> Vec<u8> {
        let mut response = Vec::with_capacity(128);
        self.head(&mut response);
        response.extend_from_slice(user.as_bytes());
        response.push(0);
        if self
            .caps
            .contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
        {
            put_lenenc(&mut response, auth.len() as u64);
        } else {
            response.push(auth.len() as u8);
        }
        response.extend_from_slice(auth);
        if let Some(db) = database {
            response.extend_from_slice(db.as_bytes());
            response.push(0);
        }
        response.extend_from_slice(plugin.as_bytes());
        response.push(0);
        if self.caps.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) {
            if let Some(attrs) = &self.client.attributes {
                put_lenenc(&mut response, attrs.len() as u64);
                response.extend_from_slice(attrs);
            }
        }
        response
    }
}

/// With `tls` (`upstream_tls` asks for it and the server offers it), the SSL request and the
/// TLS handshake: the stream returned is then encrypted. A mode that requires TLS from a server
/// without it is an error.
async fn start_tls(
    target: &UpstreamTarget,
    framed: Framed,
    hello: &Hello<'_>,
    tls: bool,
) -> Result<Framed, UpstreamError> {
    if tls {
        let mut ssl = Vec::with_capacity(32);
        hello.head(&mut ssl);
        let mut out = BytesMut::new();
        write_packets(&mut out, 1, &ssl);
        let mut io = framed.into_parts().io;
        io.write_all(&out).await?;
        io.flush().await?;
        let (stream, _) = tls_over(target, io).await?;
        return Ok(FramedRead::new(stream, PacketCodec));
    }
    if matches!(
        target.tls_mode,
        UpstreamTls::Require | UpstreamTls::VerifyCa | UpstreamTls::VerifyFull
    ) {
        return Err(protocol(format!(
            "the database does not offer TLS, and upstream_tls = {:?} requires it",
            target.tls_mode
        )));
    }
    Ok(framed)
}

/// The authentication exchange after the handshake response: the plugin's steps, auth
/// switches to another plugin, until the database's OK (its status flags) or ERR.
struct Login {
    password: String,
    tls: bool,
    scramble: Vec<u8>,
    plugin: AuthProc,
}

impl Login {
    /// The plugin's answer to `data`, if it has one.
    fn step(&mut self, data: &[u8]) -> Result<Option<Vec<u8>>, UpstreamError> {
        let ctx = Ctx {
            pass: self.password.as_bytes(),
            tls: self.tls,
            scramble: &self.scramble,
        };
        plugin_step(&mut self.plugin, &ctx, data)
    }

    async fn finish(&mut self, framed: &mut Framed) -> Result<u16, UpstreamError> {
        loop {
            let (s, payload) = next_payload(framed).await?;
            let reply = match payload.first() {
                Some(0x00) => {
                    let mut r = Reader(&payload[1..]);
                    let _ = (r.lenenc(), r.lenenc());
                    return Ok(r.u16().unwrap_or(0));
                }
                Some(0xFF) => {
                    let (code, message) = parse_err(&payload);
                    return Err(match code {
                        1044 | 1045 | 1698 => {
                            UpstreamError::Credentials(format!("{code}: {message}"))
                        }
                        _ => UpstreamError::Refused {
                            message: format!("{code}: {message}"),
                            payload,
                        },
                    });
                }
                Some(0xFE) => {
                    // AuthSwitchRequest: another plugin, another scramble.
                    let mut r = Reader(&payload[1..]);
                    let plugin = String::from_utf8_lossy(r.cstr().unwrap_or_default()).into_owned();
                    let data = r.rest();
                    self.scramble = data.strip_suffix(&[0]).unwrap_or(data).to_vec();
                    self.plugin = AuthProc::init(&AuthPlugin::from_bytes(plugin.as_bytes()))
                        .map_err(|e| protocol(format!("{e}")))?;
                    let scramble = self.scramble.clone();
                    self.step(&scramble)?
                }
                Some(0x01) => self.step(&payload[1..])?,
                _ => return Err(protocol("unexpected packet from the database during login")),
            };
            if let Some(data) = reply {
                send(framed, s.wrapping_add(1), &data).await?;
            }
        }
    }
}

/// `SERVER_STATUS_NO_BACKSLASH_ESCAPES`: `\` is an ordinary character in string literals.
const NO_BACKSLASH_ESCAPES: u16 = 0x0200;

/// A `SET SESSION` statement for one setting. The key was checked at load (a plain identifier);
/// a text value is quoted for the session as it reads quotes now (`status`), so no value can
/// end its literal early.
pub fn set_statement(key: &str, value: &SettingValue, status: u16) -> String {
    let value = match value {
        SettingValue::Text(s) => {
            let mut quoted = String::with_capacity(s.len() + 2);
            quoted.push('\'');
            for c in s.chars() {
                match c {
                    '\'' => quoted.push_str("''"),
                    '\\' if status & NO_BACKSLASH_ESCAPES == 0 => quoted.push_str("\\\\"),
                    c => quoted.push(c),
                }
            }
            quoted.push('\'');
            quoted
        }
        SettingValue::Integer(n) => n.to_string(),
        SettingValue::Float(f) => f.to_string(),
        SettingValue::Bool(b) => if *b { "ON" } else { "OFF" }.to_string(),
    };
    format!("SET SESSION {key} = {value}")
}

/// Sends the identity's settings one `SET SESSION` at a time (each may change how the next is
/// quoted); returns the status flags after the last.
async fn apply_settings(
    framed: &mut Framed,
    settings: &[(String, SettingValue)],
    mut status: u16,
) -> Result<u16, UpstreamError> {
    for (key, value) in settings {
        let mut query = vec![0x03];
        query.extend_from_slice(set_statement(key, value, status).as_bytes());
        send(framed, 0, &query).await?;
        let (_, reply) = next_payload(framed).await?;
        match reply.first() {
            Some(0x00) => {
                let mut r = Reader(&reply[1..]);
                let _ = (r.lenenc(), r.lenenc());
                status = r.u16().unwrap_or(status);
            }
            Some(0xFF) => {
                let (code, message) = parse_err(&reply);
                return Err(UpstreamError::Setting {
                    key: key.clone(),
                    message: format!("{code}: {message}"),
                });
            }
            _ => return Err(protocol("unexpected answer to a session setting")),
        }
    }
    Ok(status)
}

/// What decides how a MySQL session reads statements, besides the status flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionReading {
    /// `sql_mode` has `ANSI_QUOTES` (or a mode implying it): `"…"` is an identifier.
    pub ansi_quotes: bool,
    /// The client character set's two-byte characters may end in `\` (GBK, Big5, SJIS, …).
    pub multibyte: bool,
    /// `sql_mode` makes `||` concatenation (`PIPES_AS_CONCAT`), where sluice reads OR.
    pub pipes_as_concat: bool,
}

impl SessionReading {
    /// The query that asks: one row, `sql_mode` and `character_set_client`.
    pub const QUERY: &'static [u8] = b"SELECT @@SESSION.sql_mode, @@SESSION.character_set_client";

    /// Reads the answer's row.
    pub fn from_row(payload: &[u8]) -> Option<SessionReading> {
        let mut r = Reader(payload);
        let mode = String::from_utf8_lossy(r.lenenc_bytes()?).into_owned();
        let charset = String::from_utf8_lossy(r.lenenc_bytes()?).into_owned();
        Some(SessionReading {
            ansi_quotes: policy::sql_mode_has_ansi_quotes(&mode),
            multibyte: policy::multibyte_hazard(&charset),
            pipes_as_concat: policy::sql_mode_has_pipes_as_concat(&mode),
        })
    }
}

/// Asks the new session how it reads statements: MySQL reports `ANSI_QUOTES` and the client
/// character set nowhere else, and sluice must read quotes as the server does from the first
/// statement on.
async fn session_reading(
    framed: &mut Framed,
    caps: CapabilityFlags,
) -> Result<SessionReading, UpstreamError> {
    let mut query = vec![0x03];
    query.extend_from_slice(SessionReading::QUERY);
    send(framed, 0, &query).await?;
    let unexpected = || protocol("unexpected answer to sluice's sql_mode query");
    let (_, count) = next_payload(framed).await?;
    if count.first() != Some(&2) || count.len() != 1 {
        return Err(unexpected());
    }
    let _columns = (next_payload(framed).await?, next_payload(framed).await?);
    if !caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
        let _eof = next_payload(framed).await?;
    }
    let (_, row) = next_payload(framed).await?;
    let reading = SessionReading::from_row(&row).ok_or_else(unexpected)?;
    let (_, end) = next_payload(framed).await?;
    if !matches!(end.first(), Some(0xFE | 0x00)) {
        return Err(unexpected());
    }
    Ok(reading)
}

async fn send(framed: &mut Framed, seq: u8, payload: &[u8]) -> Result<(), UpstreamError> {
    let mut out = BytesMut::new();
    write_packets(&mut out, seq, payload);
    let io = framed.get_mut();
    io.write_all(&out).await?;
    io.flush().await?;
    Ok(())
}

/// TLS over an already boxed plaintext stream.
async fn tls_over(
    target: &UpstreamTarget,
    io: BoxStream,
) -> Result<(BoxStream, ()), UpstreamError> {
    let config = target
        .tls_config
        .clone()
        .ok_or_else(|| protocol("no TLS config"))?;
    let name = crate::tls::server_name(&target.host)
        .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    let conn = tokio_rustls::TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(|e| {
            UpstreamError::Connect(ConnectError::Tls(format!(
                "TLS to the database failed: {e}"
            )))
        })?;
    Ok((Box::new(conn), ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn err_payloads_yield_code_and_message() {
        let p = super::super::packet::err_payload(1045, "28000", "Access denied");
        assert_eq!(parse_err(&p), (1045, "Access denied".to_string()));
    }

    #[test]
    fn set_statements_quote_text_for_the_session() {
        let text = SettingValue::Text("it's a\\b".into());
        assert_eq!(
            set_statement("sql_mode", &text, 0),
            "SET SESSION sql_mode = 'it''s a\\\\b'"
        );
        assert_eq!(
            set_statement("sql_mode", &text, NO_BACKSLASH_ESCAPES),
            "SET SESSION sql_mode = 'it''s a\\b'"
        );
        let n = SettingValue::Float(2.5);
        assert_eq!(
            set_statement("max_statement_time", &n, 0),
            "SET SESSION max_statement_time = 2.5"
        );
        let b = SettingValue::Bool(false);
        assert_eq!(
            set_statement("autocommit", &b, 0),
            "SET SESSION autocommit = OFF"
        );
    }

    #[test]
    fn garbage_greetings_are_refused() {
        for g in [&[][..], &[9], &[10, b'x'], &[10, 0, 1, 2, 3]] {
            assert!(parse_greeting(g).is_none());
        }
    }
}
