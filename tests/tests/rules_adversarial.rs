//! `[[rules]]` hold however a destructive statement is spelled or smuggled, in both protocols.
//!
//! Each attempt gets a fresh victim table (five rows, a primary key, a CHECK constraint, and a
//! companion table `{v}_o` with one row), runs its steps through sluice as `mallory` (group
//! `apps`; errors are ignored unless a step says which rule must refuse it), and is then judged
//! on a direct connection to the upstream: the victim must still exist with the same columns
//! and types, the same rows (count and checksum), the same constraints (and partitions), and no
//! code object named after it may have appeared or changed. Failures are collected, so one run
//! lists every hole.
//!
//! The classes: (1) tokenizer desync, where a session setting (PostgreSQL
//! `standard_conforming_strings`, MySQL `sql_mode` NO_BACKSLASH_ESCAPES / ANSI_QUOTES) makes
//! the database read quotes differently from a tokenizer that ignores it; sluice may see the
//! hidden statement or refuse the text as ambiguous, but the session must stay usable
//! (`PROBE` steps); (2) code bodies; (3) destructive ALTER spellings; (4) WHEREs that reference
//! no column of the target; (5) one destructive statement by every path, and the classic
//! obfuscations. A few attempts are inert by design (`.inert()`): the database itself would
//! not run the hidden statement, and they check that sluice is not fooled the other way either.
//! The ignored `*_do_damage_without_sluice` tests send every attempt straight to the upstream
//! and check that the others really destroy something there.
//!
//! Alongside: ordinary application SQL keeps working for `mallory`, and `dora` (group `dba`)
//! may create code.

#[path = "support/rules_adversarial.rs"]
mod support;

use mysql_async::prelude::*;
use sluice_tests::*;
use support::*;
use tokio_postgres::SimpleQueryMessage;

use Class::*;
use Param::*;

const MALLORY: (&str, &str) = ("mallory", "mallory-pw");
const DORA: (&str, &str) = ("dora", "dora-pw");

/// The policy under test. There is no group negation in `when.groups`, so DBAs' code is
/// allowed by an earlier rule.
const RULES: &str = r#"
[[rules]]
name = "no-drop"
when = { statements = ["drop", "truncate"] }
action = "block"
message = "DROP and TRUNCATE are not allowed through sluice"

[[rules]]
name = "dba-code"
when = { statements = ["code"], groups = ["dba"] }
action = "allow"

[[rules]]
name = "no-code"
when = { statements = ["code"] }
action = "block"
message = "only DBAs may create or run code"

[[rules]]
name = "bounded-writes"
when = { statements = ["update", "delete"], without_where = true }
action = "block"
message = "UPDATE and DELETE need a WHERE"

[policy]
on_parse_error = "block"
"#;

fn config(rules: &str) -> String {
    let mut text = String::new();
    for ((name, password), group) in [(MALLORY, "apps"), (DORA, "dba")] {
        text += &format!(
            "\n[[users]]\nname = \"{name}\"\npassword_hash = \"{}\"\ngroups = [\"{group}\"]\n",
            sluice::auth::hash_password(password)
        );
    }
    text + rules
}

/// Starts sluice with [`RULES`]. While the `code` statement kind does not exist yet, the config
/// is rejected; then sluice runs with `do` in its place so the rest of the attempts still
/// report, and the rejection is returned as a harness problem (so the test fails regardless).
async fn start(upstream: impl Fn() -> UpstreamSpec) -> (Proxy, Vec<String>) {
    let opts = |rules: String| ProxyOpts {
        extra_config: config(&rules),
        ..ProxyOpts::default()
    };
    match Proxy::try_start(upstream(), opts(RULES.to_string())).await {
        Ok(proxy) => (proxy, Vec::new()),
        Err(e) => {
            let fallback = RULES.replace(r#"statements = ["code""#, r#"statements = ["do""#);
            let proxy = Proxy::try_start(upstream(), opts(fallback))
                .await
                .unwrap_or_else(|e2| panic!("sluice did not start: {e}; nor with `do`: {e2}"));
            (
                proxy,
                vec![format!(
                    "the config with statements = [\"code\"] was rejected ({e}); the attempts ran with \"do\" in its place"
                )],
            )
        }
    }
}

// =============================================================================================
// PostgreSQL attempts

/// Under `standard_conforming_strings = off`, `'a\''` is the string `a'`, so the DROP runs; a
/// tokenizer with standard strings reads one string literal to the last quote.
const PG_HIDDEN_DROP: &str = r"SELECT 'a\'' ; DROP TABLE {v}; -- '";
/// The reverse: with standard strings (the default) `'a\'` is a whole string and the DROP runs;
/// a tokenizer that wrongly believes backslashes escape reads one string literal.
const PG_REVERSE_DROP: &str = r"SELECT 'a\' ; DROP TABLE {v}; -- '";

const PG_ATTEMPTS: &[Attempt] = &[
    // ---- (1) tokenizer desync --------------------------------------------------------------
    attempt(Desync, "SET standard_conforming_strings = off, then a hidden DROP", &[
        text("SET standard_conforming_strings = off"),
        PROBE,
        text(PG_HIDDEN_DROP),
        PROBE,
        PROBE_PREPARED,
    ]),
    attempt(Desync, "SET … TO 'off', then a hidden TRUNCATE", &[
        text("SET standard_conforming_strings TO 'off'"),
        text(r"SELECT 'a\'' ; TRUNCATE {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "SET SESSION … = false, then a hidden DELETE", &[
        text("SET SESSION standard_conforming_strings = false"),
        text(r"SELECT 'a\'' ; DELETE FROM {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "SET … = 0, then a hidden UPDATE emptying a column", &[
        text("SET standard_conforming_strings = 0"),
        text(r"SELECT 'a\'' ; UPDATE {v} SET note = NULL; -- '"),
        PROBE,
    ]),
    attempt(Desync, "SET over the extended protocol, then a hidden DROP", &[
        prep("SET standard_conforming_strings = off"),
        text(PG_HIDDEN_DROP),
        PROBE,
    ]),
    attempt(Desync, "set_config(…, 'off', false), then a hidden DROP", &[
        text("SELECT set_config('standard_conforming_strings', 'off', false)"),
        PROBE,
        text(PG_HIDDEN_DROP),
        PROBE,
    ]),
    attempt(Desync, "set_config with bound parameters, then a hidden DROP", &[
        prep_with(
            "SELECT set_config($1, $2, false)",
            &[Text("standard_conforming_strings"), Text("off")],
        ),
        text(PG_HIDDEN_DROP),
        PROBE,
    ]),
    attempt(Desync, "set_config with a computed name, then a hidden DROP", &[
        text("SELECT set_config(name, 'off', false) FROM pg_settings WHERE name LIKE 'standard%strings'"),
        text(PG_HIDDEN_DROP),
        PROBE,
    ]),
    attempt(Desync, "UPDATE pg_settings SET setting = 'off', then a hidden DROP", &[
        text("UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'"),
        text(PG_HIDDEN_DROP),
        PROBE,
    ]),
    attempt(Desync, "a prepared set_config run by EXECUTE, then a hidden DROP", &[
        text("PREPARE {v}_q AS SELECT set_config('standard_conforming_strings', 'off', false)"),
        text("EXECUTE {v}_q"),
        text(PG_HIDDEN_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET LOCAL inside a transaction, then a hidden DROP, COMMIT", &[
        text("BEGIN"),
        text("SET LOCAL standard_conforming_strings = off"),
        PROBE,
        text(PG_HIDDEN_DROP),
        text("COMMIT"),
        PROBE,
    ]),
    attempt(Desync, "BEGIN; SET LOCAL in one string, then a hidden TRUNCATE, COMMIT", &[
        text("BEGIN; SET LOCAL standard_conforming_strings = off"),
        text(r"SELECT 'a\'' ; TRUNCATE {v}; -- '"),
        text("COMMIT"),
        PROBE,
    ]),
    attempt(Desync, "startup option -c standard_conforming_strings=off, then a hidden DROP", &[
        PROBE,
        text(PG_HIDDEN_DROP),
        PROBE,
        PROBE_PREPARED,
    ])
    .options("-c standard_conforming_strings=off"),
    attempt(Desync, "ALTER ROLE … SET (the next session starts with it off), then a hidden DROP", &[
        text("ALTER ROLE CURRENT_USER SET standard_conforming_strings = off"),
        RECONNECT,
        PROBE,
        text(PG_HIDDEN_DROP),
        PROBE,
    ])
    .cleanup(&["ALTER ROLE CURRENT_USER RESET standard_conforming_strings"]),
    attempt(Desync, "ALTER DATABASE … SET (the next session starts with it off), then a hidden DELETE", &[
        text("ALTER DATABASE {db} SET standard_conforming_strings = off"),
        RECONNECT,
        text(r"SELECT 'a\'' ; DELETE FROM {v}; -- '"),
        PROBE,
    ])
    .cleanup(&["ALTER DATABASE {db} RESET standard_conforming_strings"]),
    attempt(Desync, "extended protocol: a data-modifying CTE hidden behind a backslash-quote", &[
        text("SET standard_conforming_strings = off"),
        prep(r"WITH x AS (SELECT 'a\'' AS s), d AS (DELETE FROM {v} RETURNING 1) SELECT count(*) FROM d -- ') SELECT 1"),
        PROBE_PREPARED,
    ]),
    attempt(Desync, "prepare + execute: a tautology hidden behind a backslash-quote", &[
        text("SET standard_conforming_strings = off"),
        prepare_then_execute(r"DELETE FROM {v} WHERE note = 'a\'' OR true --'"),
        PROBE_PREPARED,
    ]),
    attempt(Desync, "unnamed statement: an UPDATE CTE hidden behind a backslash-quote", &[
        text("SET standard_conforming_strings = off"),
        unnamed(r"WITH x AS (SELECT 'a\'' AS s), d AS (UPDATE {v} SET note = NULL RETURNING 1) SELECT count(*) FROM d -- ') SELECT 1"),
        PROBE_PREPARED,
    ]),
    attempt(Desync, "extended protocol: the multi-statement payload in a Parse", &[
        text("SET standard_conforming_strings = off"),
        prep(PG_HIDDEN_DROP),
        PROBE,
    ])
    .inert(),
    attempt(Desync, "SET and the payload in one string (PostgreSQL lexes it all before the SET)", &[
        text(r"SET standard_conforming_strings = off; SELECT 'a\'' ; DROP TABLE {v}; -- '"),
        PROBE,
    ])
    .inert(),
    attempt(Desync, "SET and a reverse payload in one string (the SET must not apply mid-string)", &[
        text(r"SET standard_conforming_strings = off; SELECT 'a\' ; DROP TABLE {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "SET inside a rolled-back transaction, then a reverse payload", &[
        text("BEGIN"),
        text("SET standard_conforming_strings = off"),
        text("ROLLBACK"),
        text(PG_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET LOCAL that ended with COMMIT, then a reverse payload", &[
        text("BEGIN"),
        text("SET LOCAL standard_conforming_strings = off"),
        text("COMMIT"),
        text(r"SELECT 'a\' ; TRUNCATE {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "SET undone by ROLLBACK TO SAVEPOINT, then a reverse payload", &[
        text("BEGIN"),
        text("SAVEPOINT s1"),
        text("SET standard_conforming_strings = off"),
        text("ROLLBACK TO SAVEPOINT s1"),
        text(r"SELECT 'a\' ; DELETE FROM {v}; -- '"),
        text("COMMIT"),
        PROBE,
    ]),
    attempt(Desync, "SET undone by RESET, then a reverse payload", &[
        text("SET standard_conforming_strings = off"),
        text("RESET standard_conforming_strings"),
        text(PG_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET undone by DISCARD ALL, then a reverse payload", &[
        text("SET standard_conforming_strings = off"),
        text("DISCARD ALL"),
        text(PG_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET undone by a failing implicit transaction, then a reverse payload", &[
        text("SET standard_conforming_strings = off; SELECT 1/0"),
        text(PG_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "an E'' string hides the DROP (any setting)", &[
        text(r"SELECT E'a\'' ; DROP TABLE {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "a dollar-quoted string holding a quote hides the DROP", &[
        text("SELECT $a$ ' $a$ ; DROP TABLE {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "nested block comments end later than a flat tokenizer thinks", &[
        text("SELECT 1 /* /* */ */ ; DROP TABLE {v}"),
        PROBE,
    ]),
    // ---- (2) code bodies -------------------------------------------------------------------
    attempt(Code, "a harmless-looking SQL function is still code", &[
        text("CREATE FUNCTION {v}_f() RETURNS int LANGUAGE sql AS 'SELECT 1'").refused("no-code"),
        text("SELECT {v}_f()"),
    ]),
    attempt(Code, "SQL function whose body deletes everything, then called", &[
        text("CREATE FUNCTION {v}_f() RETURNS void LANGUAGE sql AS $$ DELETE FROM {v} $$"),
        text("SELECT {v}_f()"),
    ]),
    attempt(Code, "CREATE OR REPLACE SQL function with a quoted TRUNCATE body", &[
        text("CREATE OR REPLACE FUNCTION {v}_f() RETURNS void LANGUAGE sql AS 'TRUNCATE {v}'"),
        text("SELECT {v}_f()"),
    ]),
    attempt(Code, "SQL-standard BEGIN ATOMIC body", &[
        text("CREATE FUNCTION {v}_f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM {v}; SELECT 1; END"),
        text("SELECT {v}_f()"),
    ]),
    attempt(Code, "E'' body", &[
        text(r"CREATE FUNCTION {v}_f() RETURNS void LANGUAGE sql AS E'DELETE FROM {v}'"),
        text("SELECT * FROM {v}_f()"),
    ]),
    attempt(Code, "plpgsql EXECUTE of a string built by concatenation", &[
        text("CREATE FUNCTION {v}_f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DR' || 'OP TABLE ' || '{v}'; END $$"),
        text("SELECT {v}_f()"),
    ]),
    attempt(Code, "plpgsql EXECUTE format('TRUNCATE %I'), over the extended protocol", &[
        prep("CREATE FUNCTION {v}_f(t text) RETURNS void LANGUAGE plpgsql AS $body$ BEGIN EXECUTE format('TRUNCATE %I', t); END $body$"),
        prep("SELECT {v}_f('{v}')"),
    ]),
    attempt(Code, "function created by prepare + execute", &[
        prepare_then_execute("CREATE FUNCTION {v}_f() RETURNS void LANGUAGE sql AS $$ DELETE FROM {v} $$"),
        prepare_then_execute("SELECT {v}_f()"),
    ]),
    attempt(Code, "SQL procedure, then CALL", &[
        text("CREATE PROCEDURE {v}_p() LANGUAGE sql AS $$ DELETE FROM {v} $$"),
        text("CALL {v}_p()"),
    ]),
    attempt(Code, "plpgsql procedure emptying a column, then CALL", &[
        text("CREATE OR REPLACE PROCEDURE {v}_p() LANGUAGE plpgsql AS $$ BEGIN UPDATE {v} SET note = NULL; END $$"),
        text("CALL {v}_p()"),
    ]),
    attempt(Code, "created and called in one multi-statement string", &[
        text("SELECT 1; CREATE FUNCTION {v}_f() RETURNS void LANGUAGE sql AS $$ DELETE FROM {v} $$; SELECT {v}_f()"),
    ]),
    attempt(Code, "case, comments and whitespace around CREATE OR REPLACE FUNCTION", &[
        text("cReAtE/**/oR rEpLaCe\n\tFuNcTiOn {v}_f() RETURNS void LANGUAGE sql AS $$ TRUNCATE {v} $$"),
        text("SELECT {v}_f()"),
    ]),
    attempt(Code, "trigger function and trigger, fired by a bounded UPDATE", &[
        text("CREATE FUNCTION {v}_tf() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM {v}; RETURN NULL; END $$"),
        text("CREATE TRIGGER {v}_t AFTER UPDATE ON {v} FOR EACH STATEMENT EXECUTE FUNCTION {v}_tf()"),
        text("UPDATE {v} SET n = n WHERE id = 1"),
    ]),
    attempt(Code, "CREATE TRIGGER on an existing wiping function", &[
        text("CREATE TRIGGER {v}_t AFTER UPDATE ON {v} FOR EACH STATEMENT EXECUTE FUNCTION {v}_wipe()").refused("no-code"),
        text("UPDATE {v} SET n = n WHERE id = 1"),
    ])
    .setup(&["CREATE FUNCTION {v}_wipe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM {v}; RETURN NULL; END $$"]),
    attempt(Code, "CREATE CONSTRAINT TRIGGER … EXECUTE PROCEDURE (old spelling)", &[
        text("CREATE CONSTRAINT TRIGGER {v}_t AFTER UPDATE ON {v} FOR EACH ROW EXECUTE PROCEDURE {v}_wipe()"),
        text("UPDATE {v} SET n = n WHERE id = 1"),
    ])
    .setup(&["CREATE FUNCTION {v}_wipe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM {v}; RETURN NULL; END $$"]),
    attempt(Code, "CREATE OR REPLACE of a function the application calls", &[
        text("CREATE OR REPLACE FUNCTION {v}_ok() RETURNS int LANGUAGE sql AS 'DELETE FROM {v}; SELECT 1'"),
        text("SELECT {v}_ok()"),
    ])
    .setup(&["CREATE FUNCTION {v}_ok() RETURNS int LANGUAGE sql AS 'SELECT 1'"]),
    attempt(Code, "CREATE RULE … DO ALSO DELETE, fired by a bounded UPDATE", &[
        text("CREATE RULE {v}_r AS ON UPDATE TO {v} DO ALSO DELETE FROM {v}"),
        text("UPDATE {v} SET n = n WHERE id = 1"),
    ]),
    attempt(Code, "CREATE OR REPLACE RULE on another table, fired by an INSERT there", &[
        text("CREATE OR REPLACE RULE {v}_r AS ON INSERT TO {o} DO ALSO UPDATE {v} SET note = NULL"),
        text("INSERT INTO {o} VALUES (2)"),
    ]),
    attempt(Code, "DO block with EXECUTE", &[
        text("DO $$ BEGIN EXECUTE 'DROP TABLE {v}'; END $$"),
    ]),
    attempt(Code, "DO LANGUAGE plpgsql with a single-quoted body", &[
        text("DO LANGUAGE plpgsql 'BEGIN DELETE FROM {v}; END'"),
    ]),
    attempt(Code, "DO with a tagged dollar quote behind a comment, lower case", &[
        text("/* maintenance */ do $x$ BEGIN TRUNCATE {v}; END $x$"),
    ]),
    attempt(Code, "DO over the extended protocol", &[
        prep("DO $$ BEGIN UPDATE {v} SET note = NULL; END $$"),
    ]),
    // ---- (3) destructive ALTER -------------------------------------------------------------
    attempt(Alter, "ALTER TABLE … DROP COLUMN", &[
        text("ALTER TABLE {v} DROP COLUMN note").refused("no-drop"),
    ]),
    attempt(Alter, "ALTER TABLE IF EXISTS ONLY … DROP IF EXISTS … CASCADE", &[
        text("ALTER TABLE IF EXISTS ONLY {v} DROP IF EXISTS note CASCADE"),
    ]),
    attempt(Alter, "DROP COLUMN as the second action", &[
        text("ALTER TABLE {v} ADD COLUMN extra int, DROP COLUMN note"),
    ]),
    attempt(Alter, "DROP COLUMN in the second statement of a string", &[
        text("SELECT 1; ALTER TABLE {v} DROP COLUMN n"),
    ]),
    attempt(Alter, "quoted identifiers and comments", &[
        text("alter /* x */ table \"{v}\" drop \"note\""),
    ]),
    attempt(Alter, "DROP CONSTRAINT (CHECK)", &[
        text("ALTER TABLE {v} DROP CONSTRAINT {v}_chk").refused("no-drop"),
    ]),
    attempt(Alter, "DROP CONSTRAINT (primary key), extended protocol", &[
        prep("ALTER TABLE {v} DROP CONSTRAINT {v}_pkey"),
    ]),
    attempt(Alter, "ALTER COLUMN … TYPE … USING NULL (same type, data gone)", &[
        text("ALTER TABLE {v} ALTER COLUMN note TYPE text USING NULL").refused("no-drop"),
    ]),
    attempt(Alter, "ALTER … SET DATA TYPE … USING 0", &[
        text("ALTER TABLE {v} ALTER n SET DATA TYPE bigint USING 0"),
    ]),
    attempt(Alter, "RENAME TO", &[
        text("ALTER TABLE {v} RENAME TO {v}_gone").refused("no-drop"),
    ]),
    attempt(Alter, "RENAME COLUMN", &[
        text("ALTER TABLE {v} RENAME COLUMN note TO gone"),
    ]),
    attempt(Alter, "RENAME without COLUMN, prepare + execute", &[
        prepare_then_execute("ALTER TABLE {v} RENAME note TO gone"),
    ]),
    // ---- (4) constant WHERE ----------------------------------------------------------------
    attempt(ConstantWhere, "DELETE … WHERE (SELECT true)", &[
        text("DELETE FROM {v} WHERE (SELECT true)").refused("bounded-writes"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE coalesce(null, true)", &[
        text("DELETE FROM {v} WHERE coalesce(null, true)"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE EXISTS (SELECT 1 FROM other)", &[
        text("DELETE FROM {v} WHERE EXISTS (SELECT 1 FROM {o})"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE now() > '2000-01-01'", &[
        text("DELETE FROM {v} WHERE now() > '2000-01-01'"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE 1 IN (SELECT k FROM other)", &[
        text("DELETE FROM {v} WHERE 1 IN (SELECT k FROM {o})"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE current_user = current_user, aliased target", &[
        text("DELETE FROM {v} AS x WHERE current_user = current_user"),
    ]),
    attempt(ConstantWhere, "DELETE … USING other WHERE other.k = 1 (a cross join)", &[
        text("DELETE FROM {v} USING {o} WHERE {o}.k = 1"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE $1 with true bound", &[
        prep_with("DELETE FROM {v} WHERE $1", &[Bool(true)]),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE (SELECT count(*) FROM other) > 0, prepare + execute", &[
        prepare_then_execute("DELETE FROM {v} WHERE (SELECT count(*) FROM {o}) > 0"),
    ]),
    attempt(ConstantWhere, "UPDATE … SET note = NULL WHERE (SELECT true)", &[
        text("UPDATE {v} SET note = NULL WHERE (SELECT true)"),
    ]),
    attempt(ConstantWhere, "UPDATE … SET note = NULL WHERE coalesce(null, true)", &[
        text("UPDATE {v} SET note = NULL WHERE coalesce(null, true)").refused("bounded-writes"),
    ]),
    attempt(ConstantWhere, "UPDATE … WHERE EXISTS (SELECT 1 FROM other WHERE other.k = 1)", &[
        text("UPDATE {v} SET note = NULL WHERE EXISTS (SELECT 1 FROM {o} WHERE {o}.k = 1)"),
    ]),
    attempt(ConstantWhere, "UPDATE … FROM other WHERE other.k = 1 (a cross join)", &[
        text("UPDATE {v} SET note = NULL FROM {o} WHERE {o}.k = 1"),
    ]),
    attempt(ConstantWhere, "UPDATE … WHERE random() >= 0, extended protocol", &[
        prep("UPDATE {v} SET n = 0 WHERE random() >= 0"),
    ]),
    // ---- (5) paths and obfuscations --------------------------------------------------------
    attempt(Path, "simple query DROP TABLE", &[
        text("DROP TABLE {v}").refused("no-drop"),
    ]),
    attempt(Path, "simple query TRUNCATE", &[text("TRUNCATE {v}")]),
    attempt(Path, "extended protocol TRUNCATE", &[
        prep("TRUNCATE {v}").refused("no-drop"),
    ]),
    attempt(Path, "prepare + execute DELETE without WHERE", &[
        prepare_then_execute("DELETE FROM {v}").refused("bounded-writes"),
    ]),
    attempt(Path, "unnamed statement DROP TABLE", &[unnamed("DROP TABLE {v}")]),
    attempt(Path, "SQL PREPARE … AS DELETE, then EXECUTE", &[
        text("PREPARE {v}_s AS DELETE FROM {v}"),
        text("EXECUTE {v}_s"),
    ]),
    attempt(Path, "SQL PREPARE and EXECUTE in one string", &[
        text("PREPARE {v}_s AS UPDATE {v} SET note = NULL; EXECUTE {v}_s"),
    ]),
    attempt(Path, "SQL PREPARE and EXECUTE over the extended protocol", &[
        prep("PREPARE {v}_s AS DELETE FROM {v}"),
        prep("EXECUTE {v}_s"),
    ]),
    attempt(Path, "EXPLAIN ANALYZE DELETE", &[text("EXPLAIN ANALYZE DELETE FROM {v}")]),
    attempt(Path, "EXPLAIN (ANALYZE, BUFFERS) UPDATE", &[
        text("EXPLAIN (ANALYZE, BUFFERS) UPDATE {v} SET note = NULL"),
    ]),
    attempt(Path, "EXPLAIN ANALYSE (British spelling), extended protocol", &[
        prep("EXPLAIN ANALYSE DELETE FROM {v}"),
    ]),
    attempt(Path, "EXPLAIN (FORMAT JSON, ANALYZE true) DELETE", &[
        text("EXPLAIN (FORMAT JSON, ANALYZE true) DELETE FROM {v}"),
    ]),
    attempt(Path, "a DELETE in a CTE", &[
        text("WITH d AS (DELETE FROM {v} RETURNING *) SELECT 1").refused("bounded-writes"),
    ]),
    attempt(Path, "an UPDATE in the second CTE, extended protocol", &[
        prep("WITH a AS (SELECT 1), d AS (UPDATE {v} SET note = NULL RETURNING 1) SELECT count(*) FROM d"),
    ]),
    // ---- found by the black-box attacker: writes by other names, tautologies, outside code --
    attempt(ConstantWhere, "MERGE … ON true WHEN MATCHED THEN DELETE", &[
        text("MERGE INTO {v} t USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE").refused("bounded-writes"),
    ]),
    attempt(ConstantWhere, "MERGE … ON true WHEN MATCHED THEN UPDATE, extended protocol", &[
        prep("MERGE INTO {v} USING (VALUES (1)) s(x) ON true WHEN MATCHED THEN UPDATE SET note = NULL"),
    ]),
    attempt(ConstantWhere, "INSERT … SELECT … ON CONFLICT DO UPDATE as an UPDATE of every row", &[
        text("INSERT INTO {v} SELECT id, n, NULL FROM {v} ON CONFLICT (id) DO UPDATE SET note = NULL").refused("bounded-writes"),
    ]),
    attempt(ConstantWhere, "a constant conjunct AND a tautology", &[
        text("DELETE FROM {v} WHERE current_timestamp IS NOT NULL AND id = id"),
    ]),
    attempt(ConstantWhere, "id = id + 0", &[text("DELETE FROM {v} WHERE id = id + 0")]),
    attempt(ConstantWhere, "coalesce(id, 0) = coalesce(id, 0)", &[
        text("DELETE FROM {v} WHERE coalesce(id, 0) = coalesce(id, 0)"),
    ]),
    attempt(ConstantWhere, "x IS NULL OR x IS NOT NULL", &[
        text("UPDATE {v} SET note = NULL WHERE note IS NULL OR note IS NOT NULL"),
    ]),
    attempt(ConstantWhere, "a whole-row reference", &[text("DELETE FROM {v} WHERE {v} IS NOT NULL")]),
    attempt(ConstantWhere, "tableoid, the same for every row", &[text("DELETE FROM {v} WHERE tableoid > 0")]),
    attempt(ConstantWhere, "id IN (SELECT id)", &[text("DELETE FROM {v} WHERE id IN (SELECT id)")]),
    // The test's database user may not create extensions or run programs, so these three do no
    // harm here; what they assert is sluice's refusal by rule (the attacker's sluice logged in
    // as a superuser, where they dropped and emptied tables).
    attempt(Code, "CREATE EXTENSION is code", &[
        text("CREATE EXTENSION IF NOT EXISTS dblink").refused("no-code"),
    ])
    .inert(),
    attempt(Code, "dblink_exec runs SQL sluice cannot see", &[
        text("SELECT dblink_exec('dbname=postgres', 'DROP TABLE {v}')").refused("no-code"),
    ])
    .inert(),
    attempt(Code, "COPY … TO PROGRAM runs a program on the database host", &[
        text("COPY (SELECT 1) TO PROGRAM 'true'").refused("no-code"),
    ])
    .inert(),
    // ---- found by the third black-box round --------------------------------------------------
    attempt(ConstantWhere, "a bound NULL makes coalesce($1, id) the column itself", &[
        prep_with("DELETE FROM {v} WHERE id = coalesce($1, id)", &[Null]),
    ]),
    attempt(ConstantWhere, "a bound 0 makes id = id + $1 a tautology", &[
        prep_with("DELETE FROM {v} WHERE id = id + $1", &[Int(0)]),
    ]),
    attempt(ConstantWhere, "a bound '%' matches every row", &[
        prep_with("UPDATE {v} SET note = NULL WHERE note LIKE $1", &[Text("%")]),
    ]),
    attempt(Desync, "an E-string continued on the next line hides a DROP", &[
        text("SELECT E'a'\n'\\''; DROP TABLE {v}; --'"),
    ]),
    attempt(Desync, "an e-string continued after spaces and a tab", &[
        text("SELECT e'a' \n\t'\\''; TRUNCATE {v}; --'"),
    ]),
    // ---- found by the second black-box round -------------------------------------------------
    attempt(Code, "COPY … TO a server file (a table's own storage)", &[
        text("COPY (SELECT 'garbage') TO '/tmp/sluice-adversarial-copy'").refused("no-code"),
    ])
    .inert(),
    attempt(ConstantWhere, "an upsert over a set-returning VALUES list", &[
        text("INSERT INTO {v} VALUES (generate_series(1, 10), 0, 'x') ON CONFLICT (id) DO UPDATE SET note = NULL").refused("bounded-writes"),
    ]),
    attempt(ConstantWhere, "ctid IS NOT NULL", &[text("DELETE FROM {v} WHERE ctid IS NOT NULL")]),
    attempt(ConstantWhere, "id - id = 0", &[text("DELETE FROM {v} WHERE id - id = 0")]),
    attempt(ConstantWhere, "(id = id) = true", &[text("DELETE FROM {v} WHERE (id = id) = true")]),
    attempt(ConstantWhere, "id = 1 OR (id = 1) IS NOT TRUE", &[
        text("DELETE FROM {v} WHERE id = 1 OR (id = 1) IS NOT TRUE"),
    ]),
    attempt(ConstantWhere, "the table joined to itself by USING", &[
        text("DELETE FROM {v} USING {v} u WHERE {v}.id = u.id"),
    ]),
    attempt(ConstantWhere, "id IN (SELECT id FROM itself)", &[
        text("DELETE FROM {v} WHERE id IN (SELECT id FROM {v})"),
    ]),
    attempt(ConstantWhere, "MERGE with the table itself as the source", &[
        text("MERGE INTO {v} USING {v} s ON s.id = {v}.id WHEN MATCHED THEN DELETE"),
    ]),
    attempt(Path, "a DELETE CTE feeding an INSERT", &[
        text("WITH d AS (DELETE FROM {v} RETURNING id) INSERT INTO {o} SELECT id FROM d"),
    ]),
    attempt(Path, "COPY (DELETE … RETURNING) TO STDOUT", &[
        copy_out("COPY (DELETE FROM {v} RETURNING *) TO STDOUT"),
    ]),
    attempt(Path, "second statement of a string", &[text("SELECT 1; TRUNCATE {v}")]),
    attempt(Path, "third statement inside BEGIN … COMMIT", &[
        text("BEGIN; SELECT 1; DELETE FROM {v}; COMMIT"),
    ]),
    attempt(Path, "comments around and inside the statement", &[
        text("/* harmless */ DROP /* ; */ TABLE -- x\n {v}"),
    ]),
    attempt(Path, "a comment inside the keyword (the database reads two words)", &[text("DR/**/OP TABLE {v}")])
    .inert(),
    attempt(Path, "case and whitespace", &[text("dRoP\n\t TaBlE\n\n{v}")]),
    attempt(Path, "quoted schema and table", &[text("DROP TABLE \"public\".\"{v}\"")]),
    attempt(Path, "U&\"…\" identifier", &[text("DROP TABLE {vu}")]),
    attempt(Path, "U&\"…\" identifier, extended protocol", &[prep("TRUNCATE {vu}")]),
    attempt(Path, "IF EXISTS with the victim second in the list", &[
        text("DROP TABLE IF EXISTS {v}_nope, {v}"),
    ]),
    attempt(Path, "TRUNCATE TABLE ONLY … RESTART IDENTITY CASCADE", &[
        text("TRUNCATE TABLE ONLY {v} RESTART IDENTITY CASCADE"),
    ]),
    attempt(Path, "DELETE FROM ONLY", &[text("DELETE FROM ONLY {v}")]),
];

// =============================================================================================
// MySQL attempts

/// Under NO_BACKSLASH_ESCAPES, `'a\'` is a whole string and the DROP runs; with backslash
/// escapes (the default) it is one string literal to the last quote.
const MY_NBE_DROP: &str = r"SELECT 'a\' ; DROP TABLE {v}; -- '";
/// Under ANSI_QUOTES, `"a\"` is an identifier (an alias here) and the DROP runs; by default it
/// is one string literal to the last double quote.
const MY_ANSI_DROP: &str = r#"SELECT 1 AS "a\" ; DROP TABLE {v}; -- ""#;
/// The reverse of [`MY_NBE_DROP`]: by default `'a\''` is the string `a'` and the DROP runs;
/// under NO_BACKSLASH_ESCAPES it is one string literal.
const MY_REVERSE_DROP: &str = r"SELECT 'a\'' ; DROP TABLE {v}; -- '";

const MYSQL_ATTEMPTS: &[Attempt] = &[
    // ---- (1) tokenizer desync --------------------------------------------------------------
    attempt(Desync, "SET sql_mode = 'NO_BACKSLASH_ESCAPES', then a hidden DROP", &[
        text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        PROBE,
        text(MY_NBE_DROP),
        PROBE,
        PROBE_PREPARED,
    ]),
    attempt(Desync, "SET SESSION sql_mode, then a hidden TRUNCATE", &[
        text("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        text(r"SELECT 'a\' ; TRUNCATE TABLE {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "SET @@sql_mode, then a hidden DELETE", &[
        text("SET @@sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        text(r"SELECT 'a\' ; DELETE FROM {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "SET @@session.sql_mode := CONCAT(@@sql_mode, …), then a hidden DROP", &[
        text("SET @@session.sql_mode := CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"),
        text(MY_NBE_DROP),
        PROBE,
    ]),
    attempt(Desync, "sql_mode from a user variable, then a hidden DROP", &[
        text("SET @m = 'NO_BACKSLASH_ESCAPES'"),
        text("SET sql_mode = @m"),
        text(MY_NBE_DROP),
        PROBE,
    ]),
    attempt(Desync, "sql_mode from a subquery, then a hidden UPDATE", &[
        text("SET sql_mode = (SELECT 'NO_BACKSLASH_ESCAPES')"),
        text(r"SELECT 'a\' ; UPDATE {v} SET note = NULL; -- '"),
        PROBE,
    ]),
    attempt(Desync, "sql_mode in a SET of several variables, then a hidden DROP", &[
        text("SET autocommit = 1, sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        text(MY_NBE_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET sql_mode = ? with the mode bound (prepared), then a hidden DROP", &[
        prep_with("SET sql_mode = ?", &[Text("NO_BACKSLASH_ESCAPES")]),
        text(MY_NBE_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET sql_mode inside an executable comment, then a hidden DROP", &[
        text("/*!40101 SET sql_mode = 'NO_BACKSLASH_ESCAPES' */"),
        text(MY_NBE_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET and the payload in one string (MariaDB parses statement by statement)", &[
        text(r"SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\' ; DROP TABLE {v}; -- '"),
        PROBE,
    ]),
    attempt(Desync, "SET STATEMENT sql_mode=… FOR the payload", &[
        text(r"SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 'a\' ; DROP TABLE {v}; -- '"),
        PROBE,
    ])
    .inert(),
    attempt(Desync, "SET STATEMENT … FOR SELECT 1, the payload next in the string", &[
        text(r"SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 1; SELECT 'a\' ; DROP TABLE {v}; -- '"),
        PROBE,
    ])
    .inert(),
    attempt(Desync, "NO_BACKSLASH_ESCAPES: a tautology hidden in a prepared DELETE", &[
        text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        prep(r"DELETE FROM {v} WHERE note = 'a\' OR TRUE -- '"),
        PROBE_PREPARED,
    ]),
    attempt(Desync, "NO_BACKSLASH_ESCAPES: a tautology hidden in an UPDATE", &[
        text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        text(r"UPDATE {v} SET note = NULL WHERE note = 'a\' OR TRUE -- '"),
        PROBE,
    ]),
    attempt(Desync, "NO_BACKSLASH_ESCAPES: the multi-statement payload prepared", &[
        text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        prep(MY_NBE_DROP),
        PROBE,
    ])
    .inert(),
    attempt(Desync, "SET sql_mode = 'ANSI_QUOTES', then a hidden DROP", &[
        text("SET sql_mode = 'ANSI_QUOTES'"),
        PROBE,
        text(MY_ANSI_DROP),
        PROBE,
        PROBE_PREPARED,
    ]),
    attempt(Desync, "SET sql_mode = 'ANSI', then a hidden TRUNCATE", &[
        text("SET sql_mode = 'ANSI'"),
        text(r#"SELECT 1 AS "a\" ; TRUNCATE TABLE {v}; -- ""#),
        PROBE,
    ]),
    attempt(Desync, "SET SESSION sql_mode = 'ANSI_QUOTES' prepared, then a hidden DELETE", &[
        prep("SET SESSION sql_mode = 'ANSI_QUOTES'"),
        text(r#"SELECT 1 AS "a\" ; DELETE FROM {v}; -- ""#),
        PROBE,
    ]),
    attempt(Desync, "SET sql_mode = ? with ANSI_QUOTES bound, then a hidden DROP", &[
        prep_with("SET sql_mode = ?", &[Text("ANSI_QUOTES")]),
        text(MY_ANSI_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET @@sql_mode = 'ANSI_QUOTES' and the payload in one string", &[
        text(r#"SET @@sql_mode = 'ANSI_QUOTES'; SELECT 1 AS "a\" ; DROP TABLE {v}; -- ""#),
        PROBE,
    ]),
    attempt(Desync, "SET STATEMENT sql_mode='ANSI_QUOTES' FOR the payload", &[
        text(r#"SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT 1 AS "a\" ; DROP TABLE {v}; -- ""#),
        PROBE,
    ])
    .inert(),
    attempt(Desync, "ANSI_QUOTES: the multi-statement payload prepared", &[
        text("SET sql_mode = 'ANSI_QUOTES'"),
        prep(MY_ANSI_DROP),
        PROBE,
    ])
    .inert(),
    attempt(Desync, "NO_BACKSLASH_ESCAPES then back to '', then a reverse payload", &[
        text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        text("SET sql_mode = ''"),
        text(MY_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "a SET that fails leaves the mode alone; a reverse payload", &[
        text("SET sql_mode = 'NO_BACKSLASH_ESCAPES,NO_SUCH_MODE'"),
        text(MY_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "SET STATEMENT lasts one statement; a reverse payload next", &[
        text("SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 1"),
        text(MY_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "COM_RESET_CONNECTION resets the mode; a reverse payload", &[
        text("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
        RECONNECT,
        text(MY_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "ANSI_QUOTES then back to DEFAULT, then a reverse payload", &[
        text("SET sql_mode = 'ANSI_QUOTES'"),
        text("SET sql_mode = DEFAULT"),
        text(r#"SELECT "a\"" ; DROP TABLE {v}; -- ""#),
        PROBE,
    ]),
    attempt(Desync, "default mode: a backslash-quote hides the DROP from a standard tokenizer", &[
        text(MY_REVERSE_DROP),
        PROBE,
    ]),
    attempt(Desync, "default mode: a double-quoted string with \\\" hides the DROP", &[
        text(r#"SELECT "a\"" ; DROP TABLE {v}; -- ""#),
        PROBE,
    ]),
    // ---- (2) code bodies -------------------------------------------------------------------
    attempt(Code, "a harmless procedure is still code", &[
        text("CREATE PROCEDURE {v}_p() SELECT 1").refused("no-code"),
        text("CALL {v}_p()"),
    ]),
    attempt(Code, "procedure with a one-statement DELETE body, then CALL (prepared)", &[
        text("CREATE PROCEDURE {v}_p() DELETE FROM {v}"),
        prep("CALL {v}_p()"),
    ]),
    attempt(Code, "procedure with BEGIN … DROP … END, then CALL", &[
        text("CREATE PROCEDURE {v}_p() BEGIN DROP TABLE {v}; END"),
        text("CALL {v}_p()"),
    ]),
    attempt(Code, "function that deletes, then SELECT f()", &[
        text("CREATE FUNCTION {v}_f() RETURNS INT MODIFIES SQL DATA BEGIN DELETE FROM {v}; RETURN 1; END"),
        text("SELECT {v}_f()"),
    ]),
    attempt(Code, "CREATE OR REPLACE DEFINER=… with comments, emptying a column", &[
        text("CREATE OR REPLACE DEFINER = CURRENT_USER /* x */ PROCEDURE {v}_p() MODIFIES SQL DATA UPDATE {v} SET note = NULL"),
        text("CALL {v}_p()"),
    ]),
    attempt(Code, "procedure running dynamic SQL, then CALL", &[
        text("CREATE PROCEDURE {v}_p() BEGIN SET @q = CONCAT('TRUNC', 'ATE {v}'); PREPARE s FROM @q; EXECUTE s; END"),
        text("CALL {v}_p()"),
    ]),
    attempt(Code, "procedure created prepared", &[
        prep("CREATE PROCEDURE {v}_p() DELETE FROM {v}"),
        text("CALL {v}_p()"),
    ]),
    attempt(Code, "procedure inside an executable comment", &[
        text("/*!50000 CREATE PROCEDURE {v}_p() DELETE FROM {v} */"),
        text("CALL {v}_p()"),
    ]),
    attempt(Code, "trigger on another table, fired by an INSERT there", &[
        text("CREATE TRIGGER {v}_t AFTER INSERT ON {v}_bait FOR EACH ROW DELETE FROM {v}").refused("no-code"),
        text("INSERT INTO {v}_bait VALUES (1)"),
    ])
    .setup(&["CREATE TABLE {v}_bait (id INT)"]),
    attempt(Code, "trigger with a BEGIN … END body, fired by a prepared INSERT", &[
        text("CREATE TRIGGER {v}_t BEFORE INSERT ON {v}_bait FOR EACH ROW BEGIN UPDATE {v} SET note = NULL; END"),
        prep_with("INSERT INTO {v}_bait VALUES (?)", &[Int(1)]),
    ])
    .setup(&["CREATE TABLE {v}_bait (id INT)"]),
    attempt(Code, "one-shot event that drops", &[
        text("CREATE EVENT {v}_e ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 SECOND DO DROP TABLE {v}"),
    ]),
    attempt(Code, "recurring event that deletes", &[
        text("CREATE EVENT IF NOT EXISTS {v}_e ON SCHEDULE EVERY 1 SECOND DO DELETE FROM {v}"),
    ]),
    attempt(Code, "PREPARE … FROM 'DROP TABLE', then EXECUTE", &[
        text("PREPARE {v}_s FROM 'DROP TABLE {v}'"),
        text("EXECUTE {v}_s"),
    ]),
    attempt(Code, "PREPARE, EXECUTE, DEALLOCATE in one string", &[
        text("PREPARE s FROM 'TRUNCATE TABLE {v}'; EXECUTE s; DEALLOCATE PREPARE s"),
    ]),
    attempt(Code, "PREPARE … FROM @var built by CONCAT", &[
        text("SET @q = CONCAT('DEL', 'ETE FROM {v}')"),
        text("PREPARE s FROM @q"),
        text("EXECUTE s"),
    ]),
    attempt(Code, "PREPARE … FROM an expression", &[
        text("PREPARE s FROM CONCAT('DROP TABLE ', '{v}')"),
        text("EXECUTE s"),
    ]),
    attempt(Code, "PREPARE … FROM a hex literal", &[
        text("PREPARE s FROM {drophex}"),
        text("EXECUTE s"),
    ]),
    attempt(Code, "EXECUTE IMMEDIATE 'DROP TABLE'", &[text("EXECUTE IMMEDIATE 'DROP TABLE {v}'")]),
    attempt(Code, "EXECUTE IMMEDIATE CONCAT(…)", &[
        text("EXECUTE IMMEDIATE CONCAT('TRUNCATE ', '{v}')"),
    ]),
    attempt(Code, "EXECUTE IMMEDIATE @var", &[
        text("SET @q = 'DELETE FROM {v}'"),
        text("EXECUTE IMMEDIATE @q"),
    ]),
    attempt(Code, "BEGIN NOT ATOMIC … DELETE … END", &[
        text("BEGIN NOT ATOMIC DELETE FROM {v}; END"),
    ]),
    attempt(Code, "BEGIN NOT ATOMIC with DECLARE and IF around a DROP", &[
        text("BEGIN NOT ATOMIC DECLARE x INT DEFAULT 1; IF x THEN DROP TABLE {v}; END IF; END"),
    ]),
    attempt(Code, "IF … THEN TRUNCATE … END IF outside a program", &[
        text("IF 1 THEN TRUNCATE TABLE {v}; END IF"),
    ]),
    attempt(Code, "WHILE … DO DELETE … END WHILE outside a program", &[
        text("WHILE @i IS NULL DO SET @i = 1; DELETE FROM {v}; END WHILE"),
    ]),
    // ---- (3) destructive ALTER -------------------------------------------------------------
    attempt(Alter, "ALTER TABLE … DROP COLUMN", &[
        text("ALTER TABLE {v} DROP COLUMN note").refused("no-drop"),
    ]),
    attempt(Alter, "ALTER IGNORE TABLE … DROP (no COLUMN keyword)", &[
        text("ALTER IGNORE TABLE {v} DROP note"),
    ]),
    attempt(Alter, "ALTER ONLINE TABLE … DROP COLUMN IF EXISTS", &[
        text("ALTER ONLINE TABLE {v} DROP COLUMN IF EXISTS note"),
    ]),
    attempt(Alter, "DROP COLUMN as the second action", &[
        text("ALTER TABLE {v} ADD COLUMN extra INT, DROP COLUMN note"),
    ]),
    attempt(Alter, "DROP COLUMN prepared", &[prep("ALTER TABLE {v} DROP COLUMN n")]),
    attempt(Alter, "DROP COLUMN inside an executable comment", &[
        text("ALTER TABLE {v} /*!50100 DROP COLUMN note */"),
    ]),
    attempt(Alter, "DROP CONSTRAINT (CHECK)", &[
        text("ALTER TABLE {v} DROP CONSTRAINT {v}_chk").refused("no-drop"),
    ]),
    attempt(Alter, "DROP PRIMARY KEY", &[text("ALTER TABLE {v} DROP PRIMARY KEY")]),
    attempt(Alter, "MODIFY COLUMN to another type", &[
        text("ALTER TABLE {v} MODIFY COLUMN n VARCHAR(20)").refused("no-drop"),
    ]),
    attempt(Alter, "MODIFY (no COLUMN keyword) to another type", &[
        text("ALTER TABLE {v} MODIFY note TEXT"),
    ]),
    attempt(Alter, "CHANGE COLUMN to another type", &[
        text("ALTER TABLE {v} CHANGE COLUMN n n BIGINT"),
    ]),
    attempt(Alter, "CHANGE renaming a column", &[
        text("ALTER TABLE {v} CHANGE note gone VARCHAR(40)"),
    ]),
    attempt(Alter, "RENAME COLUMN", &[text("ALTER TABLE {v} RENAME COLUMN note TO gone")]),
    attempt(Alter, "ALTER TABLE … RENAME TO", &[
        text("ALTER TABLE {v} RENAME TO {v}_gone").refused("no-drop"),
    ]),
    attempt(Alter, "RENAME TABLE", &[text("RENAME TABLE {v} TO {v}_gone")]),
    attempt(Alter, "RENAME TABLE swapping another table in", &[
        text("RENAME TABLE {v} TO {v}_tmp, {o} TO {v}"),
    ]),
    attempt(Alter, "CREATE OR REPLACE TABLE", &[
        text("CREATE OR REPLACE TABLE {v} (id INT)").refused("no-drop"),
    ]),
    attempt(Alter, "CREATE OR REPLACE TABLE … LIKE another", &[
        text("CREATE OR REPLACE TABLE {v} LIKE {o}"),
    ]),
    attempt(Alter, "ALTER TABLE … DROP PARTITION", &[
        text("ALTER TABLE {v} DROP PARTITION p0"),
    ])
    .partitioned(),
    attempt(Alter, "ALTER TABLE … TRUNCATE PARTITION", &[
        text("ALTER TABLE {v} TRUNCATE PARTITION p0").refused("no-drop"),
    ])
    .partitioned(),
    attempt(Alter, "TRUNCATE PARTITION ALL, prepared", &[
        prep("ALTER TABLE {v} TRUNCATE PARTITION ALL"),
    ])
    .partitioned(),
    // ---- (4) constant WHERE ----------------------------------------------------------------
    attempt(ConstantWhere, "DELETE … WHERE (SELECT 1)", &[
        text("DELETE FROM {v} WHERE (SELECT 1)").refused("bounded-writes"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE EXISTS (SELECT 1 FROM other)", &[
        text("DELETE FROM {v} WHERE EXISTS (SELECT 1 FROM {o})"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE now() > '2000-01-01'", &[
        text("DELETE FROM {v} WHERE now() > '2000-01-01'"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE coalesce(NULL, 1)", &[
        text("DELETE FROM {v} WHERE coalesce(NULL, 1)"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE 1 IN (SELECT k FROM other)", &[
        text("DELETE FROM {v} WHERE 1 IN (SELECT k FROM {o})"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE @unset IS NULL", &[
        text("DELETE FROM {v} WHERE @unset IS NULL"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE 'a' LIKE '%' LIMIT 100", &[
        text("DELETE FROM {v} WHERE 'a' LIKE '%' LIMIT 100"),
    ]),
    attempt(ConstantWhere, "multi-table DELETE joined to other, WHERE on other only", &[
        text("DELETE {v} FROM {v}, {o} WHERE {o}.k = 1"),
    ]),
    attempt(ConstantWhere, "INSERT … SELECT … ON DUPLICATE KEY UPDATE as an UPDATE of every row", &[
        text("INSERT INTO {v} SELECT id, n, NULL FROM {v} ON DUPLICATE KEY UPDATE note = NULL"),
    ]),
    attempt(ConstantWhere, "REPLACE … SELECT rewrites every row", &[
        text("REPLACE INTO {v} SELECT id, n, NULL FROM {v}"),
    ]),
    attempt(ConstantWhere, "id = id + 0", &[text("DELETE FROM {v} WHERE id = id + 0")]),
    attempt(ConstantWhere, "x IS NULL OR x IS NOT NULL", &[
        text("UPDATE {v} SET note = NULL WHERE note IS NULL OR note IS NOT NULL"),
    ]),
    attempt(ConstantWhere, "a bound 0 makes id = id + ? a tautology", &[
        prep_with("DELETE FROM {v} WHERE id = id + ?", &[Int(0)]),
    ]),
    attempt(ConstantWhere, "a bound NULL makes coalesce(?, id) the column itself", &[
        prep_with("DELETE FROM {v} WHERE id = coalesce(?, id)", &[Null]),
    ]),
    attempt(Desync, "a comment for a newer version hides a quote", &[
        text("SELECT 1 /*!99999 , ' */ ; DROP TABLE {v}; -- '"),
    ]),
    attempt(Desync, "a comment for a newer version hides a WHERE", &[
        text("UPDATE {v} SET note = NULL /*!99999 WHERE id = 1 */"),
    ]),
    attempt(Desync, "a comment for a newer version bounds nothing", &[
        text("DELETE FROM {v} WHERE /*!99999 id = 1 AND */ true"),
    ]),
    attempt(Desync, "a MariaDB comment for a newer version, prepared", &[
        prep("UPDATE {v} SET note = NULL /*M!999999 WHERE id = 1 */"),
    ]),
    attempt(ConstantWhere, "|| is OR in MySQL", &[text("DELETE FROM {v} WHERE id = 1 || 1")]),
    attempt(ConstantWhere, "&& and || together", &[text("DELETE FROM {v} WHERE id = 1 && 1 || 1")]),
    attempt(ConstantWhere, "id <=> id", &[text("DELETE FROM {v} WHERE id <=> id")]),
    attempt(ConstantWhere, "the table joined to itself", &[
        text("DELETE a FROM {v} a JOIN {v} b ON a.id = b.id"),
    ]),
    attempt(ConstantWhere, "the table joined to itself, NATURAL", &[
        text("DELETE a FROM {v} a NATURAL JOIN {v} b"),
    ]),
    attempt(ConstantWhere, "a multi-table UPDATE that changes the joined table", &[
        text("UPDATE {o} JOIN {v} SET {v}.note = NULL WHERE {o}.k = 1"),
    ]),
    attempt(ConstantWhere, "a multi-table DELETE bounded on one of its tables only", &[
        text("DELETE {v}, {o} FROM {v}, {o} WHERE {o}.k = 1"),
    ]),
    attempt(ConstantWhere, "multi-table DELETE through a LEFT JOIN (keeps every row of the target)", &[
        text("DELETE {v} FROM {v} LEFT JOIN {o} ON {v}.id = {o}.k"),
    ]),
    attempt(ConstantWhere, "DELETE … WHERE ? = ? with 1, 1 bound", &[
        prep_with("DELETE FROM {v} WHERE ? = ?", &[Int(1), Int(1)]),
    ]),
    attempt(ConstantWhere, "UPDATE … SET note = NULL WHERE (SELECT 1)", &[
        text("UPDATE {v} SET note = NULL WHERE (SELECT 1)").refused("bounded-writes"),
    ]),
    attempt(ConstantWhere, "UPDATE … WHERE EXISTS (SELECT 1 FROM other WHERE other.k = 1)", &[
        text("UPDATE {v} SET note = NULL WHERE EXISTS (SELECT 1 FROM {o} WHERE {o}.k = 1)"),
    ]),
    attempt(ConstantWhere, "multi-table UPDATE, WHERE on other only", &[
        text("UPDATE {v}, {o} SET {v}.note = NULL WHERE {o}.k = 1"),
    ]),
    attempt(ConstantWhere, "UPDATE … WHERE ? with 1 bound", &[
        prep_with("UPDATE {v} SET note = NULL WHERE ?", &[Int(1)]),
    ]),
    // ---- (5) paths and obfuscations --------------------------------------------------------
    attempt(Path, "COM_QUERY DROP TABLE", &[text("DROP TABLE {v}").refused("no-drop")]),
    attempt(Path, "COM_QUERY TRUNCATE TABLE", &[text("TRUNCATE TABLE {v}")]),
    attempt(Path, "prepared DROP TABLE", &[prep("DROP TABLE {v}").refused("no-drop")]),
    attempt(Path, "prepared TRUNCATE", &[prep("TRUNCATE {v}")]),
    attempt(Path, "prepared DELETE without WHERE", &[
        prep("DELETE FROM {v}").refused("bounded-writes"),
    ]),
    attempt(Path, "prepared UPDATE without WHERE", &[prep("UPDATE {v} SET note = NULL")]),
    attempt(Path, "second statement of a string", &[text("SELECT 1; DROP TABLE {v}")]),
    attempt(Path, "third statement inside START TRANSACTION … COMMIT", &[
        text("START TRANSACTION; DO 1; DELETE FROM {v}; COMMIT"),
    ]),
    attempt(Path, "executable comment", &[text("/*! DROP TABLE {v} */")]),
    attempt(Path, "versioned executable comment around the keyword", &[
        text("/*!50000 TRUNCATE */ TABLE {v}"),
    ]),
    attempt(Path, "MariaDB executable comment /*M!", &[text("/*M! DROP TABLE {v} */")]),
    attempt(Path, "versioned MariaDB executable comment /*M!100000", &[
        text("/*M!100000 DELETE FROM {v} */"),
    ]),
    attempt(Path, "keywords split across executable comments", &[
        text("/*!DROP*/ /*!TABLE*/ {v}"),
    ]),
    attempt(Path, "a # comment holding a quote hides nothing", &[
        text("SELECT 1 # '\n; DROP TABLE {v}; -- '"),
    ]),
    attempt(Path, "MySQL block comments do not nest", &[
        text("SELECT 1 /* /* */ ; DROP TABLE {v}; -- */"),
    ]),
    attempt(Path, "--<tab> is a comment too", &[
        text("SELECT 1 --\t'\n; DROP TABLE {v}; -- '"),
    ]),
    attempt(Path, "a comment inside the keyword (the database reads two words)", &[text("DR/**/OP TABLE {v}")])
    .inert(),
    attempt(Path, "backquoted database and table", &[text("DROP TABLE `{db}`.`{v}`")]),
    attempt(Path, "case and whitespace", &[text("tRuNcAtE\n\t{v}")]),
    attempt(Path, "IF EXISTS with the victim second in the list", &[
        text("DROP TABLE IF EXISTS {v}_nope, {v}"),
    ]),
    attempt(Path, "DELETE LOW_PRIORITY QUICK IGNORE … LIMIT", &[
        text("DELETE LOW_PRIORITY QUICK IGNORE FROM {v} LIMIT 1000"),
    ]),
    attempt(Path, "ANALYZE FORMAT=JSON DELETE (MariaDB runs it)", &[
        text("ANALYZE FORMAT=JSON DELETE FROM {v}"),
    ]),
];

// =============================================================================================
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rules_hold_however_the_statement_is_smuggled() {
    let upstream = pg_scram();
    let (proxy, notes) = start(|| upstream.into()).await;
    let direct = pg_direct(upstream).await;
    let db = &upstream.opts.database;
    let mut outcomes = Vec::new();
    for a in PG_ATTEMPTS {
        outcomes.push(run_pg_attempt(PgRoute::Sluice(&proxy, MALLORY), &direct, db, a).await);
    }
    report("PostgreSQL", &notes, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_rules_hold_however_the_statement_is_smuggled() {
    let server = mariadb_native();
    let (proxy, notes) = start(|| server.into()).await;
    let mut direct = mysql_direct(server).await;
    let db = &server.opts.database;
    let mut outcomes = Vec::new();
    for a in MYSQL_ATTEMPTS {
        outcomes
            .push(run_mysql_attempt(MysqlRoute::Sluice(&proxy, MALLORY), &mut direct, db, a).await);
    }
    report("MySQL", &notes, &outcomes);
}

/// Each attempt, sent straight to the upstream, really destroys something (unless marked
/// inert), so that an attempt sluice "stops" is not merely broken. Ignored
/// by default because its `ALTER ROLE`/`ALTER DATABASE` attempts would change the sessions of
/// the tests running beside it; run it alone with `--ignored` after changing the attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "calibration of the attempts; run alone with --ignored"]
async fn postgres_attempts_do_damage_without_sluice() {
    let upstream = pg_scram();
    let direct = pg_direct(upstream).await;
    let db = &upstream.opts.database;
    let mut outcomes = Vec::new();
    for a in PG_ATTEMPTS {
        outcomes.push(run_pg_attempt(PgRoute::Direct(upstream), &direct, db, a).await);
    }
    calibrate("PostgreSQL", PG_ATTEMPTS, &outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "calibration of the attempts; run alone with --ignored"]
async fn mysql_attempts_do_damage_without_sluice() {
    let server = mariadb_native();
    let mut direct = mysql_direct(server).await;
    let db = &server.opts.database;
    let mut outcomes = Vec::new();
    for a in MYSQL_ATTEMPTS {
        outcomes.push(run_mysql_attempt(MysqlRoute::Direct(server), &mut direct, db, a).await);
    }
    calibrate("MySQL", MYSQL_ATTEMPTS, &outcomes);
}

/// Collects what went wrong in the ordinary-use tests.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check<T, E: std::fmt::Display>(&mut self, what: &str, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.0.push(format!("{what}: {e}"))).ok()
    }

    fn expect_eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.0.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }

    fn assert_none(self, protocol: &str) {
        assert!(
            self.0.is_empty(),
            "{protocol}: {} problem(s):\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ordinary_sql_works_and_dbas_may_write_code() {
    let upstream = pg_scram();
    let (proxy, notes) = start(|| upstream.into()).await;
    let direct = pg_direct(upstream).await;
    let mut p = Problems(notes);
    let t = format!("{}x", unique("app"));
    direct
        .batch_execute(&format!(
            "CREATE TABLE {t} (id int PRIMARY KEY, n int NOT NULL, note text);
             INSERT INTO {t} SELECT g, g * 10, 'row ' || g FROM generate_series(1, 5) g;
             CREATE TABLE {t}_o (k int); INSERT INTO {t}_o VALUES (1)"
        ))
        .await
        .unwrap();

    let mut m = pg_login(&proxy, MALLORY.0, MALLORY.1, None)
        .await
        .expect("mallory logs in");
    if let Some(row) = p.check(
        "SELECT count(*)",
        m.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await,
    ) {
        p.expect_eq("SELECT count(*)", row.get::<_, i64>(0), 5);
    }
    let simple = [
        format!("UPDATE {t} SET note = 'changed' WHERE id = 1"),
        format!("DELETE FROM {t} WHERE id = 2"),
        format!("BEGIN; INSERT INTO {t} VALUES (7, 70, 'row 7'); UPDATE {t} SET n = n + 1 WHERE id = 3; COMMIT"),
        format!("BEGIN; INSERT INTO {t} VALUES (8, 80, 'row 8'); ROLLBACK"),
        format!("INSERT INTO {t} VALUES (9, 90, 'DROP TABLE users; DELETE FROM users -- ''')"),
        "SELECT 'CREATE FUNCTION f() RETURNS void AS $$ TRUNCATE t $$', $$DROP TABLE x$$".to_string(),
        format!("DELETE FROM {t} WHERE id IN (SELECT k + 3 FROM {t}_o)"),
        format!("WITH s AS (SELECT id FROM {t} WHERE id = 5) UPDATE {t} SET note = NULL WHERE id IN (SELECT id FROM s)"),
        format!("EXPLAIN SELECT * FROM {t} WHERE id = 1"),
    ];
    for sql in &simple {
        p.check(sql, m.simple_query(sql).await);
    }
    p.check(
        "INSERT with parameters",
        m.execute(
            &format!("INSERT INTO {t} VALUES ($1, $2, $3)"),
            &[&6i32, &60i32, &"row 6"],
        )
        .await,
    );
    if let Some(statement) = p.check(
        "prepare a lookup",
        m.prepare(&format!("SELECT note FROM {t} WHERE id = $1"))
            .await,
    ) {
        for id in [1i32, 6] {
            let want = if id == 1 { "changed" } else { "row 6" };
            if let Some(row) = p.check(
                "run a prepared lookup",
                m.query_one(&statement, &[&id]).await,
            ) {
                p.expect_eq("prepared lookup", row.get::<_, String>(0), want.to_string());
            }
        }
    }
    p.check(
        "a transaction over the extended protocol",
        async {
            let tx = m.transaction().await?;
            tx.execute(&format!("UPDATE {t} SET n = n + 1 WHERE id = $1"), &[&7i32])
                .await?;
            tx.commit().await
        }
        .await,
    );
    let rows: Vec<(i32, i32, Option<String>)> = direct
        .query(&format!("SELECT id, n, note FROM {t} ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    p.expect_eq(
        "the table after mallory's work",
        rows,
        vec![
            (1, 10, Some("changed".into())),
            (3, 31, Some("row 3".into())),
            (5, 50, None),
            (6, 60, Some("row 6".into())),
            (7, 71, Some("row 7".into())),
            (
                9,
                90,
                Some("DROP TABLE users; DELETE FROM users -- '".into()),
            ),
        ],
    );

    // dora (dba) may write code; DROP is still not hers to run.
    let d = pg_login(&proxy, DORA.0, DORA.1, None)
        .await
        .expect("dora logs in");
    for sql in [
        format!("CREATE FUNCTION {t}_f() RETURNS int LANGUAGE sql AS 'SELECT 42'"),
        format!("CREATE PROCEDURE {t}_p() LANGUAGE sql AS $$ UPDATE {t} SET n = n WHERE id = 1 $$"),
        format!("CALL {t}_p()"),
        "DO $$ BEGIN PERFORM 1; END $$".to_string(),
    ] {
        p.check(&format!("dora: {sql}"), d.simple_query(&sql).await);
    }
    if let Some(row) = p.check(
        "dora: SELECT f()",
        d.query_one(&format!("SELECT {t}_f()"), &[]).await,
    ) {
        p.expect_eq("dora's function", row.get::<_, i32>(0), 42);
    }
    let made: i64 = direct
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE proname IN ($1, $2)",
            &[&format!("{t}_f"), &format!("{t}_p")],
        )
        .await
        .unwrap()
        .get(0);
    p.expect_eq("dora's function and procedure exist", made, 2);
    match d.simple_query(&format!("DROP TABLE {t}")).await {
        Ok(_) => p.0.push("dora: DROP TABLE ran".into()),
        Err(e) if pg_refused_by(&e, "no-drop") => {}
        Err(e) => p.0.push(format!("dora: DROP TABLE failed otherwise: {e}")),
    }
    // mallory may still call dora's function (calling is a SELECT).
    if let Ok(messages) = m.simple_query(&format!("SELECT {t}_f()")).await {
        let value = messages.iter().find_map(|msg| match msg {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        });
        p.expect_eq(
            "mallory calls dora's function",
            value.as_deref(),
            Some("42"),
        );
    } else {
        p.0.push("mallory could not call dora's harmless function".into());
    }
    p.assert_none("PostgreSQL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_ordinary_sql_works_and_dbas_may_write_code() {
    let server = mariadb_native();
    let (proxy, notes) = start(|| server.into()).await;
    let mut direct = mysql_direct(server).await;
    let mut p = Problems(notes);
    let t = format!("{}x", unique("app"));
    direct
        .query_drop(format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, n INT NOT NULL, note VARCHAR(60));
             INSERT INTO {t} VALUES (1, 10, 'row 1'), (2, 20, 'row 2'), (3, 30, 'row 3'), (4, 40, 'row 4'), (5, 50, 'row 5');
             CREATE TABLE {t}_o (k INT); INSERT INTO {t}_o VALUES (1)"
        ))
        .await
        .unwrap();

    let mut m = mysql_login(&proxy, MALLORY.0, MALLORY.1)
        .await
        .expect("mallory logs in");
    let n: Option<Option<i64>> = p.check(
        "SELECT COUNT(*)",
        m.query_first(format!("SELECT COUNT(*) FROM {t}")).await,
    );
    p.expect_eq("SELECT COUNT(*)", n.flatten(), Some(5));
    let text_statements = [
        format!("UPDATE {t} SET note = 'changed' WHERE id = 1"),
        format!("DELETE FROM {t} WHERE id = 2"),
        format!("START TRANSACTION; INSERT INTO {t} VALUES (7, 70, 'row 7'); UPDATE {t} SET n = n + 1 WHERE id = 3; COMMIT"),
        format!("START TRANSACTION; INSERT INTO {t} VALUES (8, 80, 'row 8'); ROLLBACK"),
        format!("INSERT INTO {t} VALUES (9, 90, 'DROP TABLE users; DELETE FROM users -- ''')"),
        "SELECT 'CREATE PROCEDURE p() DELETE FROM t', \"EXECUTE IMMEDIATE 'DROP TABLE x'\"".to_string(),
        format!("DELETE FROM {t} WHERE id IN (SELECT k + 3 FROM {t}_o)"),
        format!("UPDATE {t} SET note = NULL WHERE id = 5"),
        format!("EXPLAIN SELECT * FROM {t} WHERE id = 1"),
    ];
    for sql in &text_statements {
        p.check(sql, m.query_drop(sql).await);
    }
    p.check(
        "prepared INSERT",
        m.exec_drop(
            format!("INSERT INTO {t} VALUES (?, ?, ?)"),
            (6, 60, "row 6"),
        )
        .await,
    );
    for (id, want) in [(1, "changed"), (6, "row 6")] {
        let got: Option<Option<String>> = p.check(
            "prepared lookup",
            m.exec_first(format!("SELECT note FROM {t} WHERE id = ?"), (id,))
                .await,
        );
        p.expect_eq("prepared lookup", got.flatten(), Some(want.to_string()));
    }
    p.check(
        "prepared UPDATE … WHERE id = ?",
        m.exec_drop(format!("UPDATE {t} SET n = n + 1 WHERE id = ?"), (7,))
            .await,
    );
    let rows: Vec<(i32, i32, Option<String>)> = direct
        .query(format!("SELECT id, n, note FROM {t} ORDER BY id"))
        .await
        .unwrap();
    p.expect_eq(
        "the table after mallory's work",
        rows,
        vec![
            (1, 10, Some("changed".into())),
            (3, 31, Some("row 3".into())),
            (5, 50, None),
            (6, 60, Some("row 6".into())),
            (7, 71, Some("row 7".into())),
            (
                9,
                90,
                Some("DROP TABLE users; DELETE FROM users -- '".into()),
            ),
        ],
    );

    let mut d = mysql_login(&proxy, DORA.0, DORA.1)
        .await
        .expect("dora logs in");
    for sql in [
        format!("CREATE FUNCTION {t}_f() RETURNS INT DETERMINISTIC RETURN 42"),
        format!("CREATE PROCEDURE {t}_p() UPDATE {t} SET n = n WHERE id = 1"),
        format!("CALL {t}_p()"),
        "PREPARE s FROM 'SELECT 1'".to_string(),
        "EXECUTE s".to_string(),
        "EXECUTE IMMEDIATE 'SELECT 1'".to_string(),
    ] {
        p.check(&format!("dora: {sql}"), d.query_drop(&sql).await);
    }
    let got: Option<Option<i64>> = p.check(
        "dora: SELECT f()",
        d.query_first(format!("SELECT {t}_f()")).await,
    );
    p.expect_eq("dora's function", got.flatten(), Some(42));
    let made: Option<i64> = direct
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE() AND routine_name IN (?, ?)",
            (format!("{t}_f"), format!("{t}_p")),
        )
        .await
        .unwrap();
    p.expect_eq("dora's function and procedure exist", made, Some(2));
    match d.query_drop(format!("DROP TABLE {t}")).await {
        Ok(()) => p.0.push("dora: DROP TABLE ran".into()),
        Err(e) if mysql_refused_by(&e, "no-drop") => {}
        Err(e) => p.0.push(format!("dora: DROP TABLE failed otherwise: {e}")),
    }
    let got: Option<Option<i64>> = p.check(
        "mallory calls dora's function",
        m.query_first(format!("SELECT {t}_f()")).await,
    );
    p.expect_eq("mallory calls dora's function", got.flatten(), Some(42));
    let _ = m.disconnect().await;
    let _ = d.disconnect().await;
    p.assert_none("MySQL");
}
