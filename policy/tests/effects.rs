//! Rules that cannot be talked around: code, bodies, destructive DDL not called DROP, and
//! WHERE clauses that decide nothing, however the statement is spelled or wrapped.

use policy::{
    analyze, Decision, Dialect, KindSelector, RuleAction, RuleConfig, RuleSet, StatementInfo,
    StatementKind as K, Subject,
};

const PG: Dialect = Dialect::Postgres;
const MY: Dialect = Dialect::MySql;

fn rules(text: &str, on_parse_error: RuleAction) -> RuleSet {
    #[derive(serde::Deserialize)]
    struct Config {
        rules: Vec<RuleConfig>,
    }
    let config: Config = toml::from_str(text).expect("rules parse");
    RuleSet::compile(&config.rules, on_parse_error).expect("rules compile")
}

fn one_rule(statements: &str, without_where: bool) -> RuleSet {
    let ww = if without_where {
        ", without_where = true"
    } else {
        ""
    };
    rules(
        &format!(
            "[[rules]]\nname = \"r\"\nwhen = {{ statements = {statements}{ww} }}\naction = \"block\""
        ),
        RuleAction::Allow,
    )
}

fn decide(set: &RuleSet, dialect: Dialect, sql: &str) -> (Decision, Option<String>) {
    let v = set.evaluate(
        &analyze(dialect, sql),
        &Subject {
            user: "u",
            groups: &[],
            target: "t",
        },
    );
    (v.decision, v.rule)
}

fn blocked_by_rule(set: &RuleSet, dialect: Dialect, sql: &str) -> bool {
    decide(set, dialect, sql) == (Decision::Block, Some("r".to_string()))
}

/// The statement of `sql` that says the most: the first with code or effects, else the first.
fn info(dialect: Dialect, sql: &str) -> StatementInfo {
    let a = analyze(dialect, sql);
    let pick = a
        .statements
        .iter()
        .find(|s| s.code || !s.effects.is_empty())
        .or(a.statements.first())
        .cloned();
    pick.unwrap_or_else(|| panic!("{sql}: no statement"))
}

const CODE_PG: &[&str] = &[
    "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DROP TABLE t'",
    "CREATE OR REPLACE FUNCTION f() RETURNS void AS $$ BEGIN EXECUTE 'DROP TABLE t'; END $$ LANGUAGE plpgsql",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM t; SELECT 1; END",
    "CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM t $$",
    "CREATE OR REPLACE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN UPDATE t SET a = 1; END $$",
    "CREATE TRIGGER tr BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION f()",
    "CREATE OR REPLACE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE PROCEDURE f()",
    "CREATE CONSTRAINT TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
    "CREATE RULE r AS ON DELETE TO t DO INSTEAD DELETE FROM u",
    "CREATE OR REPLACE RULE r AS ON INSERT TO t DO ALSO NOTHING",
    "DO $$ BEGIN PERFORM 1; END $$",
    "DO LANGUAGE plpgsql $b$ BEGIN EXECUTE 'TRUNCATE t'; END $b$",
    "/* c */ do $$ begin null; end $$;",
    // Extensions install code; these run SQL (or programs) sluice cannot see.
    "CREATE EXTENSION dblink",
    "CREATE EXTENSION IF NOT EXISTS postgres_fdw WITH SCHEMA public",
    "SELECT dblink_exec('dbname=app', 'DROP TABLE t')",
    "SELECT * FROM dblink('dbname=app', 'DELETE FROM t RETURNING 1') AS r(x int)",
    "SELECT public.dblink_exec('dbname=app', 'TRUNCATE t')",
    "SELECT dblink_send_query('c', 'DELETE FROM t')",
    "COPY (SELECT 1) TO PROGRAM 'psql -c \"DELETE FROM t\"'",
    "COPY t FROM PROGRAM 'cat /etc/passwd'",
    // Files on the database host: writing one can overwrite a table's own storage.
    "COPY (SELECT 'garbage') TO '/var/lib/postgresql/15/main/base/1/2'",
    "COPY t FROM '/tmp/rows.csv'",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_export(1234, '/var/lib/postgresql/x')",
    "SELECT pg_read_file('/etc/passwd')",
];

const CODE_MY: &[&str] = &[
    "CREATE PROCEDURE p() BEGIN DELETE FROM t; END",
    "CREATE DEFINER=`root`@`localhost` PROCEDURE p(IN x INT) BEGIN SELECT x; END",
    "CREATE DEFINER = 'root'@'%' FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1",
    "CREATE FUNCTION f() RETURNS int DETERMINISTIC RETURN 1",
    "CREATE AGGREGATE FUNCTION f(x INT) RETURNS INT BEGIN RETURN 1; END",
    "CREATE OR REPLACE PROCEDURE p() SELECT 1",
    "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW DELETE FROM u",
    "CREATE TRIGGER tr AFTER UPDATE ON t FOR EACH ROW FOLLOWS other SET NEW.a = 1",
    "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
    "CREATE DEFINER=CURRENT_USER EVENT IF NOT EXISTS e ON SCHEDULE AT NOW() DO SELECT 1",
    "ALTER EVENT e ON SCHEDULE EVERY 2 DAY DO DELETE FROM t WHERE id = 1",
    "PREPARE s FROM 'DELETE FROM t'",
    "PREPARE s FROM 'SELECT 1'",
    "PREPARE s FROM @q",
    "EXECUTE IMMEDIATE 'DROP TABLE t'",
    "EXECUTE IMMEDIATE CONCAT('DROP ', 'TABLE t')",
    "BEGIN NOT ATOMIC DELETE FROM t; END",
    "begin not atomic declare x int; set x = 1; end",
    "/*!50003 CREATE PROCEDURE p() SELECT 1 */",
];

#[test]
fn code_is_a_kind_rules_select() {
    let code = one_rule("[\"code\"]", false);
    let alias = one_rule("[\"do\"]", false);
    for (dialect, corpus) in [(PG, CODE_PG), (MY, CODE_MY)] {
        for sql in corpus {
            assert!(info(dialect, sql).code, "{sql}: not code");
            assert!(blocked_by_rule(&code, dialect, sql), "{sql}");
            assert!(blocked_by_rule(&alias, dialect, sql), "{sql} (\"do\")");
        }
    }
    // Primary kinds stay what they were.
    assert_eq!(info(PG, CODE_PG[0]).kind, K::Create);
    assert_eq!(info(PG, "DO $$ BEGIN END $$").kind, K::Other);
    assert!(KindSelector::Code.matches(&info(MY, "PREPARE s FROM @q")));
    assert!(info(MY, "PREPARE s FROM @q").opaque_code);
    assert!(!info(MY, "PREPARE s FROM 'SELECT 1'").opaque_code);
    assert!(
        info(PG, CODE_PG[1]).opaque_code,
        "plpgsql cannot be seen into"
    );
    assert!(!info(PG, CODE_PG[0]).opaque_code, "a SQL body can");
}

#[test]
fn plain_statements_are_not_code() {
    let code = one_rule("[\"code\"]", false);
    for (dialect, sql) in [
        (PG, "CREATE TABLE function (a int)"),
        (PG, "CREATE TABLE t (a int REFERENCES u ON DELETE CASCADE)"),
        (PG, "CREATE VIEW trigger AS SELECT 1"),
        (PG, "CREATE INDEX event ON t (a)"),
        (PG, "SELECT * FROM t WHERE a = 'CREATE FUNCTION'"),
        (PG, "PREPARE s AS SELECT 1"),
        (PG, "EXECUTE s"),
        (PG, "BEGIN"),
        (MY, "BEGIN"),
        (MY, "BEGIN WORK"),
        (MY, "EXECUTE s"),
        (MY, "CREATE TABLE event (a INT)"),
        (MY, "DROP PROCEDURE p"),
    ] {
        assert!(!blocked_by_rule(&code, dialect, sql), "{sql}");
    }
}

#[test]
fn bodies_count_for_the_defining_statement() {
    let drop = one_rule("[\"drop\"]", false);
    for (dialect, sql) in [
        (PG, "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DROP TABLE t'"),
        (PG, "CREATE FUNCTION f() RETURNS void AS $$ DROP TABLE t $$ LANGUAGE sql"),
        (PG, "CREATE FUNCTION f() RETURNS void AS 'DROP TABLE t'"),
        (PG, "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DROP TABLE t; SELECT 1; END"),
        (PG, "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP TABLE t'; END $$"),
        (PG, "CREATE FUNCTION f() RETURNS void LANGUAGE 'plpgsql' AS $$ BEGIN EXECUTE format('drop table %I', 't'); END $$"),
        (PG, "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN ALTER TABLE t DROP COLUMN c; END $$"),
        (PG, "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'ALTER TABLE t ALTER COLUMN c TYPE int'"),
        (PG, "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'EXECUTE ''DROP TABLE t'''; END $$"),
        (PG, "DO $$ BEGIN DROP TABLE t; END $$"),
        (PG, "CREATE RULE r AS ON INSERT TO t DO INSTEAD DROP TABLE u"),
        (MY, "CREATE PROCEDURE p() BEGIN DROP TABLE t; END"),
        (MY, "CREATE PROCEDURE p() BEGIN IF 1 THEN DROP TABLE t; END IF; END"),
        (MY, "CREATE PROCEDURE p() BEGIN SET @s = CONCAT('DROP TABLE ', 't'); PREPARE st FROM @s; EXECUTE st; END"),
        (MY, "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DROP TABLE t"),
        (MY, "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW ALTER TABLE u RENAME TO v"),
        (MY, "PREPARE s FROM 'DROP TABLE t'"),
        (MY, "PREPARE s FROM \"DROP TABLE t\""),
        (MY, "EXECUTE IMMEDIATE 'DROP TABLE t'"),
        (MY, "PREPARE s FROM '\\DROP TABLE t'"),
        (MY, "PREPARE s FROM 'DR\\OP TABLE t'"),
        (MY, "PREPARE s FROM 'DROP\\tTABLE t'"),
        (MY, "PREPARE s FROM 'garbage garbage; DROP TABLE t'"),
        (MY, "BEGIN NOT ATOMIC DROP TABLE t; END"),
    ] {
        assert!(blocked_by_rule(&drop, dialect, sql), "{sql}");
        let i = info(dialect, sql);
        assert!(i.kinds().any(|k| k == K::Drop), "{sql}: {:?}", i.kinds().collect::<Vec<_>>());
    }
    // A body that only reads does not drop.
    for (dialect, sql) in [
        (
            PG,
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ),
        (
            PG,
            "CREATE TRIGGER tr BEFORE DELETE ON t FOR EACH ROW EXECUTE FUNCTION f()",
        ),
        (MY, "CREATE PROCEDURE p() BEGIN SELECT * FROM t; END"),
        (MY, "PREPARE s FROM 'SELECT 1'"),
    ] {
        assert!(!blocked_by_rule(&drop, dialect, sql), "{sql}");
    }
}

#[test]
fn a_bodys_where_decides_without_where() {
    let unbounded = one_rule("[\"delete\", \"update\"]", true);
    for (dialect, sql) in [
        (MY, "CREATE PROCEDURE p() BEGIN DELETE FROM t; END"),
        (MY, "CREATE PROCEDURE p() BEGIN DELETE FROM t WHERE id = 1; UPDATE t SET a = 1; END"),
        (MY, "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t WHERE (SELECT 1)"),
        (MY, "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW DELETE FROM u"),
        (MY, "PREPARE s FROM 'DELETE FROM t'"),
        (MY, "EXECUTE IMMEDIATE 'UPDATE t SET a = 1'"),
        (MY, "BEGIN NOT ATOMIC DELETE FROM t; END"),
        (PG, "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM t'"),
        (PG, "CREATE PROCEDURE p() LANGUAGE sql AS $$ UPDATE t SET a = 1 WHERE true $$"),
        (PG, "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM t; SELECT 1; END"),
        (PG, "DO $$ BEGIN DELETE FROM t; END $$"),
        (PG, "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF true THEN DELETE FROM t; END IF; RETURN NULL; END $$"),
        // Dynamic SQL fails closed: its DELETE counts as unbounded.
        (PG, "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DELETE FROM t WHERE id = 1'; END $$"),
    ] {
        assert!(blocked_by_rule(&unbounded, dialect, sql), "{sql}");
    }
    for (dialect, sql) in [
        (
            MY,
            "CREATE PROCEDURE p() BEGIN DELETE FROM t WHERE id = 1; END",
        ),
        (MY, "ALTER EVENT e DO DELETE FROM t WHERE id = 1"),
        (MY, "PREPARE s FROM 'DELETE FROM t WHERE id = ?'"),
        (
            PG,
            "CREATE FUNCTION f(x int) RETURNS void LANGUAGE sql AS 'DELETE FROM t WHERE id = x'",
        ),
        (PG, "CREATE FUNCTION f(x int) RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t WHERE id = x; END $$"),
        (PG, "DO $$ BEGIN UPDATE t SET a = 1 WHERE id = 3; END $$"),
    ] {
        assert!(!blocked_by_rule(&unbounded, dialect, sql), "{sql}");
        let write = one_rule("[\"delete\", \"update\"]", false);
        assert!(
            blocked_by_rule(&write, dialect, sql),
            "{sql}: the write still counts"
        );
    }
}

const DESTRUCTIVE_ALTER_PG: &[(&str, K)] = &[
    ("ALTER TABLE t DROP COLUMN c", K::Drop),
    ("ALTER TABLE t DROP COLUMN IF EXISTS c CASCADE", K::Drop),
    ("ALTER TABLE t DROP CONSTRAINT t_pkey", K::Drop),
    (
        "ALTER TABLE IF EXISTS ONLY t ADD COLUMN d int, DROP COLUMN c",
        K::Drop,
    ),
    ("ALTER TABLE t ALTER COLUMN c TYPE bigint", K::Drop),
    ("ALTER TABLE t ALTER c TYPE text USING c::text", K::Drop),
    (
        "ALTER TABLE t ALTER COLUMN c SET DATA TYPE int USING 0",
        K::Drop,
    ),
    (
        "ALTER TABLE t ADD COLUMN d int, ALTER COLUMN type TYPE int",
        K::Drop,
    ),
    ("ALTER TABLE t RENAME TO u", K::Drop),
    ("ALTER TABLE t RENAME COLUMN a TO b", K::Drop),
    ("ALTER TABLE t RENAME a TO b", K::Drop),
    ("ALTER TABLE t DETACH PARTITION p", K::Drop),
    ("ALTER TABLE t DETACH PARTITION p CONCURRENTLY", K::Drop),
    ("ALTER VIEW v RENAME TO w", K::Drop),
    ("ALTER SCHEMA s RENAME TO s2", K::Drop),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", K::Drop),
    ("DROP OWNED BY bob", K::Drop),
    ("DROP SCHEMA s CASCADE", K::Drop),
    ("DROP TABLE IF EXISTS t", K::Drop),
    ("ALTER TABLE t DROP COLUMN c (((", K::Drop),
];

const DESTRUCTIVE_ALTER_MY: &[(&str, K)] = &[
    ("ALTER TABLE t DROP COLUMN c", K::Drop),
    ("ALTER TABLE t DROP c", K::Drop),
    ("ALTER TABLE t DROP PRIMARY KEY", K::Drop),
    ("ALTER TABLE t DROP FOREIGN KEY fk", K::Drop),
    ("ALTER TABLE t DROP INDEX i", K::Drop),
    ("ALTER TABLE t DROP PARTITION p0", K::Drop),
    ("ALTER TABLE t ADD COLUMN d INT, DROP CHECK ck", K::Drop),
    ("ALTER TABLE t MODIFY COLUMN a BIGINT", K::Drop),
    ("ALTER TABLE t MODIFY a VARCHAR(3)", K::Drop),
    ("ALTER TABLE t CHANGE a b INT", K::Drop),
    ("ALTER TABLE t CHANGE COLUMN a a TINYINT", K::Drop),
    ("ALTER TABLE t TRUNCATE PARTITION p0", K::Truncate),
    ("ALTER TABLE t TRUNCATE PARTITION ALL", K::Truncate),
    ("ALTER TABLE t RENAME TO u", K::Drop),
    ("ALTER TABLE t RENAME COLUMN a TO b", K::Drop),
    ("ALTER TABLE t EXCHANGE PARTITION p WITH TABLE u", K::Drop),
    ("ALTER TABLE t DISCARD TABLESPACE", K::Drop),
    ("ALTER TABLE t ENGINE = BLACKHOLE", K::Drop),
    ("ALTER ONLINE TABLE t DROP COLUMN c", K::Drop),
    ("RENAME TABLE a TO b", K::Drop),
    ("RENAME TABLE a TO b, c TO d", K::Drop),
    ("CREATE OR REPLACE TABLE t (a INT)", K::Drop),
    ("CREATE OR REPLACE TABLE t AS SELECT 1", K::Drop),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", K::Drop),
    ("CREATE OR REPLACE SEQUENCE s", K::Drop),
    ("DROP TEMPORARY TABLE t", K::Drop),
    ("DROP TABLE IF EXISTS t", K::Drop),
    ("DROP DATABASE d", K::Drop),
    ("/*!40000 ALTER TABLE t DROP COLUMN c */", K::Drop),
];

#[test]
fn destructive_ddl_has_the_effect_it_has() {
    let set = one_rule("[\"drop\", \"truncate\"]", false);
    for (dialect, corpus) in [(PG, DESTRUCTIVE_ALTER_PG), (MY, DESTRUCTIVE_ALTER_MY)] {
        for (sql, effect) in corpus {
            let i = info(dialect, sql);
            assert!(
                i.kinds().any(|k| k == *effect),
                "{sql}: {:?}",
                i.kinds().collect::<Vec<_>>()
            );
            assert!(blocked_by_rule(&set, dialect, sql), "{sql}");
            if sql.starts_with("ALTER") {
                assert_eq!(i.kind, K::Alter, "{sql}");
            }
        }
    }
}

#[test]
fn harmless_alters_are_not_drops() {
    let set = one_rule("[\"drop\", \"truncate\"]", false);
    for (dialect, sql) in [
        (PG, "ALTER TABLE t ADD COLUMN c int"),
        (PG, "ALTER TABLE t ADD COLUMN type int"),
        (PG, "ALTER TABLE t ALTER COLUMN c SET DEFAULT 1"),
        (PG, "ALTER TABLE t ALTER COLUMN c DROP DEFAULT"),
        (PG, "ALTER TABLE t ALTER COLUMN c DROP NOT NULL"),
        (PG, "ALTER TABLE t ALTER COLUMN type SET NOT NULL"),
        (
            PG,
            "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id) ON DELETE CASCADE",
        ),
        (PG, "CREATE VIEW v AS SELECT 1"),
        (PG, "CREATE TABLE t (a int)"),
        (MY, "ALTER TABLE t ADD COLUMN c INT"),
        (MY, "ALTER TABLE t ALTER COLUMN c DROP DEFAULT"),
        (MY, "ALTER TABLE t ADD INDEX i (a)"),
        (MY, "ALTER TABLE t ENGINE = InnoDB"),
        (MY, "CREATE TABLE t (a INT)"),
    ] {
        assert!(!blocked_by_rule(&set, dialect, sql), "{sql}");
    }
}

const CONSTANT_WHERE: &[(Dialect, &str)] = &[
    (PG, "DELETE FROM t WHERE (SELECT true)"),
    (PG, "DELETE FROM t WHERE coalesce(null, true)"),
    (PG, "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u)"),
    (PG, "DELETE FROM t WHERE now() > '2000-01-01'"),
    (PG, "DELETE FROM t WHERE random() < 2"),
    (PG, "DELETE FROM t WHERE current_user = 'x'"),
    (PG, "DELETE FROM t WHERE 'a' IN (SELECT name FROM u)"),
    (PG, "DELETE FROM t WHERE $1"),
    (PG, "DELETE FROM t WHERE (SELECT count(*) FROM u) > 0"),
    (
        PG,
        "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE flag)",
    ),
    (
        PG,
        "DELETE FROM t AS x WHERE EXISTS (SELECT 1 FROM u AS x WHERE x.flag)",
    ),
    (PG, "DELETE FROM t WHERE 1 = 2"),
    (PG, "UPDATE t SET a = 1 WHERE (SELECT true)"),
    (PG, "UPDATE t SET a = 1 WHERE now() > '2000-01-01'"),
    (PG, "UPDATE t SET a = 1 WHERE $1"),
    (
        PG,
        "UPDATE t SET a = 1 WHERE EXISTS (SELECT 1 FROM u WHERE flag)",
    ),
    (
        PG,
        "WITH d AS (DELETE FROM t WHERE (SELECT true) RETURNING *) SELECT * FROM d",
    ),
    (PG, "EXPLAIN ANALYZE DELETE FROM t WHERE random() < 2"),
    (PG, "DELETE FROM t WHERE id = id"),
    (PG, "DELETE FROM t WHERE x OR 1=1"),
    (MY, "DELETE FROM t WHERE (SELECT 1)"),
    (MY, "DELETE FROM t WHERE coalesce(null, true)"),
    (MY, "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u)"),
    (MY, "DELETE FROM t WHERE now() > '2000-01-01'"),
    (MY, "DELETE FROM t WHERE rand() < 2"),
    (MY, "DELETE FROM t WHERE current_user = 'x'"),
    (MY, "DELETE FROM t WHERE current_user() = 'x'"),
    (MY, "DELETE FROM t WHERE 'a' IN (SELECT name FROM u)"),
    (MY, "DELETE FROM t WHERE ?"),
    (MY, "DELETE FROM t WHERE @flag"),
    (MY, "DELETE FROM t WHERE \"id\" = 5"),
    (MY, "DELETE FROM t WHERE (SELECT count(*) FROM u) > 0"),
    (
        MY,
        "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE flag)",
    ),
    (MY, "UPDATE t SET a = 1 WHERE (SELECT 1)"),
    // A constant conjunct bounds nothing, a tautology neither: the AND of both bounds nothing.
    (
        PG,
        "DELETE FROM t WHERE current_timestamp IS NOT NULL AND id = id",
    ),
    // Tautologies through no-op arithmetic, functions, complements and self-membership.
    (PG, "DELETE FROM t WHERE id = id + 0"),
    (PG, "DELETE FROM t WHERE id * 1 >= id"),
    (PG, "DELETE FROM t WHERE coalesce(id, 0) = coalesce(id, 0)"),
    (PG, "DELETE FROM t WHERE lower(name) = lower(name)"),
    (PG, "UPDATE t SET v = NULL WHERE v IS NULL OR v IS NOT NULL"),
    (PG, "DELETE FROM t WHERE v = 'x' OR NOT v = 'x'"),
    (PG, "DELETE FROM t WHERE id IN (SELECT id)"),
    (PG, "DELETE FROM t WHERE id IN (id, 7)"),
    (MY, "DELETE FROM t WHERE id = id + 0"),
    (MY, "UPDATE t SET v = NULL WHERE v IS NULL OR v IS NOT NULL"),
    // The whole row and `tableoid` are not per-row tests of a column.
    (PG, "DELETE FROM t WHERE t IS NOT NULL"),
    (PG, "DELETE FROM t AS v WHERE v IS NOT NULL"),
    (PG, "UPDATE t SET v = NULL WHERE t IS NOT NULL"),
    (PG, "DELETE FROM t WHERE tableoid > 0"),
    (PG, "DELETE FROM t WHERE t.tableoid = 't'::regclass"),
    // System columns hold for every row.
    (PG, "DELETE FROM t WHERE ctid IS NOT NULL"),
    (PG, "DELETE FROM t WHERE ctid > '(0,0)'"),
    (PG, "DELETE FROM t WHERE xmin::text <> ''"),
    (PG, "UPDATE t SET v = NULL WHERE xmax = 0"),
    (PG, "DELETE FROM t WHERE t.cmin IS NOT NULL"),
    // A column compared with itself, however wrapped.
    (PG, "DELETE FROM t WHERE id BETWEEN id AND id"),
    (PG, "DELETE FROM t WHERE NOT id <> id"),
    (PG, "DELETE FROM t WHERE id - id = 0"),
    (PG, "DELETE FROM t WHERE greatest(id, id) = id"),
    (PG, "DELETE FROM t WHERE id = coalesce(id)"),
    (PG, "DELETE FROM t WHERE id = least(id)"),
    (PG, "DELETE FROM t WHERE (id = id) = true"),
    (PG, "DELETE FROM t WHERE id = id IS TRUE"),
    (PG, "UPDATE t SET v = NULL WHERE id = -(-id)"),
    (PG, "DELETE FROM t WHERE id = nullif(id, -99)"),
    (PG, "DELETE FROM t WHERE id = CASE WHEN true THEN id END"),
    (PG, "DELETE FROM t WHERE id = ANY(ARRAY[id])"),
    (PG, "DELETE FROM t WHERE id = (SELECT t.id)"),
    (
        PG,
        "DELETE FROM t WHERE EXISTS (SELECT 1 WHERE t.id = t.id)",
    ),
    // Complements and patterns that match everything.
    (PG, "DELETE FROM t WHERE id = 1 OR (id = 1) IS NOT TRUE"),
    (
        PG,
        "UPDATE t SET v = NULL WHERE (v = 'a') IS NOT NULL OR v IS NULL",
    ),
    (PG, "UPDATE t SET v = NULL WHERE id = 1 OR id <> 1"),
    (PG, "DELETE FROM t WHERE id::text ~ ''"),
    (PG, "DELETE FROM t WHERE v ~ '' OR v IS NULL"),
    (MY, "DELETE FROM t WHERE id <=> id"),
    (MY, "UPDATE t SET v = NULL WHERE id = id DIV 1"),
    (MY, "UPDATE t SET v = NULL WHERE id = ifnull(id, 0)"),
    (MY, "UPDATE t SET v = NULL WHERE id LIKE id"),
    (MY, "DELETE FROM t WHERE v REGEXP ''"),
    // MySQL reads || as OR and && as AND (without PIPES_AS_CONCAT).
    (MY, "DELETE FROM t WHERE id = 1 || 1"),
    (MY, "DELETE FROM t WHERE id = 0 || true"),
    (MY, "DELETE FROM t WHERE id = 1 && 1 || 1"),
    // The table joined to itself: every row meets itself.
    (PG, "DELETE FROM t USING t u WHERE t.id = u.id"),
    (PG, "UPDATE t SET v = NULL FROM t u WHERE t.id = u.id"),
    (PG, "DELETE FROM t WHERE id IN (SELECT id FROM t)"),
    (PG, "DELETE FROM t WHERE t.id IN (SELECT id FROM t)"),
    (MY, "DELETE a FROM t a JOIN t b ON a.id = b.id"),
    (MY, "DELETE a FROM t a NATURAL JOIN t b"),
    (MY, "DELETE a FROM t a JOIN t b USING (id)"),
    (MY, "DELETE a FROM t a, t b WHERE a.id = b.id"),
    (MY, "UPDATE t a JOIN t b ON a.id = b.id SET a.v = NULL"),
    // Third round: wrappers around the same column, empty quantifiers, patterns that match
    // the empty string, and copies of the table through ANY and VALUES.
    (PG, "DELETE FROM t WHERE id = coalesce(NULL, id)"),
    (MY, "DELETE FROM t WHERE id = ifnull(NULL, id)"),
    (PG, "DELETE FROM t WHERE NOT (id IS DISTINCT FROM id)"),
    (PG, "DELETE FROM t WHERE id = greatest(id, NULL)"),
    (PG, "DELETE FROM t WHERE id <> ALL(ARRAY[]::int[])"),
    (PG, "UPDATE t SET w = NULL WHERE v = v || ''"),
    (PG, "UPDATE t SET w = NULL WHERE v = v COLLATE \"C\""),
    (PG, "DELETE FROM t WHERE id + 1 > id"),
    (PG, "DELETE FROM t WHERE id < id + 1"),
    (PG, "DELETE FROM t WHERE v SIMILAR TO '%'"),
    (PG, "DELETE FROM t WHERE v ~ '()'"),
    (PG, "DELETE FROM t WHERE v ~ 'a|'"),
    (PG, "DELETE FROM t WHERE id = ANY(SELECT id FROM t)"),
    (PG, "DELETE FROM t WHERE id IN (VALUES (id))"),
    (MY, "DELETE FROM t WHERE id = SOME(SELECT id FROM t)"),
    // Fourth round: a copy filtered by a tautology, patterns built by concatenation, x * 0.
    (
        PG,
        "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE true)",
    ),
    (PG, "DELETE FROM t WHERE v LIKE '%' || ''"),
    (PG, "DELETE FROM t WHERE v LIKE concat('%'::text)"),
    (MY, "DELETE FROM t WHERE v LIKE concat('%')"),
    (PG, "DELETE FROM t WHERE id * 0 = 0"),
    (PG, "DELETE FROM t WHERE id >= least(id, 99)"),
    (
        PG,
        "DELETE FROM t WHERE id = CASE WHEN NULL::int IS NULL THEN id ELSE NULL::int END",
    ),
    (MY, "DELETE FROM t WHERE id = IF(1, id, 0)"),
    (MY, "DELETE FROM t WHERE id = id | 0"),
    (MY, "DELETE FROM t WHERE id = id ^ 0"),
    (PG, "DELETE FROM t WHERE (id = NULL::int) IS NULL"),
    (PG, "DELETE FROM t WHERE NOT (id = ANY('{}'::int[]))"),
    // No-ops cast or quoted: `0::int2`, and `'0'`, what a bound 0 becomes.
    (PG, "DELETE FROM t WHERE id = id + 0::int2"),
    (PG, "DELETE FROM t WHERE id = id + '0'"),
    (MY, "DELETE FROM t WHERE id = id - '0'"),
    // The table changed is the one SET names, and every table a DELETE lists must be bounded.
    (MY, "UPDATE o JOIN t SET t.v = NULL WHERE o.id = 1"),
    (MY, "DELETE t, o FROM t, o WHERE o.id = 1"),
    (MY, "UPDATE t SET a = 1 WHERE ?"),
    (MY, "DELETE FROM t WHERE id = id"),
    (MY, "DELETE FROM t WHERE x OR 1=1"),
    // A WHERE on a joined table only is a cross join: every row of the target goes.
    (PG, "DELETE FROM t USING u WHERE u.flag"),
    (PG, "UPDATE t SET a = 1 FROM other WHERE other.flag"),
    (MY, "DELETE t FROM t, o WHERE o.k = 1"),
    (MY, "DELETE t FROM t JOIN u ON true WHERE u.flag"),
    // An outer join keeps every row of the target: its condition bounds nothing.
    (MY, "DELETE t FROM t LEFT JOIN u ON t.id = u.tid"),
    (
        MY,
        "DELETE t FROM t LEFT JOIN u ON t.id = u.tid WHERE u.flag",
    ),
    // Over several tables a bare name may be any table's: only qualified names count.
    (PG, "UPDATE t SET a = 1 FROM other WHERE flag"),
];

const REAL_WHERE: &[(Dialect, &str)] = &[
    (PG, "DELETE FROM t WHERE id = 5"),
    (PG, "DELETE FROM t WHERE t.id IN (SELECT tid FROM u)"),
    (PG, "DELETE FROM t WHERE id = $1"),
    (PG, "DELETE FROM t AS x WHERE x.id = 3"),
    (
        PG,
        "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.tid = t.id)",
    ),
    (PG, "DELETE FROM t WHERE (SELECT flag)"),
    (PG, "DELETE FROM t USING u WHERE u.tid = t.id"),
    (PG, "UPDATE t SET a = 1 FROM other WHERE t.id = other.id"),
    (PG, "UPDATE t SET a = 1 WHERE id = 5"),
    (PG, "UPDATE t AS x SET a = 1 WHERE x.id = $1"),
    (PG, "UPDATE s.t SET a = 1 WHERE t.id = 1"),
    (MY, "DELETE FROM t WHERE id = 5"),
    (MY, "DELETE FROM t WHERE t.id IN (SELECT tid FROM u)"),
    (MY, "DELETE FROM t WHERE id = ?"),
    (MY, "DELETE FROM t AS x WHERE x.id = 3"),
    (
        MY,
        "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.tid = t.id)",
    ),
    (MY, "DELETE t FROM t JOIN u ON t.id = u.tid WHERE u.flag"),
    (MY, "DELETE t FROM t JOIN u ON t.id = u.tid WHERE flag = 1"),
    (
        MY,
        "UPDATE t JOIN u ON t.id = u.tid SET t.a = 1 WHERE u.flag",
    ),
    (MY, "UPDATE t SET a = 1 WHERE `id` = 5"),
];

#[test]
fn constant_where_clauses_bound_nothing() {
    let set = one_rule("[\"update\", \"delete\"]", true);
    for (dialect, sql) in CONSTANT_WHERE {
        let i = info(*dialect, sql);
        assert_eq!(i.has_where, Some(false), "{sql}");
        assert!(blocked_by_rule(&set, *dialect, sql), "{sql}");
    }
    for (dialect, sql) in REAL_WHERE {
        let i = info(*dialect, sql);
        assert_eq!(i.has_where, Some(true), "{sql}");
        assert!(!blocked_by_rule(&set, *dialect, sql), "{sql}");
    }
}

#[test]
fn constant_where_verdicts_are_never_shared_wrongly() {
    // One shape, different literals: whatever is shared must be right for every text.
    let cache = policy::AnalysisCache::new(64);
    for (sql, bounded) in [
        ("DELETE FROM t WHERE now() > '2000-01-01'", false),
        ("DELETE FROM t WHERE now() > '2100-01-01'", false),
        ("DELETE FROM t WHERE id = 1 OR 'a' = 'b'", true),
        ("DELETE FROM t WHERE id = 1 OR 'a' = 'a'", false),
        ("DELETE FROM t WHERE id = 1", true),
        ("DELETE FROM t WHERE 1 = 1", false),
    ] {
        for _ in 0..2 {
            let a = cache.get_or_analyze(PG, sql);
            assert_eq!(a.statements[0].has_where, Some(bounded), "{sql}");
        }
    }
    let a = cache.get_or_analyze(MY, "PREPARE s FROM 'SELECT 1'");
    let b = cache.get_or_analyze(MY, "PREPARE s FROM 'DROP TABLE t'");
    assert!(!std::sync::Arc::ptr_eq(&a, &b));
    assert!(b.statements[0].kinds().any(|k| k == K::Drop));
}

// ---- the same verdict however a statement is wrapped ------------------------------------

const RULES: &str = r#"
[[rules]]
name = "no-drop"
when = { statements = ["drop", "truncate"] }
action = "block"

[[rules]]
name = "unbounded-write"
when = { statements = ["update", "delete"], without_where = true }
action = "review"

[[rules]]
name = "no-grant"
when = { statements = ["grant", "revoke"] }
action = "block"

[[rules]]
name = "secrets"
when = { tables = ["secrets"], statements = ["write"] }
action = "review"
"#;

/// (statement, DML that PREPARE AS / EXPLAIN ANALYZE / a CTE can wrap)
const DESTRUCTIVE_PG: &[(&str, bool)] = &[
    ("DELETE FROM t", true),
    ("DELETE FROM t WHERE 1 = 1", true),
    ("DELETE FROM t WHERE true", true),
    ("DELETE FROM t WHERE (SELECT true)", true),
    ("DELETE FROM t WHERE coalesce(null, true)", true),
    ("DELETE FROM t WHERE EXISTS (SELECT 1 FROM u)", true),
    ("DELETE FROM t WHERE now() > '2000-01-01'", true),
    ("DELETE FROM t WHERE random() < 2", true),
    ("DELETE FROM t WHERE current_user = 'x'", true),
    ("DELETE FROM t WHERE 'a' IN (SELECT name FROM u)", true),
    ("DELETE FROM t WHERE $1", true),
    ("DELETE FROM t WHERE (SELECT count(*) FROM u) > 0", true),
    ("DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE flag)", true),
    ("DELETE FROM t WHERE id = id", true),
    ("DELETE FROM t WHERE a = 1 OR 1 = 1", true),
    ("UPDATE t SET a = 1", true),
    ("UPDATE t SET a = 1 WHERE (SELECT true)", true),
    ("UPDATE t SET a = 1 WHERE $1", true),
    ("UPDATE secrets SET v = 'x' WHERE id = 1", true),
    ("INSERT INTO secrets VALUES (1)", true),
    ("DROP TABLE t", false),
    ("DROP TABLE IF EXISTS t CASCADE", false),
    ("TRUNCATE t", false),
    ("ALTER TABLE t DROP COLUMN c", false),
    ("ALTER TABLE t ALTER COLUMN c TYPE int USING c::int", false),
    ("ALTER TABLE t RENAME TO u", false),
    ("ALTER TABLE t RENAME COLUMN a TO b", false),
    ("ALTER TABLE t DROP CONSTRAINT k", false),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", false),
    ("DROP SCHEMA s CASCADE", false),
    ("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DROP TABLE t'", false),
    ("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM t'", false),
    ("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'TRUNCATE t'; END $$", false),
    ("GRANT ALL ON t TO bob", false),
];

const DESTRUCTIVE_MY: &[(&str, bool)] = &[
    ("DELETE FROM t", true),
    ("DELETE FROM t WHERE 1", true),
    ("DELETE FROM t WHERE (SELECT 1)", true),
    ("DELETE FROM t WHERE ?", true),
    ("DELETE FROM t WHERE now() > '2000-01-01'", true),
    ("DELETE FROM t WHERE EXISTS (SELECT 1 FROM u)", true),
    ("UPDATE t SET a = 1 WHERE (SELECT 1)", true),
    ("UPDATE t SET a = 1", true),
    ("REPLACE INTO secrets VALUES (1)", true),
    ("DROP TABLE t", false),
    ("DROP TEMPORARY TABLE t", false),
    ("TRUNCATE TABLE t", false),
    ("ALTER TABLE t DROP COLUMN c", false),
    ("ALTER TABLE t MODIFY COLUMN a BIGINT", false),
    ("ALTER TABLE t CHANGE a b INT", false),
    ("ALTER TABLE t DROP PRIMARY KEY", false),
    ("ALTER TABLE t TRUNCATE PARTITION p0", false),
    ("RENAME TABLE a TO b", false),
    ("CREATE OR REPLACE TABLE t (a INT)", false),
    ("CREATE PROCEDURE p() BEGIN DELETE FROM t; END", false),
    (
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DROP TABLE t",
        false,
    ),
];

const BENIGN_PG: &[(&str, bool)] = &[
    ("SELECT 1", true),
    ("SELECT * FROM t WHERE id = 1", true),
    ("SELECT * FROM t WHERE name = 'DROP TABLE t'", true),
    ("DELETE FROM t WHERE id = 5", true),
    ("DELETE FROM t WHERE t.id IN (SELECT tid FROM u)", true),
    ("DELETE FROM t WHERE id = $1", true),
    ("DELETE FROM t AS x WHERE x.id = 3", true),
    (
        "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.tid = t.id)",
        true,
    ),
    ("DELETE FROM t USING u WHERE t.id = u.tid", true),
    ("UPDATE t SET a = 1 WHERE id = 5", true),
    ("UPDATE t SET a = 1 FROM other WHERE t.id = other.id", true),
    ("UPDATE t SET a = a + 1 WHERE id = $1 RETURNING a", true),
    ("INSERT INTO t VALUES (1)", true),
    ("INSERT INTO t SELECT * FROM u WHERE u.x = 1", true),
    (
        "INSERT INTO t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 1",
        true,
    ),
    ("SELECT * FROM t FOR UPDATE", true),
    ("ALTER TABLE t ADD COLUMN c int", false),
    ("ALTER TABLE t ALTER COLUMN c SET DEFAULT 1", false),
    ("ALTER TABLE t ALTER COLUMN c DROP DEFAULT", false),
    ("CREATE TABLE n (a int)", false),
    ("CREATE INDEX i ON t (a)", false),
    ("CREATE VIEW v AS SELECT 1", false),
    ("COMMENT ON TABLE t IS 'drop me'", false),
    ("SET search_path = public", false),
];

const BENIGN_MY: &[(&str, bool)] = &[
    ("SELECT 1", true),
    ("SELECT * FROM t WHERE id = ?", true),
    ("DELETE FROM t WHERE id = 5", true),
    ("DELETE FROM t WHERE id = ?", true),
    ("DELETE t FROM t JOIN u ON t.id = u.tid WHERE u.flag", true),
    ("UPDATE t SET a = 1 WHERE id = 5", true),
    (
        "UPDATE t JOIN u ON t.id = u.tid SET t.a = 1 WHERE u.flag = 1",
        true,
    ),
    ("INSERT INTO t VALUES (1)", true),
    (
        "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 1",
        true,
    ),
    ("ALTER TABLE t ADD COLUMN c INT", false),
    ("ALTER TABLE t ADD INDEX i (a)", false),
    ("CREATE TABLE n (a INT)", false),
    ("CREATE VIEW v AS SELECT 1", false),
    ("SET @a = 1", false),
    ("SHOW TABLES", false),
    ("CREATE PROCEDURE p() BEGIN SELECT 1; END", false),
];

fn verdict(set: &RuleSet, dialect: Dialect, sql: &str) -> Decision {
    decide(set, dialect, sql).0
}

/// Every wrapping of `sql` that its syntax allows, with whether the verdict must be equal
/// (`true`) or only at least as strict (`false`).
fn wrappings(dialect: Dialect, sql: &str, dml: bool) -> Vec<(String, bool)> {
    let mut out = vec![
        (format!("SELECT 1; {sql}"), true),
        (format!("/* x */ -- y\n{sql}"), true),
        (format!("{sql};"), true),
    ];
    match dialect {
        Dialect::Postgres if dml => {
            out.push((format!("PREPARE s AS {sql}"), true));
            out.push((format!("EXPLAIN ANALYZE {sql}"), true));
            out.push((format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"), true));
            if !sql.starts_with("SELECT") {
                out.push((format!("WITH w AS ({sql}) SELECT 1"), true));
            }
        }
        Dialect::Postgres => {}
        Dialect::MySql => {
            let quoted = sql.replace('\\', "\\\\").replace('\'', "''");
            out.push((format!("PREPARE s FROM '{quoted}'"), false));
            out.push((format!("EXECUTE IMMEDIATE '{quoted}'"), false));
            if dml {
                // MariaDB runs the statement; sluice only classifies it by keywords.
                out.push((format!("ANALYZE {sql}"), false));
            }
        }
    }
    out
}

#[test]
fn wrapping_never_changes_the_verdict() {
    let corpora = [
        (PG, DESTRUCTIVE_PG, true),
        (MY, DESTRUCTIVE_MY, true),
        (PG, BENIGN_PG, false),
        (MY, BENIGN_MY, false),
    ];
    let count = |destructive: bool| -> usize {
        corpora
            .iter()
            .filter(|c| c.2 == destructive)
            .map(|c| c.1.len())
            .sum()
    };
    assert!(count(true) >= 40 && count(false) >= 40);
    let mut failures = Vec::new();
    for on_parse_error in [RuleAction::Allow, RuleAction::Block] {
        let set = rules(RULES, on_parse_error);
        for (dialect, corpus, destructive) in corpora {
            for (sql, dml) in corpus {
                let plain = verdict(&set, dialect, sql);
                if destructive && plain == Decision::Allow {
                    failures.push(format!("{sql}: allowed"));
                }
                for (wrapped, equal) in wrappings(dialect, sql, *dml) {
                    let got = verdict(&set, dialect, &wrapped);
                    let ok = if equal {
                        got == plain
                    } else {
                        got.severity() >= plain.severity()
                    };
                    if !ok {
                        failures.push(format!(
                            "{on_parse_error:?} {wrapped:?}: {got:?}, plain {plain:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn prepared_sql_matches_like_the_statement_itself() {
    // PREPARE FROM is code, and what it prepares counts too.
    let code = one_rule("[\"code\"]", false);
    let drop = one_rule("[\"drop\"]", false);
    for sql in [
        "PREPARE s FROM 'DROP TABLE t'",
        "EXECUTE IMMEDIATE 'DROP TABLE t'",
    ] {
        assert!(blocked_by_rule(&code, MY, sql), "{sql}");
        assert!(blocked_by_rule(&drop, MY, sql), "{sql}");
    }
    let i = info(MY, "PREPARE s FROM 'DELETE FROM billing.x WHERE id = 1'");
    assert_eq!(i.tables[0].qualified_name(), "billing.x");
    assert_eq!(i.has_where, Some(true));
}

/// Writes that are not called UPDATE or DELETE but act as one over every row.
const UNBOUNDED_BY_OTHER_NAMES: &[(Dialect, &str)] = &[
    (
        PG,
        "MERGE INTO t USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE",
    ),
    (
        PG,
        "MERGE INTO t USING (VALUES (1)) s(x) ON true WHEN MATCHED THEN UPDATE SET v = NULL",
    ),
    (
        PG,
        "MERGE INTO t USING u ON u.k = 1 WHEN MATCHED THEN DELETE",
    ),
    (
        PG,
        "INSERT INTO t SELECT id, NULL FROM t ON CONFLICT (id) DO UPDATE SET v = NULL",
    ),
    (
        PG,
        "INSERT INTO t SELECT id, NULL FROM t ON CONFLICT (id) DO UPDATE SET v = excluded.v",
    ),
    (
        MY,
        "INSERT INTO t SELECT id, NULL FROM t ON DUPLICATE KEY UPDATE v = NULL",
    ),
    (MY, "REPLACE INTO t SELECT id, NULL FROM t"),
    // A set-returning function in VALUES lists as many rows as it likes.
    (PG, "INSERT INTO t VALUES (unnest(ARRAY[1,2,3]), 'x') ON CONFLICT (id) DO UPDATE SET v = NULL"),
    (PG, "INSERT INTO t VALUES (generate_series(1, 5), 'x') ON CONFLICT (id) DO UPDATE SET v = NULL"),
    (PG, "MERGE INTO t USING t s ON s.id = t.id WHEN MATCHED THEN DELETE"),
    (PG, "MERGE INTO t USING (SELECT id FROM t) s ON s.id = t.id WHEN MATCHED THEN UPDATE SET v = NULL"),
];

/// Their bounded forms: one source row per listed value, or a condition on the target.
const BOUNDED_BY_OTHER_NAMES: &[(Dialect, &str)] = &[
    (PG, "MERGE INTO t USING u ON t.id = u.tid WHEN MATCHED THEN DELETE"),
    (PG, "MERGE INTO t USING (VALUES (1)) s(x) ON t.id = s.x WHEN MATCHED THEN UPDATE SET v = 1 WHEN NOT MATCHED THEN INSERT VALUES (s.x, 1)"),
    (PG, "INSERT INTO t VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET v = excluded.v"),
    (PG, "INSERT INTO t VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"),
    (PG, "INSERT INTO t VALUES ($1, now()) ON CONFLICT (id) DO UPDATE SET v = excluded.v"),
    (PG, "INSERT INTO t SELECT id, v FROM u ON CONFLICT DO NOTHING"),
    (MY, "INSERT INTO t VALUES (1, 'a') ON DUPLICATE KEY UPDATE v = VALUES(v)"),
    (MY, "INSERT INTO t (id) VALUES (1), (2) ON DUPLICATE KEY UPDATE v = NULL"),
    (MY, "REPLACE INTO t VALUES (1, 'a')"),
    (MY, "REPLACE INTO t (id, v) VALUES (?, ?)"),
];

#[test]
fn writes_by_other_names_are_judged_like_update_and_delete() {
    let set = one_rule("[\"update\", \"delete\"]", true);
    for (dialect, sql) in UNBOUNDED_BY_OTHER_NAMES {
        assert!(
            info(*dialect, sql).unbounded_write(),
            "{sql}: not unbounded"
        );
        assert!(blocked_by_rule(&set, *dialect, sql), "{sql}");
    }
    for (dialect, sql) in BOUNDED_BY_OTHER_NAMES {
        assert!(!info(*dialect, sql).unbounded_write(), "{sql}: unbounded");
        assert!(!blocked_by_rule(&set, *dialect, sql), "{sql}");
    }
}
