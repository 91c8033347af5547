//! A short run of the network chaos tool (`sluice_tests::chaos`) in CI: mutated, truncated,
//! reordered and slowloris sessions in both protocols, before and after authentication, and
//! clients that vanish mid-result, against one sluice with a PostgreSQL and a MySQL target,
//! while well-behaved clients run statements whose answers are checked. sluice must stay up,
//! every well-behaved statement must be answered right, and its descriptors and memory must
//! come back to where they were. `./sluice-dev chaos SECONDS` runs the long version.
//!
//! sluice runs inside this test process, so the descriptors and memory measured are the
//! process's: the chaos clients' sockets are closed before the end is measured, so they count
//! in the peak only.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use sluice_tests::chaos::{run, ChaosConfig};
use sluice_tests::*;

/// How long the chaos runs: `SLUICE_CHAOS_SECONDS`, default 30.
fn seconds() -> u64 {
    std::env::var("SLUICE_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_survives_network_chaos_and_well_behaved_clients_see_no_error() {
    // Throttling stays on, quick: the chaos fails logins as alice from 127.0.0.1 all the time.
    let login = "[login]\nfailure_delay = \"10ms\"\nmax_failure_delay = \"200ms\"\nhandshake_timeout = \"10s\"\n";
    let opts = ProxyOpts {
        extra_config: login.into(),
        max_connections: 500,
        ..ProxyOpts::default()
    };
    let pg = Proxy::start(pg_scram(), opts.clone()).await;
    let my = Proxy::start_mysql(mariadb_native(), opts).await;
    let config = ChaosConfig {
        pg: Some(pg.addr),
        mysql: Some(my.addr),
        user: USER.into(),
        password: PASSWORD.into(),
        good_user: OTHER_USER.into(),
        good_password: OTHER_PASSWORD.into(),
        good_from: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
        duration: Duration::from_secs(seconds()),
        workers: 12,
        seed: std::env::var("SLUICE_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(27),
        pid: std::process::id(),
    };
    let report = run(config).await;
    println!("{report}");
    assert!(report.good_errors.is_empty(), "{report}");
    assert!(
        report.good_statements > 100,
        "too few statements ran: {report}"
    );
    let total: u64 = report.scenarios.values().sum();
    assert!(total >= 50, "too few chaos sessions: {report}");
    assert!(
        report.scenarios.len() >= 12,
        "not every kind of chaos ran: {report}"
    );
    assert!(
        report.after.fds <= report.before.fds,
        "descriptors did not come back: {report}"
    );
    // The allocator keeps some of what the peak took; a leak per session would be far more.
    assert!(
        report.after.rss_kib <= report.before.rss_kib + 64 * 1024,
        "memory did not come back: {report}"
    );
    // Still serving, in both protocols.
    let rows = pg.connect().await.simple_query("SELECT 1").await.unwrap();
    assert!(!rows.is_empty());
    let mut conn = my.mysql().await;
    let one: Option<i64> = mysql_async::prelude::Queryable::query_first(&mut conn, "SELECT 1")
        .await
        .unwrap();
    assert_eq!(one, Some(1));
}
