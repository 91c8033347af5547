//! `sluice demo`: the whole product in one command. A throwaway PostgreSQL and a throwaway
//! MariaDB with the same sample data, sluice in front of both with masks, detectors, rules,
//! approvals (a local webhook receiver prints each signed request) and the audit log, and a
//! numbered walkthrough of commands to paste. Ctrl-C removes everything it started.

mod config;
mod receiver;
mod walkthrough;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;
use crate::launcher::certs::TestPki;
use crate::launcher::{MariaDbOptions, MariaDbServer, PgOptions, PgServer};

pub use config::DEMO_USERS;
use walkthrough::Walkthrough;

/// Where the demo listens: sluice's two protocols and its admin API (port 0: any free port).
pub struct Listen<'a> {
    pub pg: &'a str,
    pub mysql: &'a str,
    pub admin: &'a str,
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(listen: Listen<'_>) -> ExitCode {
    match run_inner(listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice demo: {e}");
            ExitCode::from(1)
        }
    }
}

/// The analysts' database role in both throwaway servers: SELECT on the sample data, nothing
/// else (the grants the README's threat model recommends for masked groups).
pub const ANALYST_ROLE: &str = "analyst_ro";

/// Everything the demo starts before sluice: both servers with their sample data and the
/// analysts' role, the webhook receiver, and the config file that puts sluice in front of
/// them. Dropping it removes the servers and the files.
pub struct DemoSetup {
    pub pg: PgServer,
    pub maria: MariaDbServer,
    pub pki: TestPki,
    pub config_path: PathBuf,
    pub config: Config,
    /// Where the webhook receiver listens.
    pub webhook: SocketAddr,
    /// Holds the config and password files; last, so the servers stop first.
    pub dir: tempfile::TempDir,
}

/// PostgreSQL grants for the analysts' role: SELECT on the sample tables and their sequences
/// (pg_dump reads both); no CREATE on any
/// schema and no temporary objects for anyone but the owner; the statistics views kept from
/// PUBLIC (the app user, which owns the data, keeps them).
fn pg_analyst_sql(owner: &str, database: &str, password: &str) -> String {
    format!(
        "CREATE ROLE {ANALYST_ROLE} LOGIN PASSWORD '{password}';\n\
         GRANT USAGE ON SCHEMA public TO {ANALYST_ROLE};\n\
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ANALYST_ROLE};\n\
         GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {ANALYST_ROLE};\n\
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;\n\
         REVOKE TEMPORARY ON DATABASE \"{database}\" FROM PUBLIC;\n\
         GRANT TEMPORARY ON DATABASE \"{database}\" TO \"{owner}\";\n\
         DO $$ DECLARE v text; BEGIN\n\
           FOREACH v IN ARRAY ARRAY['pg_stats', 'pg_stats_ext', 'pg_stats_ext_exprs'] LOOP\n\
             IF to_regclass('pg_catalog.' || v) IS NOT NULL THEN\n\
               EXECUTE format('REVOKE SELECT ON pg_catalog.%I FROM PUBLIC', v);\n\
               EXECUTE format('GRANT SELECT ON pg_catalog.%I TO %I', v, '{owner}');\n\
             END IF;\n\
           END LOOP;\n\
         END $$;\n"
    )
}

/// MariaDB grants for the analysts' role: SELECT on the sample database only (no CREATE, no
/// FILE, PROCESS or SUPER, nothing in `mysql.*`, so no `mysql.column_stats`).
fn mariadb_analyst_sql(database: &str, password: &str) -> String {
    format!(
        "CREATE USER '{ANALYST_ROLE}'@'127.0.0.1' IDENTIFIED BY '{password}';\n\
         GRANT SELECT ON `{database}`.* TO '{ANALYST_ROLE}'@'127.0.0.1';\n"
    )
}

/// Starts both servers with the sample data, the demo's support tickets (free text for the
/// detectors) and the analysts' role.
async fn start_servers(analyst_pw: String) -> Result<(PgServer, MariaDbServer), String> {
    let pg_pw = analyst_pw.clone();
    let pg = tokio::task::spawn_blocking(move || -> anyhow::Result<PgServer> {
        let pg = PgServer::start(PgOptions::default())?;
        pg.load_sample_schema()?;
        let owner = crate::launcher::quote_ident(&pg.opts.user);
        let tickets = format!("SET ROLE {owner};\n{}", include_str!("tickets_pg.sql"));
        pg.psql_superuser(&pg.opts.database, &tickets)?;
        let sql = pg_analyst_sql(&pg.opts.user, &pg.opts.database, &pg_pw);
        pg.psql_superuser(&pg.opts.database, &sql)?;
        Ok(pg)
    });
    let maria = tokio::task::spawn_blocking(move || -> anyhow::Result<MariaDbServer> {
        let db = MariaDbServer::start(MariaDbOptions::default())?;
        db.load_sample_schema()?;
        let database = db.opts.database.clone();
        db.sql_root(Some(&database), include_str!("tickets_mariadb.sql"))?;
        db.sql_root(None, &mariadb_analyst_sql(&database, &analyst_pw))?;
        Ok(db)
    });
    let (pg, maria) = tokio::join!(pg, maria);
    let pg = pg
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("PostgreSQL: {e:#}"))?;
    let maria = maria
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("MariaDB: {e:#}"))?;
    Ok((pg, maria))
}

/// `addr` with a concrete port: port 0 is replaced by a free one, because approvers' links and
/// `sluice approvals -c` read the admin address from the config file.
fn concrete_addr(addr: &str) -> Result<String, String> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an address: {e}"))?;
    if parsed.port() != 0 {
        return Ok(addr.to_string());
    }
    let probe = std::net::TcpListener::bind(parsed).map_err(|e| format!("{addr}: {e}"))?;
    probe
        .local_addr()
        .map(|a| a.to_string())
        .map_err(|e| e.to_string())
}

/// 16 random bytes, hex.
fn fresh_secret() -> String {
    let mut secret = [0u8; 16];
    crate::auth::scram::fill_random(&mut secret);
    hex::encode(secret)
}

/// The running `sluice` binary, for the commands the demo prints.
fn sluice_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sluice"))
}

/// Starts the servers and the webhook receiver, and writes the config.
pub async fn prepare(listen: Listen<'_>) -> Result<DemoSetup, String> {
    let analyst_pw = fresh_secret();
    let (pg, maria) = start_servers(analyst_pw.clone()).await?;
    let dir = tempfile::Builder::new()
        .prefix("sluice-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let pki = TestPki::generate(&dir.path().join("certs"), &["localhost", "127.0.0.1"])
        .map_err(|e| format!("{e:#}"))?;
    let webhook_secret = fresh_secret();
    for (file, secret) in [
        ("upstream.pw", &pg.opts.password),
        ("mariadb.pw", &maria.opts.password),
        ("analyst.pw", &analyst_pw),
        ("audit.key", &fresh_secret()),
        ("webhook.secret", &webhook_secret),
    ] {
        std::fs::write(dir.path().join(file), secret).map_err(|e| e.to_string())?;
    }
    let config_path = dir.path().join("sluice.toml");
    let webhook = start_receiver(&config_path, webhook_secret).await?;
    let admin_listen = concrete_addr(listen.admin)?;
    let text = config::text(&config::Places {
        listen: listen.pg,
        mysql_listen: listen.mysql,
        admin_listen: &admin_listen,
        webhook_url: &format!("http://{webhook}{}", receiver::HOOK_PATH),
        pg: (&pg.addr(), &pg.opts.database, &pg.opts.user),
        maria: (&maria.addr(), &maria.opts.database, &maria.opts.user),
        cert: &pki.server_cert,
        key: &pki.server_key,
    });
    // The hash mask's key: fresh for every demo (set before any session can read it).
    std::env::set_var("SLUICE_DEMO_MASK_KEY", fresh_secret());
    std::fs::write(&config_path, text).map_err(|e| e.to_string())?;
    let config = Config::load(&config_path).map_err(|e| e.to_string())?;
    Ok(DemoSetup {
        pg,
        maria,
        pki,
        config_path,
        config,
        webhook,
        dir,
    })
}

/// The webhook receiver, printing the commands that decide each request it gets.
async fn start_receiver(config_path: &Path, secret: String) -> Result<SocketAddr, String> {
    let commands = Walkthrough {
        sluice_exe: &sluice_exe(),
        config: config_path,
        pg: ([0, 0, 0, 0], 0).into(),
        pg_db: "",
        mysql: ([0, 0, 0, 0], 0).into(),
        mysql_db: "",
        admin: ([0, 0, 0, 0], 0).into(),
        ca: Path::new(""),
    };
    receiver::start(
        "127.0.0.1:0",
        receiver::Receiver {
            secret: secret.into_bytes(),
            approve_command: commands.decide_command("approve"),
            deny_command: commands.decide_command("deny --reason 'not today'"),
        },
    )
    .await
}

async fn run_inner(listen: Listen<'_>) -> Result<(), String> {
    eprintln!("sluice demo: starting a throwaway PostgreSQL and MariaDB…");
    let (pg_listen, mysql_listen) = (listen.pg.to_string(), listen.mysql.to_string());
    let setup = prepare(listen).await?;
    let server = crate::server::start(&setup.config).await.map_err(|e| {
        format!("{e}\n(another program may use {pg_listen} or {mysql_listen}: try `sluice demo --listen 127.0.0.1:0 --mysql-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0`)")
    })?;
    let pg = server
        .addr("demo-pg")
        .ok_or("the demo PostgreSQL target did not start")?;
    let mysql = server
        .addr("demo-mysql")
        .ok_or("the demo MySQL target did not start")?;
    println!("{}", banner(&setup, pg, mysql, server.admin_addr()));
    crate::server::stop_signal().await;
    eprintln!("\nsluice demo: stopping…");
    server.shutdown().await;
    drop(setup);
    eprintln!("sluice demo: removed the throwaway servers and files.");
    Ok(())
}

/// What the demo prints once sluice runs: where everything is, who the users are, the
/// walkthrough.
fn banner(setup: &DemoSetup, pg: SocketAddr, mysql: SocketAddr, admin: SocketAddr) -> String {
    let walkthrough = Walkthrough {
        sluice_exe: &sluice_exe(),
        config: &setup.config_path,
        pg,
        pg_db: &setup.pg.opts.database,
        mysql,
        mysql_db: &setup.maria.opts.database,
        admin,
        ca: &setup.pki.ca_cert,
    };
    format!(
        "\nsluice demo is running.\n\
         \x20 PostgreSQL (throwaway): {} as {}, data under {}\n\
         \x20 MariaDB (throwaway):    {} as {}, data under {}\n\
         \x20 sluice:                 {pg} (PostgreSQL), {mysql} (MySQL), admin http://{admin}\n\
         \x20 config:                 {}\n\
         \x20 webhook receiver:       http://{}\n\n\
         Users (the password is the name):\n\
         \x20 alice  analysts: masked values; reaches the databases as {ANALYST_ROLE}, which may only SELECT\n\
         \x20 bob    developers: masked values; may write, under the rules\n\
         \x20 dora   dba: clear values; approves held statements\n{}\n\
         Admin API: http://{admin}/metrics, /healthz, /readyz. What each identity may do:\n\
         \x20 SLUICE_DEMO_MASK_KEY=any {} check --config {} --live\n\n\
         Press Ctrl-C to stop; everything the demo started is removed.",
        setup.pg.addr(),
        setup.pg.opts.user,
        setup.pg.socket_dir().display(),
        setup.maria.addr(),
        setup.maria.opts.user,
        setup
            .maria
            .socket_path()
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        setup.config_path.display(),
        setup.webhook,
        walkthrough.text(),
        sluice_exe().display(),
        setup.config_path.display(),
    )
}
