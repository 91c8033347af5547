//! The MySQL/MariaDB protocol adapter: one listener per `mysql` target, one task per session.
//!
//! A session goes: greet (sluice's own scramble and connection id, the server's version with
//! `-sluice` appended) → TLS → authenticate against `[[users]]` → log in upstream as the
//! target's user with the client's capabilities → relay. Errors carry the codes MySQL clients
//! know (1045, 1040, 1429, …) and end only that connection.

pub mod catalog;
pub mod client;
pub mod command;
pub mod mode_probe;
pub mod packet;
pub mod relay;
pub mod response;
pub mod row_limit;
pub mod rows;
pub mod session_settings;
pub mod sessions;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use mysql_common::constants::CapabilityFlags;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_util::task::TaskTracker;

use crate::identities::Credentials;
use crate::live::Live;
use crate::metrics::TargetMetrics;
use crate::session::SessionHooks;
use crate::statement_gate::StatementGate;
use crate::tls::ServerTls;
use crate::upstream::UpstreamTarget;
use client::{Greeting, HandshakeError};
use packet::{err_payload, write_packets};
use sessions::SessionRegistry;
use upstream::{ServerGreeting, UpstreamError};

/// What every session of every MySQL listener shares.
pub struct MysqlShared {
    /// Users and rules in force (reloadable).
    pub live: Arc<Live>,
    pub tls: Option<ServerTls>,
    pub sessions: Arc<SessionRegistry>,
    pub max_command: usize,
    /// `[audit]`, when configured.
    pub audit: Option<Arc<crate::recorder::Auditor>>,
    /// Statement analyses for audit records, shared by sessions.
    pub analyses: Arc<policy::AnalysisCache>,
    /// `[approvals]`, when configured.
    pub approvals: Option<Arc<crate::approvals::Approvals>>,
}

/// One `mysql` target at run time.
pub struct MysqlTarget {
    pub upstream: Arc<UpstreamTarget>,
    /// When not empty, only members of these groups may log in.
    pub allowed_groups: Vec<String>,
    pub slots: Arc<Semaphore>,
    pub max_connections: usize,
    pub allow_local_infile: bool,
    /// The plugin sluice's greeting proposes to clients.
    pub client_auth_plugin: &'static str,
    /// The server's latest greeting: its version and capabilities shape sluice's own.
    pub server: Mutex<Option<ServerGreeting>>,
    pub metrics: Arc<TargetMetrics>,
    /// Base tables and views, for masking.
    pub catalog: Arc<catalog::MysqlCatalog>,
}

/// Accepts connections until `shutdown` turns true.
pub async fn run_listener(
    listener: TcpListener,
    target: Arc<MysqlTarget>,
    shared: Arc<MysqlShared>,
    shutdown: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    tracker: TaskTracker,
) {
    let name = target.upstream.name.clone();
    let sessions = shutdown.clone();
    crate::net::accept_loop(listener, &name, shutdown, stop, tracker, |tcp, peer| {
        let clock = crate::login_clock::LoginClock::start(std::time::Instant::now());
        handle_connection(
            tcp,
            peer,
            clock,
            Arc::clone(&target),
            Arc::clone(&shared),
            sessions.clone(),
        )
    })
    .await;
}

/// Sends an ERR as the very first packet (as servers do for "too many connections").
async fn refuse_at_greeting(mut tcp: TcpStream, code: u16, state: &str, message: &str) {
    let mut out = BytesMut::new();
    write_packets(&mut out, 0, &err_payload(code, state, message));
    let _ = tcp.write_all(&out).await;
    let _ = tcp.shutdown().await;
}

async fn handle_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    clock: Option<crate::login_clock::LoginClock>,
    target: Arc<MysqlTarget>,
    shared: Arc<MysqlShared>,
    shutdown: watch::Receiver<bool>,
) {
    let name = target.upstream.name.clone();
    let Ok(_slot) = Arc::clone(&target.slots).try_acquire_owned() else {
        tracing::warn!(target = %name, %peer, "max_connections reached");
        TargetMetrics::count(&target.metrics.connections_refused);
        return refuse_at_greeting(tcp, 1040, "08004", "Too many connections").await;
    };
    // `[login] handshake_timeout`: from connecting to a ready session.
    let limit = shared.live.login().settings().handshake_timeout;
    let login = crate::login_clock::LoginClock::scope(clock.clone(), async {
        crate::login_clock::mark("handler");
        establish(tcp, peer, &target, &shared).await
    });
    let established = tokio::time::timeout(limit, login).await;
    let outcome = match &established {
        Ok(Some(_)) => "ready",
        Ok(None) => "failed",
        Err(_) => "timed out",
    };
    crate::login_clock::LoginClock::report(clock.as_ref(), &name, peer, outcome);
    let (client, upstream, ctx, upstream_user) = match established {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(_) => {
            tracing::info!(target = %name, %peer, "client did not complete its handshake within {limit:?}");
            return;
        }
    };
    let _registered =
        shared
            .sessions
            .register(ctx.connection_id, &ctx.user, upstream.greeting.thread_id);
    let (id, user) = (ctx.connection_id, ctx.user.clone());
    target.metrics.identity_session(&upstream_user);
    let hooks = {
        let gate = StatementGate::new(
            Arc::clone(&shared.live),
            policy::Dialect::MySql,
            &ctx.user,
            &ctx.groups,
            &name,
            Arc::clone(&target.metrics),
        );
        let recorder = shared.audit.as_ref().map(|a| {
            a.session(crate::recorder::SessionInfo {
                target: name.as_str().into(),
                user: ctx.user.as_str().into(),
                groups: ctx.groups.as_slice().into(),
                client_addr: peer.to_string().into(),
                tls: ctx.tls,
                application_name: None,
                database: ctx.database.clone(),
                upstream_user: Some(upstream_user.clone()),
            })
        });
        let gate = gate
            .with_upstream_identity(
                Arc::clone(&target.upstream),
                ctx.database.clone(),
                upstream_user,
            )
            .with_recorder(recorder, Arc::clone(&shared.analyses))
            .with_approvals(
                shared.approvals.clone(),
                format!("mysql:{id}"),
                peer.to_string(),
            )
            .with_deadline(ctx.deadline);
        Box::new(gate) as Box<dyn SessionHooks>
    };
    let _counted = target.metrics.session();
    let idle = shared.live.login().settings().idle_timeout;
    let (client, upstream) = crate::idle::watch(client, upstream.stream, idle);
    let end = relay::run(client, upstream, ctx, Some(hooks), shutdown).await;
    tracing::info!(target = %name, %peer, %user, id, end = ?end, "session ended");
}

/// Greets and authenticates the client, logs in upstream and builds the relay's context; `None`
/// when the session ends before the relay (the client was told why where it could be).
async fn establish(
    tcp: TcpStream,
    peer: SocketAddr,
    target: &MysqlTarget,
    shared: &MysqlShared,
) -> Option<(
    crate::tls::BoxStream,
    upstream::Upstream,
    relay::RelayContext,
    String,
)> {
    let name = &target.upstream.name;
    let server = match known_server(target).await {
        Ok(s) => s,
        Err(e) => {
            refuse_unavailable_at_greeting(tcp, peer, target, &e).await;
            return None;
        }
    };
    let connection_id = shared.sessions.next_id();
    let version = format!("{}-sluice", server.version);
    let (capabilities, mariadb_capabilities) = greeting_capabilities(&server);
    let greeting = Greeting {
        server_version: &version,
        connection_id,
        capabilities,
        mariadb_capabilities,
        collation: server.collation,
        auth_plugin: target.client_auth_plugin,
    };
    let mut authed = authenticate(tcp, &greeting, peer, target, shared).await?;
    let seq = authed.next_seq;
    let database = session_database(&mut authed, target, seq).await?;
    let login = choose_login(&mut authed, peer, target, shared, database.as_deref()).await?;
    let up = connect_upstream(
        &mut authed,
        peer,
        target,
        shared,
        &login,
        database.as_deref(),
    )
    .await?;
    if up.mariadb_capabilities != authed.response.mariadb_capabilities {
        // The database stopped offering what sluice's greeting promised (a different server
        // since the probe): column definitions would not be what the client parses.
        let msg = format!("sluice: target \"{name}\" changed its MariaDB capabilities; reconnect");
        refuse_unavailable(&mut authed.stream, seq, &msg).await;
        return None;
    }
    *target.server.lock().unwrap_or_else(|p| p.into_inner()) = Some(up.greeting.clone());
    if client::send_ok(&mut authed.stream, seq).await.is_err() {
        return None;
    }
    tracing::info!(
        target = %name, %peer, user = %authed.identity.user, upstream_user = %login.user, database = ?database, tls = authed.tls,
        id = connection_id, thread = up.greeting.thread_id, "session started"
    );
    let ctx = relay_context(
        target,
        shared,
        &authed,
        &up,
        &login,
        connection_id,
        database,
    );
    Some((authed.stream, up, ctx, login.user))
}

/// The upstream's greeting: the one seen last, else a fresh probe's.
async fn known_server(target: &MysqlTarget) -> Result<ServerGreeting, UpstreamError> {
    let cached = target
        .server
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match cached {
        Some(s) => Ok(s),
        None => upstream::probe(&target.upstream).await,
    }
}

/// The upstream could not be probed: the client is refused in place of the greeting.
async fn refuse_unavailable_at_greeting(
    tcp: TcpStream,
    peer: SocketAddr,
    target: &MysqlTarget,
    e: &UpstreamError,
) {
    let name = &target.upstream.name;
    tracing::error!(target = %name, %peer, error = %e, "upstream unavailable");
    TargetMetrics::count(&target.metrics.upstream_failures);
    let msg = format!("sluice: target \"{name}\" is unavailable: {e}");
    refuse_at_greeting(
        tcp,
        packet::TARGET_UNAVAILABLE,
        packet::CONNECTION_FAILURE,
        &msg,
    )
    .await;
}

/// The capabilities sluice's greeting offers: what the upstream offers and sluice relays, plus
/// what every client login needs; and MariaDB's extended ones likewise.
fn greeting_capabilities(server: &ServerGreeting) -> (CapabilityFlags, u32) {
    let mut capabilities = (client::relayable_capabilities() & server.capabilities)
        | CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH;
    // MariaDB's extended capabilities the upstream offers and sluice relays; offering them means
    // greeting as MariaDB does, without CLIENT_MYSQL (CLIENT_LONG_PASSWORD).
    let mariadb_capabilities =
        server.mariadb_capabilities & client::relayable_mariadb_capabilities();
    capabilities.set(
        CapabilityFlags::CLIENT_LONG_PASSWORD,
        mariadb_capabilities == 0,
    );
    (capabilities, mariadb_capabilities)
}

/// The client's handshake against `[[users]]` and the target's allowed_groups; failures are
/// counted, logged and audited, and the client refused.
async fn authenticate(
    tcp: TcpStream,
    greeting: &Greeting<'_>,
    peer: SocketAddr,
    target: &MysqlTarget,
    shared: &MysqlShared,
) -> Option<client::Authenticated> {
    let name = &target.upstream.name;
    let mut authed = match client::handshake(
        Box::new(tcp),
        greeting,
        shared.tls.as_ref(),
        &shared.live.users(),
        Some(shared.live.login()),
        peer.ip(),
    )
    .await
    {
        Ok(a) => a,
        Err(HandshakeError::Auth {
            user,
            reason,
            throttled,
        }) => {
            tracing::warn!(target = %name, %peer, %user, %reason, "authentication failed");
            TargetMetrics::count(&target.metrics.auth_failures);
            if throttled {
                TargetMetrics::count(&target.metrics.logins_throttled);
            }
            if let Some(a) = &shared.audit {
                a.auth_failed(name, &user, &peer.to_string(), &reason);
            }
            return None;
        }
        Err(e) => {
            tracing::info!(target = %name, %peer, error = %e, "connection refused during handshake");
            return None;
        }
    };
    crate::login_clock::mark("client_login");
    if authed.throttled {
        TargetMetrics::count(&target.metrics.logins_throttled);
    }
    if !crate::auth::in_any(&authed.identity.groups, &target.allowed_groups) {
        let reason = format!(
            "not in the target's allowed_groups {:?}",
            target.allowed_groups
        );
        tracing::warn!(target = %name, %peer, user = %authed.identity.user, %reason, "login refused");
        TargetMetrics::count(&target.metrics.connections_refused);
        if let Some(a) = &shared.audit {
            a.auth_failed(name, &authed.identity.user, &peer.to_string(), &reason);
        }
        let msg = format!(
            "Access denied for user '{}' to target \"{name}\"",
            authed.identity.user
        );
        client::refuse(&mut authed.stream, authed.next_seq, 1045, "28000", &msg).await;
        return None;
    }
    Some(authed)
}

/// The database the session starts in: the target's only one, else what the client asked for.
/// A client asking for another than a target's only one is refused (1044): `None`.
async fn session_database(
    authed: &mut client::Authenticated,
    target: &MysqlTarget,
    seq: u8,
) -> Option<Option<String>> {
    let name = &target.upstream.name;
    match (&target.upstream.database, &authed.response.database) {
        (Some(only), Some(asked)) if only != asked => {
            let msg = format!("Access denied for user '{}' to database '{asked}' (target \"{name}\" serves only '{only}')", authed.identity.user);
            client::refuse(&mut authed.stream, seq, 1044, "42000", &msg).await;
            None
        }
        (Some(only), _) => Some(Some(only.clone())),
        (None, asked) => Some(asked.clone()),
    }
}

/// What the relay needs of the session, once client and upstream are logged in.
fn relay_context(
    target: &MysqlTarget,
    shared: &MysqlShared,
    authed: &client::Authenticated,
    up: &upstream::Upstream,
    login: &Credentials,
    connection_id: u32,
    database: Option<String>,
) -> relay::RelayContext {
    relay::RelayContext {
        target: target.upstream.name.clone(),
        connection_id,
        user: authed.identity.user.clone(),
        groups: authed.identity.groups.clone(),
        allow_local_infile: target.allow_local_infile,
        deprecate_eof: up
            .capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
        extended_metadata: up.mariadb_capabilities & client::MARIADB_CLIENT_EXTENDED_METADATA != 0,
        max_command: shared.max_command,
        sessions: Arc::clone(&shared.sessions),
        live: Arc::clone(&shared.live),
        scramble: authed.scramble,
        catalog: Arc::clone(&target.catalog),
        tls: authed.tls,
        database,
        approvals: shared.approvals.clone(),
        deadline: authed.deadline,
        metrics: Arc::clone(&target.metrics),
        login_status: up.status,
        login_reading: up.reading,
        server: policy::MysqlServer::from_version(&up.greeting.version),
        settings: login.settings.clone(),
    }
}

/// The upstream login for the session: its identity's (with the client's token as the password
/// when the identity says so), the target's own, or none and the client is refused (1045):
/// `require_identity` and no identity fits, or the identity wants a token the client did not
/// sign in with.
async fn choose_login(
    authed: &mut client::Authenticated,
    peer: SocketAddr,
    target: &MysqlTarget,
    shared: &MysqlShared,
    database: Option<&str>,
) -> Option<Credentials> {
    let name = &target.upstream.name;
    let user = &authed.identity.user;
    let chosen = target.upstream.session_login(
        user,
        &authed.identity.groups,
        database,
        authed.token.as_deref(),
    );
    match chosen {
        Ok(login) => Some(login),
        Err(e) => {
            let reason = e.to_string();
            tracing::warn!(target = %name, %peer, %user, %reason, "login refused");
            TargetMetrics::count(&target.metrics.connections_refused);
            if let Some(a) = &shared.audit {
                a.auth_failed(name, user, &peer.to_string(), &reason);
            }
            let msg = format!(
                "Access denied for user '{user}': no upstream identity on target \"{name}\" ({})",
                e.rule()
            );
            client::refuse(&mut authed.stream, authed.next_seq, 1045, "28000", &msg).await;
            None
        }
    }
}

/// Logs in upstream as `login`; on failure the client gets the database's own refusal or 1429
/// naming the target, and the log and the audit log say why.
async fn connect_upstream(
    authed: &mut client::Authenticated,
    peer: SocketAddr,
    target: &MysqlTarget,
    shared: &MysqlShared,
    login: &Credentials,
    database: Option<&str>,
) -> Option<upstream::Upstream> {
    let name = &target.upstream.name;
    let seq = authed.next_seq;
    let connecting = std::time::Instant::now();
    let result = upstream::connect_as(
        &target.upstream,
        login,
        &authed.response,
        database,
        target.allow_local_infile,
    )
    .await;
    let failed = match result {
        Ok(u) => {
            target.metrics.upstream_connected(connecting);
            return Some(u);
        }
        Err(UpstreamError::Refused { payload, message }) => {
            tracing::info!(target = %name, %peer, upstream_user = %login.user, reason = %message, "database refused the session");
            let mut out = BytesMut::new();
            write_packets(&mut out, seq, &payload);
            let _ = authed.stream.write_all(&out).await;
            let _ = authed.stream.shutdown().await;
            format!("UpstreamRefused({message:?})")
        }
        Err(e) => {
            tracing::error!(target = %name, %peer, upstream_user = %login.user, error = %e, "upstream login failed");
            TargetMetrics::count(&target.metrics.upstream_failures);
            let why = match e {
                UpstreamError::Credentials(_) => {
                    "the database rejected sluice's credentials for this target".to_string()
                }
                other => other.to_string(),
            };
            let msg = format!("sluice: target \"{name}\" is unavailable: {why}");
            refuse_unavailable(&mut authed.stream, seq, &msg).await;
            format!("UpstreamUnavailable({why:?})")
        }
    };
    if let Some(a) = &shared.audit {
        let info = crate::recorder::SessionInfo {
            target: name.as_str().into(),
            user: authed.identity.user.as_str().into(),
            groups: authed.identity.groups.as_slice().into(),
            client_addr: peer.to_string().into(),
            tls: authed.tls,
            application_name: None,
            database: database.map(str::to_string),
            upstream_user: Some(login.user.clone()),
        };
        a.upstream_failed(info, &failed);
    }
    None
}

/// Ends a login the target cannot serve with the target-unavailable error (see
/// [`packet::TARGET_UNAVAILABLE`]).
async fn refuse_unavailable(stream: &mut crate::tls::BoxStream, seq: u8, message: &str) {
    client::refuse(
        stream,
        seq,
        packet::TARGET_UNAVAILABLE,
        packet::CONNECTION_FAILURE,
        message,
    )
    .await;
}
