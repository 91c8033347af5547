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

async fn run_inner(listen: &str, mysql_listen: &str) -> Result<(), String> {
    eprintln!("sluice demo: starting a throwaway PostgreSQL and MariaDB…");
    let pg = tokio::task::spawn_blocking(|| -> anyhow::Result<PgServer> {
        let pg = PgServer::start(PgOptions::default())?;
        pg.load_sample_schema()?;
        Ok(pg)
    });
    let maria = tokio::task::spawn_blocking(|| -> anyhow::Result<MariaDbServer> {
        let db = MariaDbServer::start(MariaDbOptions::default())?;
        db.load_sample_schema()?;
        Ok(db)
    });
    let (pg, maria) = tokio::join!(pg, maria);
    let pg = pg
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("PostgreSQL: {e:#}"))?;
    let maria = maria
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("MariaDB: {e:#}"))?;

    let dir = tempfile::Builder::new()
        .prefix("sluice-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let pki = TestPki::generate(&dir.path().join("certs"), &["localhost", "127.0.0.1"])
        .map_err(|e| format!("{e:#}"))?;
    std::fs::write(dir.path().join("upstream.pw"), &pg.opts.password).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("mariadb.pw"), &maria.opts.password)
        .map_err(|e| e.to_string())?;
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
        "[[targets]]\nname = \"demo-pg\"\nprotocol = \"postgres\"\nlisten = \"{listen}\"\nupstream = \"{}\"\ndatabase = \"{}\"\nuser = \"{}\"\npassword_file = \"upstream.pw\"\nupstream_tls = \"disable\"\n",
        pg.addr(),
        pg.opts.database,
        pg.opts.user
    );
    text += &format!(
        "\n[[targets]]\nname = \"demo-mysql\"\nprotocol = \"mysql\"\nlisten = \"{mysql_listen}\"\nupstream = \"{}\"\ndatabase = \"{}\"\nuser = \"{}\"\npassword_file = \"mariadb.pw\"\nupstream_tls = \"disable\"\n",
        maria.addr(),
        maria.opts.database,
        maria.opts.user
    );
    text += DEMO_MASKS;
    // The hash mask's key: fresh for every demo (set before any session can read it).
    let mut key = [0u8; 16];
    crate::auth::scram::fill_random(&mut key);
    std::env::set_var("SLUICE_DEMO_MASK_KEY", hex::encode(key));
    let config_path = dir.path().join("sluice.toml");
    std::fs::write(&config_path, text).map_err(|e| e.to_string())?;
    let config = Config::load(&config_path)?;
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
