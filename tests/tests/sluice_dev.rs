//! `./sluice-dev`, the README's set-up commands: its detection names the Debian package of each
//! missing program and finds nothing missing when every program is there; it stops with one line
//! naming the package when it cannot install; and with nothing missing it runs exactly the
//! README's cargo commands. Everything runs against stub programs in a temp dir
//! (`SLUICE_DEV_PATH` replaces the search path, `SLUICE_DEV_PG_ROOT` /usr/lib/postgresql), with
//! a fake `apt-get` and `sudo` that fail: nothing is installed and root is not needed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use tempfile::TempDir;

/// Each program the script looks for and the Debian package that provides it.
const PROGRAMS: &[(&str, &str)] = &[
    ("psql", "postgresql-client"),
    ("pgbench", "postgresql"),
    ("sysbench", "sysbench"),
    ("mariadbd", "mariadb-server"),
    ("mariadb-install-db", "mariadb-server"),
    ("mariadb", "mariadb-client"),
    ("mariadb-admin", "mariadb-client"),
    ("mariadb-test", "mariadb-test"),
    ("chromedriver", "chromium-driver"),
    ("chromium", "chromium"),
    ("haproxy", "haproxy"),
    ("runuser", "util-linux"),
    ("setsid", "util-linux"),
    ("mount", "mount"),
    ("cc", "gcc"),
    ("c++", "g++"),
    ("node", "nodejs"),
    ("npm", "npm"),
    ("java", "default-jdk-headless"),
    ("javac", "default-jdk-headless"),
    ("timeout", "coreutils"),
];
/// The JDBC drivers of the driver matrix: files of `$SLUICE_JAVA_DIR`, not programs.
const JARS: &[(&str, &str)] = &[
    ("postgresql.jar", "libpostgresql-jdbc-java"),
    ("mariadb-java-client.jar", "libmariadb-java"),
];
/// The PostgreSQL server programs, found in /usr/lib/postgresql/<version>/bin on Debian.
const PG_SERVER: &[&str] = &["initdb", "pg_ctl", "postgres"];

/// Stubs are written and then executed; a child forked by another test between the two could
/// hold the file open for writing (ETXTBSY), so the tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sluice-dev")
}

fn write_stub(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A machine made of stubs: `bin/` is the search path, `pg/<version>/bin` the PostgreSQL
/// server binaries, `fake/` goes first on the script's own PATH with an `apt-get` and a `sudo`
/// that fail (and record that they ran).
struct Machine {
    dir: TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Machine {
    /// Every prerequisite present, PostgreSQL 15's server binaries in the versioned bindir.
    fn complete() -> Machine {
        let m = Machine {
            dir: tempfile::tempdir().unwrap(),
        };
        for (program, _) in PROGRAMS {
            write_stub(&m.bin().join(program), "exit 0");
        }
        for program in PG_SERVER {
            write_stub(&m.path(&format!("pg/15/bin/{program}")), "exit 0");
        }
        // python3 imports whatever it is asked to (ensurepip, for venvs).
        write_stub(&m.bin().join("python3"), "exit 0");
        for (jar, _) in JARS {
            std::fs::create_dir_all(m.path("java")).unwrap();
            std::fs::write(m.path(&format!("java/{jar}")), "").unwrap();
        }
        // The driver-matrix clients are installed: their stamp is current.
        let drivers = Path::new(env!("CARGO_MANIFEST_DIR")).join("drivers");
        let stamp = format!(
            "{}{}",
            std::fs::read_to_string(drivers.join("requirements.txt")).unwrap(),
            std::fs::read_to_string(drivers.join("package.json")).unwrap()
        );
        std::fs::create_dir_all(m.path("drivers")).unwrap();
        std::fs::write(m.path("drivers/stamp"), stamp.trim_end_matches('\n')).unwrap();
        write_stub(
            &m.bin().join("cargo"),
            r#"printf '%s\n' "$*" >> "$SLUICE_DEV_TEST_LOG"; exit 0"#,
        );
        for fake in ["apt-get", "sudo"] {
            write_stub(
                &m.path(&format!("fake/{fake}")),
                &format!(r#"echo "{fake} $*" >> "$SLUICE_DEV_TEST_INSTALL"; exit 100"#),
            );
        }
        m
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn bin(&self) -> PathBuf {
        self.path("bin")
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    fn run(&self, args: &[&str], env: &[(&str, &Path)]) -> Run {
        let path = format!(
            "{}:{}",
            self.path("fake").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .args(args)
            .env("PATH", path)
            .env("SLUICE_DEV_PATH", self.bin())
            .env("SLUICE_DEV_PG_ROOT", self.path("pg"))
            .env("SLUICE_DEV_TEST_LOG", self.path("cargo.log"))
            .env("SLUICE_DEV_TEST_INSTALL", self.path("install.log"))
            .env("SLUICE_JAVA_DIR", self.path("java"))
            .env("SLUICE_DRIVERS_DIR", self.path("drivers"))
            .env_remove("SLUICE_PG_BINDIR")
            .env_remove("SLUICE_MARIADB_BINDIR")
            .stdin(Stdio::null());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = cmd.output().expect("bash runs ./sluice-dev");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn deps(&self, mode: &str) -> Run {
        self.run(&["deps", mode], &[])
    }

    /// What the stub cargo was run with, one line per run.
    fn cargo_runs(&self) -> String {
        std::fs::read_to_string(self.path("cargo.log")).unwrap_or_default()
    }

    /// What the fake apt-get and sudo were run with.
    fn install_attempts(&self) -> String {
        std::fs::read_to_string(self.path("install.log")).unwrap_or_default()
    }
}

/// The programs reported missing by `deps`, with the package each line names.
fn missing(run: &Run) -> Vec<(String, String)> {
    run.stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("MISSING"))
        .map(|l| {
            let mut words = l.split_whitespace();
            let program = words.next().unwrap_or_default().to_string();
            (program, words.last().unwrap_or_default().to_string())
        })
        .collect()
}

fn assert_nothing_missing(run: &Run, what: &str) {
    assert_eq!(
        run.code, 0,
        "{what}: exit code\n{}{}",
        run.stdout, run.stderr
    );
    assert!(missing(run).is_empty(), "{what}:\n{}", run.stdout);
    assert!(
        run.stdout.contains("nothing missing"),
        "{what}:\n{}",
        run.stdout
    );
}

fn assert_only_missing(run: &Run, program: &str, package: &str) {
    assert_eq!(
        run.code, 1,
        "{program} removed: exit code\n{}{}",
        run.stdout, run.stderr
    );
    let found = missing(run);
    assert_eq!(found.len(), 1, "{program} removed:\n{}", run.stdout);
    assert!(
        found[0].0.split('|').any(|p| p == program) && found[0].1 == package,
        "{program} removed: expected package {package}, got {found:?}\n{}",
        run.stdout
    );
    let summary = run
        .stdout
        .lines()
        .find(|l| l.starts_with("missing:"))
        .unwrap_or_else(|| panic!("{program} removed: no summary line\n{}", run.stdout));
    assert!(
        summary.contains(&format!("apt-get install -y {package}")),
        "{program} removed: the summary must give the install command: {summary}"
    );
}

/// All three PostgreSQL server programs missing, one package named once.
fn assert_pg_server_missing(run: &Run) {
    assert_eq!(run.code, 1, "{}", run.stdout);
    let found = missing(run);
    let names: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, PG_SERVER, "{}", run.stdout);
    assert!(
        found.iter().all(|(_, pkg)| pkg == "postgresql"),
        "{found:?}"
    );
    assert!(
        run.stdout.contains("apt-get install -y postgresql\n"),
        "{}",
        run.stdout
    );
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn with_every_program_present_nothing_is_missing() {
    let _serial = serial();
    let m = Machine::complete();
    for mode in ["test", "demo"] {
        let run = m.deps(mode);
        assert_nothing_missing(&run, mode);
        assert!(run
            .stdout
            .contains(&format!("{}/pg/15/bin/initdb", m.dir.path().display())));
    }
    // `check` is the same command.
    assert_nothing_missing(&m.run(&["check"], &[]), "check");
    assert_eq!(m.install_attempts(), "", "deps installs nothing");
}

#[test]
fn each_missing_program_names_its_debian_package() {
    let _serial = serial();
    for (program, package) in PROGRAMS {
        let m = Machine::complete();
        m.remove(&format!("bin/{program}"));
        assert_only_missing(&m.deps("test"), program, package);
        assert_eq!(m.install_attempts(), "", "deps installs nothing");
    }
    for program in ["pg_ctl", "postgres"] {
        let m = Machine::complete();
        m.remove(&format!("pg/15/bin/{program}"));
        assert_only_missing(&m.deps("test"), program, "postgresql");
    }
    for (jar, package) in JARS {
        let m = Machine::complete();
        m.remove(&format!("java/{jar}"));
        assert_only_missing(&m.deps("test"), jar, package);
    }
    // Without python3 its venv module cannot be there either: both packages are named.
    let m = Machine::complete();
    m.remove("bin/python3");
    let run = m.deps("test");
    assert_eq!(
        missing(&run),
        [
            ("python3".to_string(), "python3".to_string()),
            ("ensurepip".to_string(), "python3-venv".to_string())
        ],
        "{}",
        run.stdout
    );
    // Without initdb the directory is no bindir at all (as for the launcher), so all three are
    // missing, and one package is named once.
    let m = Machine::complete();
    m.remove("pg/15/bin/initdb");
    let run = m.deps("test");
    assert_pg_server_missing(&run);
}

#[test]
fn a_file_that_is_not_executable_does_not_count() {
    let _serial = serial();
    let m = Machine::complete();
    let driver = m.bin().join("chromedriver");
    std::fs::set_permissions(&driver, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_only_missing(&m.deps("test"), "chromedriver", "chromium-driver");
}

#[test]
fn the_demo_does_not_need_what_only_the_tests_use() {
    let _serial = serial();
    let m = Machine::complete();
    for program in [
        "chromedriver",
        "chromium",
        "pgbench",
        "sysbench",
        "mariadb-admin",
        "mount",
    ] {
        m.remove(&format!("bin/{program}"));
    }
    assert_nothing_missing(&m.deps("demo"), "demo without test-only programs");
    let run = m.deps("test");
    assert_eq!(run.code, 1);
    assert_eq!(missing(&run).len(), 6, "{}", run.stdout);
    // …but it does need the servers.
    m.remove("bin/mariadbd");
    assert_only_missing(&m.deps("demo"), "mariadbd", "mariadb-server");
}

#[test]
fn mysql_named_programs_stand_in_for_the_mariadb_ones() {
    let _serial = serial();
    let m = Machine::complete();
    for (mariadb, mysql) in [
        ("mariadbd", "mysqld"),
        ("mariadb-install-db", "mysql_install_db"),
        ("mariadb", "mysql"),
    ] {
        m.remove(&format!("bin/{mariadb}"));
        write_stub(&m.bin().join(mysql), "exit 0");
    }
    assert_nothing_missing(&m.deps("test"), "mysql-named programs");
}

#[test]
fn postgresql_server_programs_come_from_the_newest_versioned_bindir() {
    let _serial = serial();
    // 15 is newer than 9.6 (compared as numbers, not as text): its bindir is the one used, and
    // it lacks pg_ctl, which 9.6's full set does not make up for.
    let m = Machine::complete();
    for program in PG_SERVER {
        write_stub(&m.path(&format!("pg/9.6/bin/{program}")), "exit 0");
    }
    m.remove("pg/15/bin/pg_ctl");
    assert_only_missing(&m.deps("test"), "pg_ctl", "postgresql");
    // A directory without initdb is no bindir: 16/bin here is ignored, and 15 stays in use.
    let m = Machine::complete();
    write_stub(&m.path("pg/16/bin/pg_ctl"), "exit 0");
    m.remove("pg/15/bin/postgres");
    assert_only_missing(&m.deps("test"), "postgres", "postgresql");
    // Server programs on the search path are found when there is no bindir at all.
    let m = Machine::complete();
    for program in PG_SERVER {
        m.remove(&format!("pg/15/bin/{program}"));
        write_stub(&m.bin().join(program), "exit 0");
    }
    assert_nothing_missing(&m.deps("test"), "server programs on the search path");
}

#[test]
fn sluice_pg_bindir_is_honoured_as_the_tests_honour_it() {
    let _serial = serial();
    let m = Machine::complete();
    let empty = m.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = m.run(&["deps"], &[("SLUICE_PG_BINDIR", &empty)]);
    assert_pg_server_missing(&run);

    // Moved out of /usr/lib/postgresql/15/bin: missing, unless SLUICE_PG_BINDIR names their dir.
    let other = m.path("other");
    std::fs::create_dir(&other).unwrap();
    for program in PG_SERVER {
        std::fs::rename(m.path(&format!("pg/15/bin/{program}")), other.join(program)).unwrap();
    }
    assert_eq!(missing(&m.deps("test")).len(), PG_SERVER.len());
    assert_nothing_missing(
        &m.run(&["deps"], &[("SLUICE_PG_BINDIR", &other)]),
        "SLUICE_PG_BINDIR",
    );
}

#[test]
fn when_it_cannot_install_it_stops_with_one_line_naming_the_package() {
    let _serial = serial();
    let m = Machine::complete();
    m.remove("bin/chromedriver");
    // As root the fake apt-get fails (as it would without a network); otherwise the fake sudo
    // refuses (as it would without a password-less sudo). Either way: one line, exit 1, and
    // cargo never runs.
    let run = m.run(&["test"], &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(m.cargo_runs(), "", "cargo must not run: {}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("sluice-dev: ")
            && last.contains("chromium-driver")
            && last.contains("apt-get install -y chromium-driver"),
        "the last line must name the package and the command: {}",
        run.stderr
    );
    let ours: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("sluice-dev: ") && !l.starts_with("sluice-dev: installing "))
        .collect();
    assert_eq!(ours.len(), 1, "one line: {}", run.stderr);
}

/// The fuzz targets, by their files in fuzz/fuzz_targets.
fn fuzz_targets() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    targets.sort();
    targets
}

#[test]
fn with_nothing_missing_it_runs_the_readme_commands_and_installs_nothing() {
    let _serial = serial();
    let m = Machine::complete();
    let seconds = [("SLUICE_FUZZ_SECONDS", Path::new("3"))];
    let run = m.run(&["test", "--no-fail-fast"], &seconds);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let tests = m.cargo_runs();
    let run = m.run(&["demo", "--listen", "127.0.0.1:7000"], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let runs = m.cargo_runs();
    let lines: Vec<&str> = tests.lines().collect();
    let targets = fuzz_targets();
    assert_eq!(targets.len(), 12, "{targets:?}");
    assert_eq!(lines.len(), 3 + targets.len(), "{tests}");
    assert_eq!(lines[0], "test --workspace --locked --no-fail-fast");
    // Then every fuzz target: built once, each run 3 s from its committed corpus.
    assert_eq!(lines[1], "fuzz --help");
    assert_eq!(lines[2], "fuzz build --sanitizer none --codegen-units 16");
    for (line, target) in lines[3..].iter().zip(&targets) {
        let head = format!("fuzz run --sanitizer none --codegen-units 16 {target} ");
        let tail = format!(" corpus/{target} -- -max_total_time=3 -timeout=10 -rss_limit_mb=4096");
        assert!(line.starts_with(&head) && line.ends_with(&tail), "{line}");
    }
    assert_eq!(
        runs.strip_prefix(tests.as_str()),
        Some("run --release -- demo --listen 127.0.0.1:7000\n")
    );
    assert_eq!(m.install_attempts(), "");
}

#[test]
fn a_fuzz_target_that_fails_fails_the_tests_and_says_where_its_input_is() {
    let _serial = serial();
    let m = Machine::complete();
    write_stub(
        &m.bin().join("cargo"),
        r#"printf '%s\n' "$*" >> "$SLUICE_DEV_TEST_LOG"
case "$*" in "fuzz run "*" mask_value "*) exit 77 ;; esac
exit 0"#,
    );
    let run = m.run(&["test"], &[("SLUICE_FUZZ_SECONDS", Path::new("1"))]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("fuzz: mask_value FAILED (a crash, hang or leak); its input is in fuzz/artifacts/mask_value/"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("fuzz: failed: mask_value\n"),
        "{}",
        run.stderr
    );
    // The other targets still ran.
    let runs = m.cargo_runs();
    assert_eq!(
        runs.matches("fuzz run ").count(),
        fuzz_targets().len(),
        "{runs}"
    );
}

#[test]
fn fuzzing_in_the_tests_can_be_turned_off() {
    let _serial = serial();
    let m = Machine::complete();
    let run = m.run(&["test"], &[("SLUICE_FUZZ_SECONDS", Path::new("0"))]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(m.cargo_runs(), "test --workspace --locked\n");
}
