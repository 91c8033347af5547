//! `sluice_node CONFIG`: `sluice serve` as a separate process for the cluster tests
//! (`tests/tests/cluster.rs`), which start, `kill -9` and restart several of them.
//!
//! It runs the same server code as `sluice serve` and prints one line when every listener is
//! bound: `ready admin=ADDR pg=ADDR my=ADDR` (a target that is not configured prints `-`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: sluice_node CONFIG");
        return ExitCode::from(2);
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let config = match sluice::config::Config::load(std::path::Path::new(&path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let server = match sluice::server::start(&config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        };
        let addr = |t: &str| server.addr(t).map_or("-".to_string(), |a| a.to_string());
        println!(
            "ready admin={} pg={} my={}",
            server.admin_addr(),
            addr("pg"),
            addr("my")
        );
        sluice::server::stop_signal().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
