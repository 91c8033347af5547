//! `sluice_instance CONFIG TARGET`: runs sluice from a config file, as `sluice serve` does, and
//! prints `listening <target addr> <admin addr>` once it accepts connections, for tests that
//! need a sluice they can `kill -9` (the audit sinks' crash test).

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(target)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: sluice_instance CONFIG TARGET");
        std::process::exit(2);
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let config = match sluice::config::Config::load(std::path::Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let server = match sluice::server::start(&config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let Some(addr) = server.addr(target) else {
        eprintln!("no target {target:?}");
        std::process::exit(2);
    };
    println!("listening {addr} {}", server.admin_addr());
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
}
