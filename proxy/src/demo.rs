//! `sluice demo`: a throwaway PostgreSQL and a throwaway MariaDB with the same sample customer
//! data, sluice in front of both, and the `psql` / `mariadb` lines to try. Ctrl-C removes
//! everything it started.

use std::process::ExitCode;

use crate::config::Config;
use crate::launcher::certs::TestPki;
use crate::launcher::{MariaDbOptions, MariaDbServer, PgOptions, PgServer};

/// The demo's sluice users: (name, password, groups).
const DEMO_USERS: [(&str, &str, &str); 2] =
    [("alice", "alice", "analysts"), ("dora", "dora", "dba")];

/// The sample PII, masked for everyone but the dba group (dora).
const DEMO_MASKS: &str = r#"
[[masks]]
columns = ["*.customers.ssn"]
function = "partial"
keep_last = 4
except_groups = ["dba"]

[[masks]]
columns = ["*.customers.email"]
function = "email"
except_groups = ["dba"]

[[masks]]
columns = ["*.customers.card_number"]
function = "hash"
key_env = "SLUICE_DEMO_MASK_KEY"
except_groups = ["dba"]

[[masks]]
columns = ["*.employees.salary"]
function = "null"
except_groups = ["dba"]

[[masks]]
columns = ["*.customers.birth_date"]
function = "generalize"
except_groups = ["dba"]
"#;

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(listen: &str, mysql_listen: &str) -> ExitCode {
    match run_inner(listen, mysql_listen).await {
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
/// analysts' role, and the config file that puts sluice in front of them. Dropping it removes
/// the servers and the files.
pub struct DemoSetup {
    pub pg: PgServer,
    pub maria: MariaDbServer,
    pub pki: TestPki,
    pub config_path: std::path::PathBuf,
    pub config: Config,
    /// Holds the config and password files; last, so the servers stop first.
    pub dir: tempfile::TempDir,
}

/// PostgreSQL grants for the analysts' role: SELECT on the sample tables; no CREATE on any
/// schema and no temporary objects for anyone but the owner; the statistics views kept from
/// PUBLIC (the app user, which owns the data, keeps them).
fn pg_analyst_sql(owner: &str, database: &str, password: &str) -> String {
    format!(
        "CREATE ROLE {ANALYST_ROLE} LOGIN PASSWORD '{password}';\n\
         GRANT USAGE ON SCHEMA public TO {ANALYST_ROLE};\n\
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ANALYST_ROLE};\n\
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

/// Starts both servers with the sample data and the analysts' role.
async fn start_servers(analyst_pw: String) -> Result<(PgServer, MariaDbServer), String> {
    let pg_pw = analyst_pw.clone();
    let pg = tokio::task::spawn_blocking(move || -> anyhow::Result<PgServer> {
        let pg = PgServer::start(PgOptions::default())?;
        pg.load_sample_schema()?;
        let sql = pg_analyst_sql(&pg.opts.user, &pg.opts.database, &pg_pw);
        pg.psql_superuser(&pg.opts.database, &sql)?;
        Ok(pg)
    });
    let maria = tokio::task::spawn_blocking(move || -> anyhow::Result<MariaDbServer> {
        let db = MariaDbServer::start(MariaDbOptions::default())?;
        db.load_sample_schema()?;
        db.sql_root(None, &mariadb_analyst_sql(&db.opts.database, &analyst_pw))?;
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

/// `[[targets.identities]]` of a demo target: analysts log in as the read-only role.
fn analysts_identity() -> String {
    format!(
        "\n[[targets.identities]]\ngroups = [\"analysts\"]\nuser = \"{ANALYST_ROLE}\"\npassword_file = \"analyst.pw\"\n"
    )
}

/// Starts the servers and writes the config (targets on `listen` and `mysql_listen`).
pub async fn prepare(listen: &str, mysql_listen: &str) -> Result<DemoSetup, String> {
    let mut secret = [0u8; 16];
    crate::auth::scram::fill_random(&mut secret);
    let analyst_pw = hex::encode(secret);
    let (pg, maria) = start_servers(analyst_pw.clone()).await?;
    let dir = tempfile::Builder::new()
        .prefix("sluice-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let pki = TestPki::generate(&dir.path().join("certs"), &["localhost", "127.0.0.1"])
        .map_err(|e| format!("{e:#}"))?;
    for (file, password) in [
        ("upstream.pw", &pg.opts.password),
        ("mariadb.pw", &maria.opts.password),
        ("analyst.pw", &analyst_pw),
    ] {
        std::fs::write(dir.path().join(file), password).map_err(|e| e.to_string())?;
    }
    let mut text = format!(
        "# Written by `sluice demo`; removed when the demo stops.\n[server]\nadmin_listen = \"127.0.0.1:0\"\n\n[server.tls]\ncert_file = {:?}\nkey_file = {:?}\nrequire = false\n\n",
        pki.server_cert, pki.server_key
    );
    for (name, password, group) in DEMO_USERS {
        text += &format!(
            "[[users]]\nname = \"{name}\"\npassword_hash = \"{}\"\ngroups = [\"{group}\"]\n\n",
            crate::auth::hash_password(password)
        );
    }
    text += &format!(
        "[[targets]]\nname = \"demo-pg\"\nprotocol = \"postgres\"\nlisten = \"{listen}\"\nupstream = \"{}\"\ndatabase = \"{}\"\nuser = \"{}\"\npassword_file = \"upstream.pw\"\nupstream_tls = \"disable\"\n{}",
        pg.addr(),
        pg.opts.database,
        pg.opts.user,
        analysts_identity()
    );
    text += &format!(
        "\n[[targets]]\nname = \"demo-mysql\"\nprotocol = \"mysql\"\nlisten = \"{mysql_listen}\"\nupstream = \"{}\"\ndatabase = \"{}\"\nuser = \"{}\"\npassword_file = \"mariadb.pw\"\nupstream_tls = \"disable\"\n{}",
        maria.addr(),
        maria.opts.database,
        maria.opts.user,
        analysts_identity()
    );
    text += DEMO_MASKS;
    // The hash mask's key: fresh for every demo (set before any session can read it).
    let mut key = [0u8; 16];
    crate::auth::scram::fill_random(&mut key);
    std::env::set_var("SLUICE_DEMO_MASK_KEY", hex::encode(key));
    let config_path = dir.path().join("sluice.toml");
    std::fs::write(&config_path, text).map_err(|e| e.to_string())?;
    let config = Config::load(&config_path)?;
    Ok(DemoSetup {
        pg,
        maria,
        pki,
        config_path,
        config,
        dir,
    })
}

async fn run_inner(listen: &str, mysql_listen: &str) -> Result<(), String> {
    eprintln!("sluice demo: starting a throwaway PostgreSQL and MariaDB…");
    let setup = prepare(listen, mysql_listen).await?;
    let DemoSetup {
        pg,
        maria,
        pki,
        config_path,
        config,
        dir,
    } = setup;
    let server = crate::server::start(&config).await.map_err(|e| {
        format!("{e}\n(another program may use {listen} or {mysql_listen}: try `sluice demo --listen 127.0.0.1:0 --mysql-listen 127.0.0.1:0`)")
    })?;
    let addr = server
        .addr("demo-pg")
        .ok_or("the demo target did not start")?;
    let my_addr = server
        .addr("demo-mysql")
        .ok_or("the demo MySQL target did not start")?;
    let (host, port) = (addr.ip(), addr.port());
    let db = &pg.opts.database;
    let shop = &maria.opts.database;
    let ca = pki.ca_cert.display();
    let admin = server.admin_addr();
    println!(
        "\nsluice demo is running.\n\
         \x20 PostgreSQL (throwaway): {} as {}, data under {}\n\
         \x20 MariaDB (throwaway):    {} as {}, data under {}\n\
         \x20 sluice:                 {addr} (PostgreSQL), {my_addr} (MySQL), config {}\n\n\
         Connect through sluice (passwords: alice/alice, dora/dora):\n\
         \x20 psql \"postgresql://alice:alice@{host}:{port}/{db}\"\n\
         \x20 psql \"host=localhost port={port} dbname={db} user=dora password=dora sslmode=verify-full sslrootcert={ca}\"\n\
         \x20 mariadb --no-defaults -h{} -P{} -ualice -palice {shop}\n\
         \x20 mariadb --no-defaults -hlocalhost --protocol=tcp -P{} -udora -pdora --ssl --ssl-ca={ca} --ssl-verify-server-cert {shop}\n\n\
         Then try (alice sees ssn, email, card_number, birth_date and salary masked; dora sees them clear):\n\
         \x20 SELECT name, email, ssn, card_number, birth_date FROM customers LIMIT 5;\n\
         \x20 SELECT upper(ssn), row_to_json(c) FROM customers c LIMIT 2;\n\
         \x20 SELECT c.name, sum(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY 1 ORDER BY 2 DESC LIMIT 3;\n\n\
         alice (group analysts) reaches both databases as {ANALYST_ROLE}, a role that may only SELECT\n\
         (no CREATE, no statistics views); dora as {}. Try as alice: SELECT current_user; CREATE TABLE t (n int);\n\
         What each identity may do: SLUICE_DEMO_MASK_KEY=any sluice check --config {} --live\n\n\
         Admin API: http://{admin}/metrics, /healthz, /readyz\n\n\
         Press Ctrl-C to stop; everything the demo started is removed.",
        pg.addr(),
        pg.opts.user,
        pg.socket_dir().display(),
        maria.addr(),
        maria.opts.user,
        maria.socket_path().parent().map(|p| p.display().to_string()).unwrap_or_default(),
        config_path.display(),
        my_addr.ip(),
        my_addr.port(),
        my_addr.port(),
        pg.opts.user,
        config_path.display(),
    );
    crate::server::stop_signal().await;
    eprintln!("\nsluice demo: stopping…");
    server.shutdown().await;
    drop(pg);
    drop(maria);
    drop(dir);
    eprintln!("sluice demo: removed the throwaway servers and files.");
    Ok(())
}
