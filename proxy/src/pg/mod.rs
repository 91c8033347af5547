//! The PostgreSQL protocol adapter: one listener per `postgres` target, one task per session.
//!
//! A session goes: negotiate (TLS, startup) → authenticate the client against sluice's users →
//! log in upstream with the target's credentials → relay. Failures at each step get the SQLSTATE
//! a PostgreSQL client expects, and end only that connection.

pub mod auth;
pub mod cancel;
pub mod catalog;
pub mod charset;
pub mod client;
pub mod copy;
pub mod frame;
pub mod lexing;
pub mod messages;
pub mod relay;
pub mod results;
pub mod row_limit;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use crate::auth::scram::ChannelBinding;
use crate::auth::Identity;
use crate::identities::Credentials;
use crate::live::Live;
use crate::metrics::TargetMetrics;
use crate::session::SessionHooks;
use crate::statement_gate::StatementGate;
use crate::tls::{BoxStream, ServerTls};
use cancel::{CancelKey, CancelRegistry};
use catalog::PgCatalog;
use client::{send_fatal, Hello, Startup};
use upstream::{UpstreamError, UpstreamTarget};

/// What every session of every PostgreSQL listener shares.
pub struct PgShared {
    /// Users and rules in force (reloadable).
    pub live: Arc<Live>,
    pub tls: Option<ServerTls>,
    pub cancels: Arc<CancelRegistry>,
    pub max_client_message: u32,
    /// `[audit]`, when configured.
    pub audit: Option<Arc<crate::recorder::Auditor>>,
    /// Statement analyses for audit records, shared by sessions.
    pub analyses: Arc<policy::AnalysisCache>,
    /// `[approvals]`, when configured.
    pub approvals: Option<Arc<crate::approvals::Approvals>>,
}

/// One `postgres` target at run time.
pub struct PgTarget {
    pub upstream: Arc<UpstreamTarget>,
    /// When not empty, only members of these groups may log in.
    pub allowed_groups: Vec<String>,
    /// `max_connections` permits.
    pub slots: Arc<Semaphore>,
    pub max_connections: usize,
    pub metrics: Arc<TargetMetrics>,
    /// Column origins, per database.
    pub catalogs: std::sync::Mutex<std::collections::HashMap<String, Arc<PgCatalog>>>,
}

impl PgTarget {
    /// The catalog of one of the target's databases.
    fn catalog(&self, database: &str) -> Arc<PgCatalog> {
        let mut all = self.catalogs.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            all.entry(database.to_string())
                .or_insert_with(|| PgCatalog::new(Arc::clone(&self.upstream), database)),
        )
    }
}

/// Accepts connections until `shutdown` turns true; sessions are spawned on `tracker`.
pub async fn run_listener(
    listener: TcpListener,
    target: Arc<PgTarget>,
    shared: Arc<PgShared>,
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

/// A session ready to relay: both sides logged in.
struct Established {
    client: BoxStream,
    upstream: BoxStream,
    identity: Identity,
    /// A token-signed session ends at its first statement after this.
    deadline: Option<i64>,
    database: String,
    tls: bool,
    application_name: Option<String>,
    /// Holds the session's `max_connections` slot and cancel key until it ends.
    _slot: OwnedSemaphorePermit,
    key: CancelKey,
    /// The upstream's startup ParameterStatus frames, for settings the relay follows.
    greeting: bytes::BytesMut,
    /// The database role the session logged in upstream as (its identity's, or the target's).
    upstream_user: String,
}

/// What [`login`] hands on: the upstream session and who it is for.
struct LoggedIn {
    upstream: BoxStream,
    identity: Identity,
    deadline: Option<i64>,
    key: CancelKey,
    database: String,
    greeting: bytes::BytesMut,
    upstream_user: String,
}

async fn handle_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    clock: Option<crate::login_clock::LoginClock>,
    target: Arc<PgTarget>,
    shared: Arc<PgShared>,
    shutdown: watch::Receiver<bool>,
) {
    let name = target.upstream.name.clone();
    // `[login] handshake_timeout`: from connecting to a ready session (TLS, startup, SCRAM,
    // any login delay, the upstream login).
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
    let established = match established {
        Ok(Some(e)) => e,
        Ok(None) => return,
        Err(_) => {
            tracing::info!(target = %name, %peer, "client did not complete startup within {limit:?}");
            return;
        }
    };
    let Established {
        client,
        upstream,
        identity,
        deadline,
        database,
        tls,
        application_name,
        key,
        _slot,
        greeting,
        upstream_user,
    } = established;
    let opts = relay::RelayOptions {
        target: name.clone(),
        max_client_message: shared.max_client_message,
        catalog: target.catalog(&database),
        metrics: Arc::clone(&target.metrics),
        lexing: lexing::LexTracker::new(&greeting),
    };
    target.metrics.identity_session(&upstream_user);
    let hooks = {
        let gate = StatementGate::new(
            Arc::clone(&shared.live),
            policy::Dialect::Postgres,
            &identity.user,
            &identity.groups,
            &name,
            Arc::clone(&target.metrics),
        );
        let recorder = shared.audit.as_ref().map(|a| {
            a.session(crate::recorder::SessionInfo {
                target: name.as_str().into(),
                user: identity.user.as_str().into(),
                groups: identity.groups.as_slice().into(),
                client_addr: peer.to_string().into(),
                tls,
                application_name,
                database: Some(database.clone()),
                upstream_user: Some(upstream_user.clone()),
            })
        });
        let gate = gate
            .with_upstream_identity(
                Arc::clone(&target.upstream),
                Some(database.clone()),
                upstream_user,
            )
            .with_recorder(recorder, Arc::clone(&shared.analyses))
            .with_approvals(
                shared.approvals.clone(),
                format!("pg:{}", key.pid),
                peer.to_string(),
            )
            .with_deadline(deadline);
        Box::new(gate) as Box<dyn SessionHooks>
    };
    let _counted = target.metrics.session();
    let idle = shared.live.login().settings().idle_timeout;
    let (client, upstream) = crate::idle::watch(client, upstream, idle);
    let end = relay::run(client, upstream, opts, Some(hooks), shutdown).await;
    let user = identity.user;
    tracing::info!(target = %name, %peer, %user, pid = key.pid, end = ?end, "session ended");
}

/// Everything before the relay: negotiation, limits, client authentication, upstream login.
/// `None` when the connection ended (the client was told why, where it could be).
async fn establish(
    tcp: TcpStream,
    peer: SocketAddr,
    target: &Arc<PgTarget>,
    shared: &PgShared,
) -> Option<Established> {
    let name = &target.upstream.name;
    let slot = Arc::clone(&target.slots).try_acquire_owned();
    let hello = match client::negotiate(tcp, shared.tls.as_ref()).await {
        Ok(hello) => hello,
        Err(e) => {
            tracing::info!(target = %name, %peer, error = %e, "connection refused during startup");
            return None;
        }
    };
    let mut startup = match hello {
        Hello::Cancel { pid, secret } => {
            // A statement held for approval is withdrawn; one running upstream is cancelled.
            if let Some(a) = shared
                .approvals
                .as_ref()
                .filter(|_| shared.cancels.is_live(pid, secret))
            {
                let (a, key) = (Arc::clone(a), format!("pg:{pid}"));
                let _ = tokio::task::spawn_blocking(move || a.withdraw_held(&key)).await;
            }
            shared.cancels.cancel(pid, secret).await;
            return None;
        }
        Hello::Startup(s) => s,
    };
    let Ok(slot) = slot else {
        let msg = format!(
            "sorry, too many clients already: target \"{name}\" allows {} connections",
            target.max_connections
        );
        tracing::warn!(target = %name, %peer, "max_connections reached");
        TargetMetrics::count(&target.metrics.connections_refused);
        send_fatal(&mut startup.stream, "53300", &msg).await;
        return None;
    };
    if let Err((code, msg)) = check_startup(&startup) {
        TargetMetrics::count(&target.metrics.connections_refused);
        tracing::info!(target = %name, %peer, reason = %msg, "startup refused");
        send_fatal(&mut startup.stream, code, &msg).await;
        return None;
    }
    let LoggedIn {
        upstream,
        identity,
        deadline,
        key,
        database,
        greeting,
        upstream_user,
    } = login(&mut startup, peer, target, shared).await?;
    Some(Established {
        greeting,
        upstream_user,
        deadline,
        tls: startup.tls,
        application_name: startup.param("application_name").map(str::to_string),
        client: startup.stream,
        upstream,
        identity,
        database,
        _slot: slot,
        key,
    })
}

/// Refuses what sluice cannot serve, before authentication.
fn check_startup(s: &Startup) -> Result<(), (&'static str, String)> {
    if s.param("user").is_none_or(str::is_empty) {
        return Err((
            "28000",
            "no PostgreSQL user name specified in startup packet".into(),
        ));
    }
    if s.param("replication")
        .is_some_and(|v| !matches!(v, "false" | "off" | "no" | "0"))
    {
        return Err((
            "0A000",
            "replication connections are not supported through sluice".into(),
        ));
    }
    if let Some(name) = startup_settings(s).find(|n| UNSAFE_SETTINGS.contains(&n.as_str())) {
        return Err((
            "42501",
            format!("sluice refuses the startup setting \"{name}\": it loads code into the server or turns off its safeguards"),
        ));
    }
    Ok(())
}

/// Settings a client must not choose: they load native code into the server process, or turn
/// off catalogs' protection, triggers and foreign keys, or checks on damaged data.
const UNSAFE_SETTINGS: &[&str] = &[
    "session_preload_libraries",
    "local_preload_libraries",
    "shared_preload_libraries",
    "dynamic_library_path",
    "jit_provider",
    "allow_system_table_mods",
    "allow_in_place_tablespaces",
    "session_replication_role",
    "ignore_system_indexes",
    "ignore_checksum_failure",
    "ignore_invalid_pages",
    "zero_damaged_pages",
];

/// Every setting a StartupMessage names: its parameters, and each `-c name=value` or
/// `--name=value` in `options` (names lowercased, `-` read as `_` as PostgreSQL does).
fn startup_settings(s: &Startup) -> impl Iterator<Item = String> + '_ {
    let options = s.param("options").unwrap_or_default();
    let words: Vec<&str> = options.split_whitespace().collect();
    let mut from_options = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let setting = match w.strip_prefix("--") {
            Some(rest) => Some(rest),
            None if *w == "-c" => words.get(i + 1).copied(),
            None => w.strip_prefix("-c"),
        };
        if let Some(setting) = setting.filter(|t| !t.is_empty()) {
            from_options.push(setting.split('=').next().unwrap_or_default().to_string());
        }
    }
    s.params
        .iter()
        .map(|(k, _)| k.clone())
        .chain(from_options)
        .map(|n| n.trim().to_ascii_lowercase().replace('-', "_"))
}

/// Authenticates the client, logs in upstream and greets the client with the upstream's
/// parameters and sluice's own cancel key.
async fn login(
    startup: &mut Startup,
    peer: SocketAddr,
    target: &Arc<PgTarget>,
    shared: &PgShared,
) -> Option<LoggedIn> {
    let name = &target.upstream.name;
    let user = startup.param("user").unwrap_or_default().to_string();
    let database = startup
        .param("database")
        .filter(|d| !d.is_empty())
        .unwrap_or(&user)
        .to_string();
    let mut out = BytesMut::new();
    if startup.minor > 0 || !startup.unrecognized.is_empty() {
        let unrecognized: Vec<&str> = startup.unrecognized.iter().map(String::as_str).collect();
        messages::negotiate_protocol_version(&mut out, 0, &unrecognized);
        if startup.stream.write_all(&out).await.is_err() {
            return None;
        }
    }
    let (identity, deadline, token) = sign_in(startup, peer, target, shared, &user).await?;
    crate::login_clock::mark("client_login");
    if !crate::auth::in_any(&identity.groups, &target.allowed_groups) {
        let reason = format!(
            "not in the target's allowed_groups {:?}",
            target.allowed_groups
        );
        tracing::warn!(target = %name, %peer, user = %identity.user, %reason, "login refused");
        TargetMetrics::count(&target.metrics.connections_refused);
        if let Some(a) = &shared.audit {
            a.auth_failed(name, &identity.user, &peer.to_string(), &reason);
        }
        let msg = format!("user \"{}\" may not use target \"{name}\"", identity.user);
        send_fatal(&mut startup.stream, "28000", &msg).await;
        return None;
    }
    if let Some(only) = &target.upstream.database {
        if *only != database {
            let msg = format!("database \"{database}\" is not reachable through target \"{name}\" (only \"{only}\")");
            send_fatal(&mut startup.stream, "3D000", &msg).await;
            return None;
        }
    }
    let signed = Signed {
        identity: &identity,
        token: token.as_deref(),
    };
    let login = choose_login(startup, peer, target, shared, signed, &database).await?;
    let upstream =
        connect_upstream(startup, peer, target, shared, &login, &identity, &database).await?;
    let key = shared.cancels.register(
        Arc::clone(&target.upstream),
        upstream.key.unwrap_or_default(),
    );
    out.clear();
    out.extend_from_slice(&upstream.greeting);
    messages::backend_key_data(&mut out, key.pid, key.secret);
    out.extend_from_slice(b"Z\0\0\0\x05I");
    if startup.stream.write_all(&out).await.is_err() || startup.stream.flush().await.is_err() {
        return None;
    }
    tracing::info!(target = %name, %peer, user = %identity.user, upstream_user = %login.user, %database, tls = startup.tls, pid = key.pid, "session started");
    Some(LoggedIn {
        upstream: upstream.stream,
        identity,
        deadline,
        key,
        database,
        greeting: upstream.greeting,
        upstream_user: login.user,
    })
}

/// Authenticates the client as `user` (SCRAM, or a token over TLS with `[jwt]`), under
/// `[login]` throttling: it waits out the address's or the name's delay first, and a failure
/// is answered (28P01) only after its own. The identity, a token session's deadline, and the
/// token.
async fn sign_in(
    startup: &mut Startup,
    peer: SocketAddr,
    target: &Arc<PgTarget>,
    shared: &PgShared,
    user: &str,
) -> Option<(Identity, Option<i64>, Option<String>)> {
    let name = &target.upstream.name;
    let binding = match (&shared.tls, startup.tls) {
        (Some(tls), true) => ChannelBinding::TlsServerEndPoint(tls.end_point_hash.clone()),
        _ => ChannelBinding::Unavailable,
    };
    let users = shared.live.users();
    let attempt = shared.live.login().attempt(Some(peer.ip()), user);
    let waited = !attempt.wait_turn().await.is_zero();
    // A login counts as throttled once, whether it waited its turn, was answered late, or both.
    let throttled = |delayed: bool| {
        if waited || delayed {
            TargetMetrics::count(&target.metrics.logins_throttled);
        }
    };
    let signed_in = match users.jwt().filter(|_| !users.is_local(user)) {
        // A token travels in clear: only inside TLS.
        Some(jwt) if startup.tls => auth::authenticate_token(&mut startup.stream, user, jwt)
            .await
            .map(|(t, token)| {
                let deadline = jwt.session_deadline(&t, crate::auth::jwt::now_secs());
                (t.identity, Some(deadline), Some(token))
            }),
        Some(_) => auth::authenticate(&mut startup.stream, user, &users, &binding)
            .await
            .map(|i| (i, None, None))
            .map_err(|e| match e {
                auth::AuthFailure::UnknownUser => auth::AuthFailure::Protocol(
                    "unknown user; a token is accepted only over TLS".into(),
                ),
                other => other,
            }),
        None => auth::authenticate(&mut startup.stream, user, &users, &binding)
            .await
            .map(|i| (i, None, None)),
    };
    let (identity, deadline, token) = match signed_in {
        Ok(signed) => signed,
        Err(auth::AuthFailure::Io(e)) => {
            // Gone mid-exchange: it learnt nothing, and there is no one to answer.
            tracing::info!(target = %name, %peer, %user, error = %e, "client left during authentication");
            throttled(false);
            return None;
        }
        Err(e) => {
            let penalty = attempt.failed().await;
            let reason = format!("{e}{}", penalty.describe());
            tracing::warn!(target = %name, %peer, %user, %reason, "authentication failed");
            TargetMetrics::count(&target.metrics.auth_failures);
            throttled(!penalty.delay.is_zero());
            if let Some(a) = &shared.audit {
                a.auth_failed(name, user, &peer.to_string(), &reason);
            }
            let msg = format!("password authentication failed for user \"{user}\"");
            send_fatal(&mut startup.stream, "28P01", &msg).await;
            return None;
        }
    };
    attempt.succeeded();
    throttled(false);
    Some((identity, deadline, token))
}

/// Who signed in, and the token they signed in with (if any).
#[derive(Clone, Copy)]
struct Signed<'a> {
    identity: &'a Identity,
    token: Option<&'a str>,
}

/// The upstream login for the session: its identity's (with the client's token as the password
/// when the identity says so), the target's own, or none and the client is refused (28000):
/// `require_identity` and no identity fits, or the identity wants a token the client did not
/// sign in with.
async fn choose_login(
    startup: &mut Startup,
    peer: SocketAddr,
    target: &PgTarget,
    shared: &PgShared,
    signed: Signed<'_>,
    database: &str,
) -> Option<Credentials> {
    let name = &target.upstream.name;
    let identity = signed.identity;
    let chosen = target.upstream.session_login(
        &identity.user,
        &identity.groups,
        Some(database),
        signed.token,
    );
    match chosen {
        Ok(login) => Some(login),
        Err(e) => {
            let reason = e.to_string();
            tracing::warn!(target = %name, %peer, user = %identity.user, %reason, "login refused");
            TargetMetrics::count(&target.metrics.connections_refused);
            if let Some(a) = &shared.audit {
                a.auth_failed(name, &identity.user, &peer.to_string(), &reason);
            }
            let msg = format!(
                "user \"{}\" has no upstream identity on target \"{name}\" ({})",
                identity.user,
                e.rule()
            );
            send_fatal(&mut startup.stream, "28000", &msg).await;
            None
        }
    }
}

/// Logs in upstream as `login`; on failure the client is told what it may know (the database's
/// own refusal, or 08006 naming the target), and the log and the audit log say why.
async fn connect_upstream(
    startup: &mut Startup,
    peer: SocketAddr,
    target: &PgTarget,
    shared: &PgShared,
    login: &Credentials,
    identity: &Identity,
    database: &str,
) -> Option<upstream::Upstream> {
    let name = &target.upstream.name;
    let connecting = std::time::Instant::now();
    let failed = match upstream::connect_as(&target.upstream, login, &startup.params, database)
        .await
    {
        Ok(u) => {
            target.metrics.upstream_connected(connecting);
            return Some(u);
        }
        Err(UpstreamError::Refused { frame, message }) => {
            tracing::info!(target = %name, %peer, user = %identity.user, upstream_user = %login.user, reason = %message, "database refused the session");
            let _ = startup.stream.write_all(&frame).await;
            let _ = startup.stream.shutdown().await;
            format!("UpstreamRefused({message:?})")
        }
        Err(e) => {
            tracing::error!(target = %name, %peer, upstream_user = %login.user, error = %e, "upstream connection failed");
            TargetMetrics::count(&target.metrics.upstream_failures);
            let why = client_safe(&e);
            let msg = format!("sluice: target \"{name}\" is unavailable: {why}");
            send_fatal(&mut startup.stream, "08006", &msg).await;
            format!("UpstreamUnavailable({why:?})")
        }
    };
    if let Some(a) = &shared.audit {
        let info = crate::recorder::SessionInfo {
            target: name.as_str().into(),
            user: identity.user.as_str().into(),
            groups: identity.groups.as_slice().into(),
            client_addr: peer.to_string().into(),
            tls: startup.tls,
            application_name: startup.param("application_name").map(str::to_string),
            database: Some(database.to_string()),
            upstream_user: Some(login.user.clone()),
        };
        a.upstream_failed(info, &failed);
    }
    None
}

/// What a client may learn about an upstream failure: where it failed, not with which secret.
fn client_safe(e: &UpstreamError) -> String {
    match e {
        UpstreamError::Credentials(_) => {
            "the database rejected sluice's credentials for this target".into()
        }
        other => other.to_string(),
    }
}
