//! The `psql` CLI through sluice: a differential run of a 300-statement corpus (byte-identical
//! to a direct run), and psql's client-side features (`\copy`, `\gset`, multi-statement lines).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sluice_tests::*;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

/// Runs psql with a script; stdout and stderr interleaved in one capture, as a user sees them.
fn run_script(conn: &str, script: &Path, vars: &[&str]) -> (bool, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    // One file description for both streams, so they share an offset and keep their order.
    let file = out.reopen().unwrap();
    let status = Command::new("psql")
        .arg("-X")
        .arg("-a")
        .arg(conn)
        .args(vars)
        .arg("-f")
        .arg(script)
        .env_remove("PGPASSWORD")
        .env_remove("PGOPTIONS")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    (
        status.success(),
        std::fs::read_to_string(out.path()).unwrap(),
    )
}

fn reset_schema(upstream: &PgServer) {
    let out = psql(
        &direct_conn_str(upstream),
        &[
            "-q",
            "-c",
            "DROP SCHEMA IF EXISTS diff CASCADE; CREATE SCHEMA diff;",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_gives_byte_identical_output_direct_and_through_sluice() {
    // A dedicated server: the corpus owns schema `diff` while it runs.
    let upstream = PgServer::start(PgOptions::default()).unwrap();
    let proxy = Proxy::start(
        &upstream,
        ProxyOpts {
            client_tls: Some(false),
            ..ProxyOpts::default()
        },
    )
    .await;
    let script = corpus("differential.sql");
    let vars = ["-v", "ON_ERROR_STOP=0"];

    reset_schema(&upstream);
    let (_, direct) =
        tokio::task::block_in_place(|| run_script(&direct_conn_str(&upstream), &script, &vars));
    // The corpus exercises errors, notices and large values; make sure the run really did.
    assert!(
        direct.contains("ERROR:  division by zero"),
        "corpus did not run as intended"
    );
    assert!(direct.contains("NOTICE:"), "corpus produced no notices");
    assert!(
        direct.len() > 2_000_000,
        "large values missing from the output"
    );

    for (label, extra) in [("plaintext", "sslmode=disable"), ("TLS", "sslmode=require")] {
        reset_schema(&upstream);
        let conn = proxy.conn_str(USER, PASSWORD, extra);
        let (_, proxied) = tokio::task::block_in_place(|| run_script(&conn, &script, &vars));
        if proxied != direct {
            let line = direct
                .lines()
                .zip(proxied.lines())
                .position(|(a, b)| a != b);
            let (d, p) = match line {
                Some(i) => (
                    direct.lines().nth(i).unwrap_or(""),
                    proxied.lines().nth(i).unwrap_or(""),
                ),
                None => ("<length differs>", ""),
            };
            panic!(
                "{label}: output through sluice differs at line {:?}\n direct: {}\n sluice: {}",
                line.map(|i| i + 1),
                &d[..d.len().min(300)],
                &p[..p.len().min(300)]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_copy_gset_and_multi_statement_lines_work_through_sluice() {
    let upstream = PgServer::start(PgOptions::default()).unwrap();
    psql_features_through_sluice(&upstream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_works_through_sluice_to_an_md5_upstream() {
    let upstream = PgServer::start(PgOptions {
        auth: PgAuth::Md5,
        ..PgOptions::default()
    })
    .unwrap();
    assert_eq!(
        upstream_auth_request(&upstream),
        5,
        "the upstream asks for AuthenticationMD5Password"
    );
    psql_features_through_sluice(&upstream).await;
}

/// The authentication request code the upstream answers a startup for its app user with.
fn upstream_auth_request(upstream: &PgServer) -> u32 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(upstream.addr()).unwrap();
    let mut buf = bytes::BytesMut::new();
    postgres_protocol::message::frontend::startup_message(
        [
            ("user", upstream.opts.user.as_str()),
            ("database", upstream.opts.database.as_str()),
        ],
        &mut buf,
    )
    .unwrap();
    s.write_all(&buf).unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[0], b'R', "{head:?}");
    u32::from_be_bytes(head[5..9].try_into().unwrap())
}

/// Runs `psql_features.sql` directly and through sluice (plaintext and TLS to sluice); the
/// outputs must be identical, and the script's own proofs must hold.
async fn psql_features_through_sluice(upstream: &PgServer) {
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            client_tls: Some(false),
            ..ProxyOpts::default()
        },
    )
    .await;
    let script = corpus("psql_features.sql");
    let dir = tempfile::tempdir().unwrap();
    let copyfile = dir.path().join("round trip.csv");
    let copyvar = format!("copyfile={}", copyfile.display());
    let vars = ["-v", "ON_ERROR_STOP=1", "-v", &copyvar];

    // Exactly what a direct session prints.
    reset_schema(upstream);
    let (ok, direct) =
        tokio::task::block_in_place(|| run_script(&direct_conn_str(upstream), &script, &vars));
    assert!(ok);

    for extra in ["sslmode=disable", "sslmode=require"] {
        std::fs::remove_file(&copyfile).ok();
        reset_schema(upstream);
        let conn = proxy.conn_str(USER, PASSWORD, extra);
        let (ok, through) = tokio::task::block_in_place(|| run_script(&conn, &script, &vars));
        assert!(ok, "psql failed through sluice ({extra}):\n{through}");
        assert!(
            through.contains("copied_rows=50 copied_sum=1593.75 copied_labels=40"),
            "{through}"
        );
        let csv = std::fs::read_to_string(&copyfile).unwrap();
        assert_eq!(csv.lines().count(), 51, "\\copy wrote a header and 50 rows");
        let last = through
            .lines()
            .rev()
            .find(|l| l.contains('|'))
            .unwrap_or_default();
        let cells: Vec<&str> = last.split('|').map(str::trim).collect();
        assert_eq!(
            cells,
            ["50", "1593.75", "10", "1", "t"],
            "round-trip proof row"
        );
        assert_eq!(through, direct, "{extra}");
    }
}
