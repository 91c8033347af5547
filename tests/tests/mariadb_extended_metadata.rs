//! MariaDB extended metadata through sluice (issue 24, item 3): node `mysql2`, which asks for
//! `MARIADB_CLIENT_EXTENDED_METADATA` when the greeting offers it, sees the JSON format marker
//! (and the UUID/INET6 type names) through sluice exactly as it does directly, so JSON columns
//! come back as objects; masked columns stay masked, with values valid for what the metadata
//! says they are (a masked JSON column is JSON, a hashed UUID is a UUID).
//!
//! Needs `node` and `npm`; mysql2 is installed once into the test target directory (or taken
//! from `SLUICE_TEST_NODE_MODULES`, a `node_modules` holding it).

use std::path::PathBuf;
use std::process::Command;

use mysql_async::prelude::*;
use serde_json::{json, Value};
use sluice_tests::*;

/// A `node_modules` directory holding mysql2 3.x, installed with npm when missing.
fn node_modules() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLUICE_TEST_NODE_MODULES") {
        return PathBuf::from(dir);
    }
    let prefix = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("node-mysql2");
    let modules = prefix.join("node_modules");
    if !modules.join("mysql2").join("package.json").exists() {
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg("mysql2@3")
            .output()
            .expect("npm runs (node and npm are needed for this test)");
        assert!(
            out.status.success(),
            "npm install mysql2: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    modules
}

/// What mysql2 sees for each query, text and prepared, connected as `user` to `port`.
fn mysql2(port: u16, user: &str, password: &str, database: &str, queries: &[String]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/node/query.js");
    let out = Command::new("node")
        .arg(script)
        .env("NODE_PATH", node_modules())
        .env("SLUICE_PORT", port.to_string())
        .env("SLUICE_USER", user)
        .env("SLUICE_PASSWORD", password)
        .env("SLUICE_DATABASE", database)
        .env("SLUICE_QUERIES", serde_json::to_string(queries).unwrap())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "mysql2 as {user} on port {port}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

fn masks(table: &str) -> String {
    std::env::set_var("SLUICE_TEST_EXT_KEY", "ext-key");
    format!(
        r#"
[[masks]]
columns = ["shop.{table}.email"]
function = "email"
except_groups = ["dba"]

[[masks]]
columns = ["shop.{table}.profile"]
function = "redact"
except_groups = ["dba"]

[[masks]]
columns = ["shop.{table}.uid"]
function = "hash"
key_env = "SLUICE_TEST_EXT_KEY"
except_groups = ["dba"]
"#
    )
}

const UID: &str = "123e4567-e89b-12d3-a456-426614174000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql2_sees_the_json_marker_through_sluice_as_directly_and_masks_hold() {
    let upstream = mariadb_native();
    let table = unique("ext");
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, doc JSON, uid UUID, email VARCHAR(64), profile JSON, addr INET6);
             INSERT INTO {table} VALUES
               (1, '{{\"a\": [1, 2], \"b\": \"x\"}}', '{UID}', 'alice.smith@example.com', '{{\"ssn\": \"123-45-6789\"}}', '2001:db8::1')"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: masks(&table),
            ..ProxyOpts::default()
        },
    )
    .await;
    let plain = format!("SELECT id, doc FROM {table} ORDER BY id");
    let all = format!("SELECT id, doc, uid, email, profile, addr FROM {table} ORDER BY id");
    let queries = [plain, all];
    let o = &upstream.opts;
    let direct = mysql2(upstream.port, &o.user, &o.password, &o.database, &queries);
    let alice = mysql2(proxy.port(), USER, PASSWORD, "shop", &queries);
    let bob = mysql2(proxy.port(), OTHER_USER, OTHER_PASSWORD, "shop", &queries);

    // The server gives the marker directly, so the comparisons below mean something.
    assert_eq!(direct["extendedMetadata"], true, "{direct}");
    let doc_field = &direct["results"][0]["text"]["fields"][1];
    assert_eq!(doc_field["extendedFormat"], "json", "{direct}");
    assert_eq!(
        direct["results"][0]["text"]["rows"][0]["doc"],
        json!({"a": [1, 2], "b": "x"})
    );

    // Through sluice the client negotiates extended metadata too and sees the same.
    assert_eq!(alice["extendedMetadata"], true);
    assert_eq!(
        bob, direct,
        "an exempt user sees exactly what a direct client sees"
    );
    assert_eq!(
        alice["results"][0], direct["results"][0],
        "unmasked JSON comes back as objects, with the same metadata"
    );

    for protocol in ["text", "binary"] {
        let masked = &alice["results"][1][protocol];
        let clear = &direct["results"][1][protocol];
        assert_eq!(
            masked["fields"], clear["fields"],
            "{protocol}: same metadata"
        );
        let (row, clear_row) = (&masked["rows"][0], &clear["rows"][0]);
        assert_eq!(row["doc"], json!({"a": [1, 2], "b": "x"}), "{protocol}");
        assert_eq!(row["addr"], clear_row["addr"], "{protocol}");
        assert_eq!(row["email"], "a***@example.com", "{protocol}");
        // A redacted JSON column is JSON null, which mysql2 parses, not a text it would choke on.
        assert_eq!(row["profile"], Value::Null, "{protocol}: {row}");
        assert_eq!(
            clear_row["profile"],
            json!({"ssn": "123-45-6789"}),
            "{protocol}"
        );
        // A hashed UUID is a UUID, and not the clear one.
        let uid = row["uid"].as_str().unwrap_or_default();
        assert_ne!(uid, UID, "{protocol}");
        let shape: Vec<usize> = uid.split('-').map(str::len).collect();
        assert_eq!(shape, [8, 4, 4, 4, 12], "{protocol}: {uid}");
        assert!(
            !row.to_string().contains("123-45-6789"),
            "{protocol}: {row}"
        );
    }
}
