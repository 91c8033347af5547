//! What `sluice demo` prints once everything runs: one numbered step per product feature, each
//! a command to paste. Lines that start with `  $ ` are commands; the demo's end-to-end test runs
//! exactly those lines and checks what they print, so the walkthrough cannot rot.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// Where everything the walkthrough names is.
pub struct Walkthrough<'a> {
    pub sluice_exe: &'a Path,
    pub config: &'a Path,
    pub pg: SocketAddr,
    pub pg_db: &'a str,
    pub mysql: SocketAddr,
    pub mysql_db: &'a str,
    pub admin: SocketAddr,
    pub ca: &'a Path,
}

impl Walkthrough<'_> {
    fn psql(&self, user: &str, sql: &str) -> String {
        format!(
            "psql \"postgresql://{user}:{user}@{}:{}/{}\" -c \"{sql}\"",
            self.pg.ip(),
            self.pg.port(),
            self.pg_db
        )
    }

    fn mariadb(&self, user: &str, sql: &str) -> String {
        format!(
            "mariadb --no-defaults -h{} -P{} -u{user} -p{user} {} -e \"{sql}\"",
            self.mysql.ip(),
            self.mysql.port(),
            self.mysql_db
        )
    }

    fn sluice(&self, args: &str) -> String {
        format!(
            "{} {args} -c {}",
            self.sluice_exe.display(),
            self.config.display()
        )
    }

    /// The command that approves (or denies) request `<id>` as dora, without the id.
    pub fn decide_command(&self, verb: &str) -> String {
        format!(
            "SLUICE_PASSWORD=dora {} approvals -c {} -u dora {verb}",
            self.sluice_exe.display(),
            self.config.display()
        )
    }

    /// The whole text.
    pub fn text(&self) -> String {
        const PII: &str = "SELECT name, ssn, email, card_number, birth_date FROM customers LIMIT 3";
        let mut out = String::new();
        let mut step = |title: &str, commands: &[String], after: &str| {
            let _ = writeln!(out, "\n{title}");
            for command in commands {
                let _ = writeln!(out, "  $ {command}");
            }
            if !after.is_empty() {
                let _ = writeln!(out, "{after}");
            }
        };
        step(
            "1. Masking: the same query as alice (analysts, masked) and as dora (dba, clear):",
            &[
                self.psql("alice", PII),
                self.psql("dora", PII),
                self.mariadb("alice", PII),
            ],
            "",
        );
        step(
            "2. Detectors: card numbers, emails and SSNs typed into free text are redacted too:",
            &[self.psql("alice", "SELECT id, body FROM support_tickets ORDER BY id")],
            "",
        );
        step(
            "3. Rules: a DROP is refused before it reaches the database, whoever sends it:",
            &[
                self.psql("bob", "DROP TABLE orders"),
                self.mariadb("dora", "DROP TABLE orders"),
            ],
            "",
        );
        step(
            "4. Approvals: a DELETE of a whole table waits for a DBA. Run it, and watch this terminal:\n   \
             the webhook receiver prints the signed request and the command that approves it.",
            &[self.psql("bob", "DELETE FROM support_tickets")],
            &format!(
                "   Pending requests: {}\n   The approval page: http://{}/approvals (sign in as dora / dora)",
                self.decide_command("list"),
                self.admin
            ),
        );
        step(
            "5. Audit: every session above is in a tamper-evident log, recorded as its user saw it:",
            &[
                self.sluice("audit sessions"),
                format!("{} <a session id from the list>", self.sluice("audit replay")),
                self.sluice("audit verify"),
            ],
            "",
        );
        let _ = write!(
            out,
            "\nOver TLS (verify-full against the demo's own CA):\n  \
             psql \"host=localhost port={} dbname={} user=dora password=dora sslmode=verify-full sslrootcert={}\"\n  \
             mariadb --no-defaults -hlocalhost --protocol=tcp -P{} -udora -pdora --ssl --ssl-ca={} --ssl-verify-server-cert {}\n",
            self.pg.port(),
            self.pg_db,
            self.ca.display(),
            self.mysql.port(),
            self.ca.display(),
            self.mysql_db
        );
        out
    }
}
