//! The demo's config file: the example config's product features, cut down to the sample data
//! (masks, detectors, rules, approvals with a local webhook receiver, and the audit log).

use super::ANALYST_ROLE;

/// The demo's sluice users: (name, password, groups). Passwords are the names.
pub const DEMO_USERS: [(&str, &str, &str); 3] = [
    ("alice", "alice", "analysts"),
    ("bob", "bob", "developers"),
    ("dora", "dora", "dba"),
];

/// The sample PII, masked for everyone but the dba group (dora).
const MASKS: &str = r#"
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

# Free text no mask names (support_tickets.body): card numbers, emails and SSNs inside it.
[[detectors]]
kinds = ["credit_card", "email", "us_ssn"]
function = "redact"
except_groups = ["dba"]
"#;

/// Statement rules, as in the example config: no DROP for anyone, a whole-table write waits for
/// a DBA, and a write the database counts over 10 rows is undone.
const RULES: &str = r#"
[[rules]]
name = "no-drop"
when = { statements = ["drop", "truncate"] }
action = "block"
message = "DROP and TRUNCATE are not allowed through sluice; ask a DBA."

[[rules]]
name = "unbounded-write"
when = { statements = ["update", "delete"], without_where = true }
action = "review"
message = "An UPDATE or DELETE of a whole table needs a DBA's approval."

# A WHERE can hold for every row in ways no reading of its text can tell (a CASE whose
# branches agree, a column the data never fills): the database's own count decides, and the
# write is undone when it changed too much. An approved write is not held to it.
[[rules]]
name = "mass-write"
when = { statements = ["update", "delete"], rows_over = 10 }
action = "block"
message = "Changes to more than 10 rows at once need a DBA."
"#;

/// Where the demo's servers, listeners and files are, for the config text.
pub struct Places<'a> {
    pub listen: &'a str,
    pub mysql_listen: &'a str,
    pub admin_listen: &'a str,
    pub webhook_url: &'a str,
    pub pg: (&'a str, &'a str, &'a str),
    pub maria: (&'a str, &'a str, &'a str),
    pub cert: &'a std::path::Path,
    pub key: &'a std::path::Path,
}

/// The whole config file. Secrets are files beside it (`*.pw`, `audit.key`,
/// `webhook.secret`), except the hash mask's key, which masks read only from the environment.
pub fn text(at: &Places) -> String {
    let mut text = format!(
        "# Written by `sluice demo`; removed when the demo stops.\n\
         [server]\nadmin_listen = \"{}\"\n\n\
         [server.tls]\ncert_file = {:?}\nkey_file = {:?}\nrequire = false\n\n\
         [audit]\ndir = \"audit\"\nkey_file = \"audit.key\"\nrecord_rows = 20\n\n",
        at.admin_listen, at.cert, at.key
    );
    for (name, password, group) in DEMO_USERS {
        text += &format!(
            "[[users]]\nname = \"{name}\"\npassword_hash = \"{}\"\ngroups = [\"{group}\"]\n\n",
            crate::auth::hash_password(password)
        );
    }
    text += &target("demo-pg", "postgres", at.listen, at.pg, "upstream.pw");
    text += &target(
        "demo-mysql",
        "mysql",
        at.mysql_listen,
        at.maria,
        "mariadb.pw",
    );
    text += MASKS;
    text += RULES;
    text += &format!(
        "\n[approvals]\nmode = \"hold\"\ntimeout = \"10m\"\napprover_groups = [\"dba\"]\ndir = \"approvals\"\n\n\
         [[approvals.webhooks]]\nurl = \"{}\"\nsecret_file = \"webhook.secret\"\n",
        at.webhook_url
    );
    text
}

/// One `[[targets]]` with its analysts' identity: `(upstream, database, user)`.
fn target(
    name: &str,
    protocol: &str,
    listen: &str,
    (upstream, database, user): (&str, &str, &str),
    password_file: &str,
) -> String {
    format!(
        "[[targets]]\nname = \"{name}\"\nprotocol = \"{protocol}\"\nlisten = \"{listen}\"\n\
         upstream = \"{upstream}\"\ndatabase = \"{database}\"\nuser = \"{user}\"\n\
         password_file = \"{password_file}\"\nupstream_tls = \"disable\"\n\n\
         [[targets.identities]]\ngroups = [\"analysts\"]\nuser = \"{ANALYST_ROLE}\"\n\
         password_file = \"analyst.pw\"\n\n"
    )
}
