//! PostgreSQL's regression suite (`src/test/regress` of PostgreSQL 15) through sluice. Each file
//! runs with `psql -X -a -q` on its standard input, with the environment `pg_regress` gives it
//! (time zone, date style, the source and build directories), in the order of
//! `parallel_schedule`, one file at a time, on a fresh cluster per side: twice directly (to find
//! the files that are not deterministic) and once through sluice.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{judge, normalise, save, FidelityProxy, FileOutcome, ProxySpec, Report};
use crate::{PgOptions, PgServer};

/// The database the files run in, as `pg_regress` names it (some files print it).
const DATABASE: &str = "regression";
const USER: &str = "app";
const PASSWORD: &str = "app-secret";

/// What to run.
pub struct Plan {
    /// A directory holding `sql/`, `data/` and `parallel_schedule` (or a regress directory).
    pub src: PathBuf,
    /// File names without `.sql`, in order.
    pub tests: Vec<String>,
    /// Run directly twice and exclude the files whose two direct runs differ.
    pub determinism: bool,
    /// Where to keep every output (for a user to diff), if anywhere.
    pub out: Option<PathBuf>,
    /// Seconds one file may take before it counts as hung.
    pub timeout_secs: u32,
    /// Where `regress.so` (the suite's C test functions) is, if it could be built: see
    /// [`build_regress_lib`]. Without it those functions fail to be created, on both sides.
    pub libdir: Option<PathBuf>,
}

/// Builds the suite's `regress.so` from `<src>/regress.c` into `dir` with `cc` and the server
/// headers `pg_config --includedir-server` names (Debian: postgresql-server-dev-15). `None`
/// when there is no `regress.c`, no headers or no compiler.
pub fn build_regress_lib(src: &Path, dir: &Path) -> Option<PathBuf> {
    let c_file = src.join("regress.c");
    if !c_file.is_file() {
        return None;
    }
    let pg_config = std::env::var_os("SLUICE_PG_BINDIR")
        .map(|d| PathBuf::from(d).join("pg_config"))
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin/pg_config"));
    let include = Command::new(&pg_config)
        .arg("--includedir-server")
        .output()
        .ok()?;
    let include = String::from_utf8_lossy(&include.stdout).trim().to_string();
    if !Path::new(&include).join("postgres.h").is_file() {
        return None;
    }
    std::fs::create_dir_all(dir).ok()?;
    let built = Command::new("cc")
        .args(["-O1", "-fPIC", "-shared", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(dir.join("regress.so"))
        .arg(&c_file)
        .status()
        .ok()?;
    built.success().then(|| dir.to_path_buf())
}

/// The files of `parallel_schedule`, in order (groups flattened).
pub fn schedule(src: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(src.join("parallel_schedule"))
        .map_err(|e| format!("{}: {e}", src.join("parallel_schedule").display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("test:"))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect())
}

/// Obtains PostgreSQL 15's regression directory into `cache` with apt's own source machinery
/// (a private source list and state directory, so the system's apt setup is untouched and no
/// root is needed): the newest `postgresql-15` source the mirror serves, unpacked for
/// `src/test/regress` only. Returns the regress directory.
pub fn fetch_source(cache: &Path) -> Result<PathBuf, String> {
    if let Some(found) = cached_source(cache) {
        return Ok(found);
    }
    std::fs::create_dir_all(cache).map_err(|e| e.to_string())?;
    let script = include_str!("fetch_pg_source.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("fetch_pg_source")
        .arg(cache)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("bash: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "could not fetch PostgreSQL 15's source: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    cached_source(cache).ok_or_else(|| "the source was fetched but holds no regress suite".into())
}

fn cached_source(cache: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .flatten()
        .map(|e| e.path().join("src/test/regress"))
        .filter(|p| p.join("parallel_schedule").is_file())
        .collect();
    found.sort();
    found.pop()
}

/// One side of a run: a fresh cluster set up as `pg_regress` sets up its database.
struct Side {
    server: PgServer,
    build: tempfile::TempDir,
}

fn start_side() -> Result<Side, String> {
    let server = PgServer::start(PgOptions {
        user: USER.into(),
        password: PASSWORD.into(),
        database: DATABASE.into(),
        ..PgOptions::default()
    })
    .map_err(|e| format!("{e:#}"))?;
    let mut sql = format!("ALTER ROLE {USER} SUPERUSER;\n");
    for (name, value) in [
        ("lc_messages", "C"),
        ("lc_monetary", "C"),
        ("lc_numeric", "C"),
        ("lc_time", "C"),
        ("bytea_output", "hex"),
        ("timezone_abbreviations", "Default"),
    ] {
        sql += &format!("ALTER DATABASE {DATABASE} SET {name} TO '{value}';\n");
    }
    server
        .psql_superuser("postgres", &sql)
        .map_err(|e| format!("{e:#}"))?;
    // COPY … TO a file runs as the server's OS user, into <build>/results.
    let build = tempfile::tempdir().map_err(|e| e.to_string())?;
    let results = build.path().join("results");
    std::fs::create_dir(&results).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    for dir in [build.path(), results.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| e.to_string())?;
    }
    Ok(Side { server, build })
}

/// Runs one file against `port` as `pg_regress` would; returns psql's output (stdout and
/// stderr interleaved as in one file).
fn run_file(plan: &Plan, build: &Path, port: u16, test: &str) -> String {
    let input = match std::fs::File::open(plan.src.join("sql").join(format!("{test}.sql"))) {
        Ok(f) => f,
        Err(e) => return format!("<cannot open {test}.sql: {e}>"),
    };
    let out_path = build.join(format!("{test}.psql.out"));
    let out = match std::fs::File::create(&out_path) {
        Ok(f) => f,
        Err(e) => return format!("<cannot write output: {e}>"),
    };
    let err = out.try_clone();
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", &plan.timeout_secs.to_string(), "psql"])
        .args(["-X", "-a", "-q", "-d", DATABASE])
        .args(["-v", "HIDE_TABLEAM=on", "-v", "HIDE_TOAST_COMPRESSION=on"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LC_MESSAGES", "C")
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", port.to_string())
        .env("PGUSER", USER)
        .env("PGPASSWORD", PASSWORD)
        .env("PGAPPNAME", "pg_regress")
        .env("PGTZ", "America/Los_Angeles")
        .env("PGDATESTYLE", "Postgres, MDY")
        .env("PG_ABS_SRCDIR", &plan.src)
        .env("PG_ABS_BUILDDIR", build)
        .env("PG_LIBDIR", plan.libdir.as_deref().unwrap_or(&plan.src))
        .env("PG_DLSUFFIX", ".so")
        .current_dir(build)
        .stdin(input)
        .stdout(out);
    if let Ok(err) = err {
        cmd.stderr(err);
    }
    let status = cmd.status();
    let text = String::from_utf8_lossy(&std::fs::read(&out_path).unwrap_or_default()).into_owned();
    let _ = std::fs::remove_file(&out_path);
    match status {
        Ok(s) if s.code() == Some(124) => {
            format!("{text}\n<timed out after {} s>", plan.timeout_secs)
        }
        Ok(_) => text,
        Err(e) => format!("<psql did not run: {e}>"),
    }
}

/// Runs every file of the plan on one side; returns the outputs with that side's ports and
/// directories normalised.
fn run_side(plan: &Plan, side: &Side, port: u16, name: &str) -> Vec<String> {
    let root = side
        .server
        .socket_dir()
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let pairs = vec![
        (port.to_string(), "PORT".to_string()),
        (side.server.port.to_string(), "PORT".to_string()),
        (root, "SERVERDIR".to_string()),
        (
            side.build.path().display().to_string(),
            "BUILDDIR".to_string(),
        ),
    ];
    plan.tests
        .iter()
        .map(|t| {
            let text = normalise(&run_file(plan, side.build.path(), port, t), &pairs);
            save(plan.out.as_deref(), name, t, &text);
            text
        })
        .collect()
}

/// Runs the plan: the direct side(s) and the sluice side at once, each on its own cluster.
pub async fn run(plan: Plan) -> Result<Report, String> {
    let plan = std::sync::Arc::new(plan);
    let proxied_side = tokio::task::spawn_blocking(start_side)
        .await
        .map_err(|e| e.to_string())??;
    let mut proxy = FidelityProxy::start(&ProxySpec {
        protocol: "postgres",
        upstream: proxied_side.server.addr(),
        upstream_user: USER,
        upstream_password: Some(PASSWORD),
        logins: &[(USER, PASSWORD)],
    })
    .await?;
    let sluice_port = proxy.addr.port();
    let mut directs = Vec::new();
    for name in ["direct", "direct-again"]
        .iter()
        .take(if plan.determinism { 2 } else { 1 })
    {
        let plan = plan.clone();
        directs.push(tokio::task::spawn_blocking(move || {
            let side = start_side()?;
            Ok::<_, String>(run_side(&plan, &side, side.server.port, name))
        }));
    }
    let through = {
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || {
            let out = run_side(&plan, &proxied_side, sluice_port, "sluice");
            (out, proxied_side)
        })
    };
    let (proxied, _side) = through.await.map_err(|e| e.to_string())?;
    proxy.shutdown().await;
    let mut direct_runs = Vec::new();
    for d in directs {
        direct_runs.push(d.await.map_err(|e| e.to_string())??);
    }
    let outcomes = plan
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| FileOutcome {
            name: t.clone(),
            verdict: judge(
                &direct_runs[0][i],
                direct_runs.get(1).map(|r| r[i].as_str()),
                &proxied[i],
                false,
            ),
        })
        .collect();
    Ok(Report {
        title: "PostgreSQL regression (psql, simple protocol)".into(),
        outcomes,
    })
}
