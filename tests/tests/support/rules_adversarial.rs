//! The machinery of `rules_adversarial.rs`: attempts as data, a runner per protocol that plays
//! an attempt through sluice as one user, and snapshots of the victim taken on a direct
//! connection to the upstream, so an attempt is judged by what happened to the data rather
//! than by what sluice answered.

use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use mysql_async::prelude::*;
use sluice_tests::*;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// How long one step may take before the attempt is reported as hung.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// The classes of attempts, for the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Session settings that change how the database tokenizes text.
    Desync,
    /// Code bodies: functions, procedures, triggers, rules, events, DO, dynamic SQL.
    Code,
    /// Destructive ALTER spellings.
    Alter,
    /// WHEREs that reference no column of the target table.
    ConstantWhere,
    /// One destructive statement by every path, and the classic obfuscations.
    Path,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::Desync,
        Class::Code,
        Class::Alter,
        Class::ConstantWhere,
        Class::Path,
    ];
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Desync => "tokenizer desync",
            Class::Code => "code bodies",
            Class::Alter => "destructive ALTER",
            Class::ConstantWhere => "constant WHERE",
            Class::Path => "paths and obfuscations",
        })
    }
}

/// A bound parameter.
#[derive(Clone, Copy, Debug)]
pub enum Param {
    Text(&'static str),
    Bool(bool),
    Int(i32),
    /// An integer NULL.
    Null,
}

/// How a step is sent.
#[derive(Clone, Copy, Debug)]
pub enum Via {
    /// PostgreSQL simple query / MySQL COM_QUERY.
    Text,
    /// PostgreSQL: tokio-postgres `query` (a named Parse, Bind, Execute). MySQL: mysql_async
    /// `exec` (COM_STMT_PREPARE + COM_STMT_EXECUTE).
    Prepared(&'static [Param]),
    /// PostgreSQL: `prepare` then `execute` as two round trips.
    PrepareThenExecute,
    /// PostgreSQL: `query_typed` (the unnamed statement, one round trip).
    Unnamed,
    /// PostgreSQL: `COPY … TO STDOUT`, drained.
    CopyOut,
    /// A harmless statement that must succeed and return `'x'`: the session is still usable.
    /// The SQL is the statement itself; `true` sends it prepared.
    Probe(bool),
    /// PostgreSQL: a new session (same startup options). MySQL: COM_RESET_CONNECTION.
    Reconnect,
}

/// One step of an attempt; `{v}`, `{o}`, `{vu}`, `{drophex}` and `{db}` are replaced (see
/// [`render`]).
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub via: Via,
    pub sql: &'static str,
    /// The step must be refused by sluice with this rule named.
    pub refused_by: Option<&'static str>,
}

impl Step {
    /// The step must be refused, by this rule.
    pub const fn refused(self, rule: &'static str) -> Step {
        Step {
            refused_by: Some(rule),
            ..self
        }
    }
}

pub const fn text(sql: &'static str) -> Step {
    Step {
        via: Via::Text,
        sql,
        refused_by: None,
    }
}

pub const fn prep(sql: &'static str) -> Step {
    prep_with(sql, &[])
}

pub const fn prep_with(sql: &'static str, params: &'static [Param]) -> Step {
    Step {
        via: Via::Prepared(params),
        sql,
        refused_by: None,
    }
}

pub const fn prepare_then_execute(sql: &'static str) -> Step {
    Step {
        via: Via::PrepareThenExecute,
        sql,
        refused_by: None,
    }
}

pub const fn unnamed(sql: &'static str) -> Step {
    Step {
        via: Via::Unnamed,
        sql,
        refused_by: None,
    }
}

pub const fn copy_out(sql: &'static str) -> Step {
    Step {
        via: Via::CopyOut,
        sql,
        refused_by: None,
    }
}

/// `SELECT 'x'` as a simple query / COM_QUERY must still answer `x`.
pub const PROBE: Step = Step {
    via: Via::Probe(false),
    sql: "SELECT 'x'",
    refused_by: None,
};

/// The same, prepared.
pub const PROBE_PREPARED: Step = Step {
    via: Via::Probe(true),
    sql: "SELECT 'x'",
    refused_by: None,
};

pub const RECONNECT: Step = Step {
    via: Via::Reconnect,
    sql: "",
    refused_by: None,
};

/// One attempt: a fresh victim, optional direct setup, steps through sluice, direct cleanup.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub class: Class,
    pub name: &'static str,
    pub steps: &'static [Step],
    /// Run directly on the upstream after the victim is created.
    pub setup: &'static [&'static str],
    /// Run directly on the upstream after the steps, before the check.
    pub cleanup: &'static [&'static str],
    /// PostgreSQL startup `options`.
    pub options: Option<&'static str>,
    /// MySQL: the victim is range-partitioned on `id` (`p0`: ids 1 and 2, `p1`: the rest).
    pub partitioned: bool,
    /// The attempt does no damage even without rules, by design (it checks that sluice is not
    /// fooled the other way, or only that creating code is refused). See [`calibrate`].
    pub inert: bool,
}

pub const fn attempt(class: Class, name: &'static str, steps: &'static [Step]) -> Attempt {
    Attempt {
        class,
        name,
        steps,
        setup: &[],
        cleanup: &[],
        options: None,
        partitioned: false,
        inert: false,
    }
}

impl Attempt {
    pub const fn setup(self, setup: &'static [&'static str]) -> Attempt {
        Attempt { setup, ..self }
    }

    pub const fn cleanup(self, cleanup: &'static [&'static str]) -> Attempt {
        Attempt { cleanup, ..self }
    }

    pub const fn options(self, options: &'static str) -> Attempt {
        Attempt {
            options: Some(options),
            ..self
        }
    }

    pub const fn inert(self) -> Attempt {
        Attempt {
            inert: true,
            ..self
        }
    }

    pub const fn partitioned(self) -> Attempt {
        Attempt {
            partitioned: true,
            ..self
        }
    }
}

/// Replaces the placeholders of a template: `{o}` the victim's companion table (one row,
/// `k = 1`), `{vu}` the victim as a PostgreSQL `U&"…"` identifier with every character escaped,
/// `{drophex}` `DROP TABLE <victim>` as a MySQL hex literal, `{db}` the upstream database and
/// `{v}` the victim.
pub fn render(template: &str, v: &str, db: &str) -> String {
    let unicode: String = v.chars().map(|c| format!("\\{:04x}", c as u32)).collect();
    let hex: String = format!("DROP TABLE {v}")
        .bytes()
        .map(|b| format!("{b:02X}"))
        .collect();
    template
        .replace("{o}", &format!("{v}_o"))
        .replace("{vu}", &format!("U&\"{unicode}\""))
        .replace("{drophex}", &format!("0x{hex}"))
        .replace("{db}", db)
        .replace("{v}", v)
}

/// What the direct connection sees of a victim: labelled facts, compared before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot(pub Vec<(&'static str, String)>);

impl Snapshot {
    /// The facts that changed, described.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        self.0
            .iter()
            .zip(&after.0)
            .filter(|(b, a)| b.1 != a.1)
            .map(|(b, a)| format!("{} changed: {:?} -> {:?}", b.0, b.1, a.1))
            .collect()
    }
}

/// The outcome of one attempt.
pub struct Outcome {
    pub class: Class,
    pub name: &'static str,
    /// What went wrong on sluice's side: a step not refused as required, an unusable session,
    /// a hang, a failed login.
    pub problems: Vec<String>,
    /// What changed on the victim.
    pub damage: Vec<String>,
}

impl Outcome {
    fn failed(&self) -> bool {
        !self.problems.is_empty() || !self.damage.is_empty()
    }
}

/// Prints a per-class summary and fails with every problem listed.
pub fn report(protocol: &str, notes: &[String], outcomes: &[Outcome]) {
    let mut summary = format!("{protocol}: {} attempts\n", outcomes.len());
    for class in Class::ALL {
        let of_class: Vec<&Outcome> = outcomes.iter().filter(|o| o.class == class).collect();
        let failed = of_class.iter().filter(|o| o.failed()).count();
        summary += &format!("  {class}: {} attempts, {failed} failed\n", of_class.len());
    }
    eprintln!("{summary}");
    let mut failures: Vec<String> = notes.iter().map(|n| format!("[harness] {n}")).collect();
    for o in outcomes.iter().filter(|o| o.failed()) {
        let lines: Vec<&str> = o
            .problems
            .iter()
            .chain(&o.damage)
            .map(String::as_str)
            .collect();
        failures.push(format!(
            "[{}] {}:\n      {}",
            o.class,
            o.name,
            lines.join("\n      ")
        ));
    }
    assert!(
        failures.is_empty(),
        "{summary}{} problem(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// The attempts' own check, run straight against the upstream: every attempt not marked
/// inert must damage its victim there (else it tests nothing), and no inert one may.
pub fn calibrate(protocol: &str, attempts: &[Attempt], outcomes: &[Outcome]) {
    let wrong: Vec<String> = attempts
        .iter()
        .zip(outcomes)
        .filter(|(a, o)| a.inert != o.damage.is_empty())
        .map(|(a, o)| {
            if a.inert {
                format!(
                    "[{}] {} is marked inert but did damage: {}",
                    a.class,
                    a.name,
                    o.damage.join("; ")
                )
            } else {
                format!(
                    "[{}] {} did no damage on the upstream itself (its steps: {})",
                    a.class,
                    a.name,
                    if o.problems.is_empty() {
                        "no problems".to_string()
                    } else {
                        o.problems.join("; ")
                    }
                )
            }
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{protocol}: {} of {} attempts are miscalibrated:\n  {}",
        wrong.len(),
        attempts.len(),
        wrong.join("\n  ")
    );
}

/// Checks a step's result against its expectation; `is_rule_refusal` tells whether an error
/// is sluice's refusal naming the rule.
fn judge<E: fmt::Display>(
    step: &Step,
    sql: &str,
    result: Result<Result<(), E>, tokio::time::error::Elapsed>,
    is_rule_refusal: impl Fn(&E, &str) -> bool,
    problems: &mut Vec<String>,
) {
    match (result, step.refused_by) {
        (Err(_), _) => problems.push(format!("hung for {STEP_TIMEOUT:?}: {sql}")),
        (Ok(Ok(())), Some(rule)) => {
            problems.push(format!("ran, but rule {rule:?} should refuse it: {sql}"))
        }
        (Ok(Err(e)), Some(rule)) if !is_rule_refusal(&e, rule) => problems.push(format!(
            "failed, but not as a refusal by rule {rule:?}: {sql}: {e}"
        )),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// Logs in through sluice.
pub async fn pg_login(
    proxy: &Proxy,
    user: &str,
    password: &str,
    options: Option<&str>,
) -> Result<Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(proxy.port())
        .user(user)
        .password(password)
        .dbname("app")
        .connect_timeout(Duration::from_secs(10));
    if let Some(options) = options {
        config.options(options);
    }
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Where an attempt's sessions go: through sluice as a user, or straight to the upstream as
/// its app user (to calibrate the attempts).
#[derive(Clone, Copy)]
pub enum PgRoute<'a> {
    Sluice(&'a Proxy, (&'a str, &'a str)),
    Direct(&'a PgServer),
}

impl PgRoute<'_> {
    pub async fn login(&self, options: Option<&str>) -> Result<Client, tokio_postgres::Error> {
        match *self {
            PgRoute::Sluice(proxy, (user, password)) => {
                pg_login(proxy, user, password, options).await
            }
            PgRoute::Direct(server) => {
                let mut config = tokio_postgres::Config::new();
                config
                    .host("127.0.0.1")
                    .port(server.port)
                    .user(&server.opts.user)
                    .password(&server.opts.password)
                    .dbname(&server.opts.database);
                if let Some(options) = options {
                    config.options(options);
                }
                let (client, conn) = config.connect(NoTls).await?;
                tokio::spawn(conn);
                Ok(client)
            }
        }
    }
}

/// A PostgreSQL refusal by `rule`: SQLSTATE 42501 and the rule named in the message.
pub fn pg_refused_by(e: &tokio_postgres::Error, rule: &str) -> bool {
    e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
        && e.as_db_error().is_some_and(|d| d.message().contains(rule))
}

const PG_VICTIM: &str = "CREATE TABLE {v} (id int PRIMARY KEY, n int NOT NULL CONSTRAINT {v}_chk CHECK (n >= 0), note text);
INSERT INTO {v} SELECT g, g * 10, 'row ' || g FROM generate_series(1, 5) g;
CREATE TABLE {o} (k int);
INSERT INTO {o} VALUES (1)";

/// The victim's facts on PostgreSQL: columns and types, rows (count and checksum over whole
/// rows), constraints, and the code objects named after it (functions with their bodies,
/// triggers, rules).
pub async fn pg_snapshot(direct: &Client, v: &str) -> Snapshot {
    async fn one(direct: &Client, sql: &str, v: &str) -> String {
        match direct.query_one(sql, &[&v]).await {
            Ok(row) => row.get::<_, Option<String>>(0).unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        }
    }
    let columns = one(
        direct,
        "SELECT string_agg(column_name || ' ' || udt_name, ', ' ORDER BY ordinal_position)
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
        v,
    )
    .await;
    let rows = if columns.is_empty() {
        "no table".to_string()
    } else {
        match direct
            .query_one(
                &format!(
                    "SELECT count(*)::text || ' rows, ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') FROM {v} t"
                ),
                &[],
            )
            .await
        {
            Ok(row) => row.get(0),
            Err(e) => format!("error: {e}"),
        }
    };
    let constraints = one(
        direct,
        "SELECT string_agg(conname, ', ' ORDER BY conname) FROM pg_constraint WHERE conrelid = to_regclass($1::text)",
        v,
    )
    .await;
    let code = one(
        direct,
        "SELECT string_agg(kind || ' ' || name || ' ' || md5(body), ', ' ORDER BY kind, name) FROM (
           SELECT 'function' AS kind, proname::text AS name, prosrc AS body FROM pg_proc WHERE proname LIKE $1 || '%'
           UNION ALL SELECT 'trigger', tgname::text, tgfoid::text FROM pg_trigger WHERE tgname LIKE $1 || '%'
           UNION ALL SELECT 'rule', rulename::text, ev_action::text FROM pg_rewrite WHERE rulename LIKE $1 || '%'
         ) objects",
        v,
    )
    .await;
    Snapshot(vec![
        ("columns", columns),
        ("rows", rows),
        ("constraints", constraints),
        ("code objects", code),
    ])
}

fn pg_params(params: &[Param]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match *p {
                Param::Text(s) => Box::new(s),
                Param::Bool(b) => Box::new(b),
                Param::Int(i) => Box::new(i),
                Param::Null => Box::new(None::<i32>),
            }
        })
        .collect()
}

async fn pg_step(client: &Client, via: Via, sql: &str) -> Result<(), tokio_postgres::Error> {
    match via {
        Via::Text => client.simple_query(sql).await.map(drop),
        Via::Prepared(params) => {
            let owned = pg_params(params);
            let refs: Vec<&(dyn ToSql + Sync)> =
                owned.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
            client.query(sql, &refs).await.map(drop)
        }
        Via::PrepareThenExecute => {
            let statement = client.prepare(sql).await?;
            client.execute(&statement, &[]).await.map(drop)
        }
        Via::Unnamed => client.query_typed(sql, &[]).await.map(drop),
        Via::CopyOut => {
            let stream = client.copy_out(sql).await?;
            futures_util::pin_mut!(stream);
            while let Some(chunk) = stream.next().await {
                chunk?;
            }
            Ok(())
        }
        Via::Probe(_) | Via::Reconnect => unreachable!("handled by the runner"),
    }
}

/// `SELECT 'x'` answers `x`.
async fn pg_probe(client: &Client, prepared: bool, sql: &str) -> Result<(), String> {
    let value = if prepared {
        client
            .query_one(sql, &[])
            .await
            .map(|row| row.get::<_, String>(0))
            .map_err(|e| e.to_string())?
    } else {
        let messages = client.simple_query(sql).await.map_err(|e| e.to_string())?;
        messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .ok_or("no row")?
    };
    if value == "x" {
        Ok(())
    } else {
        Err(format!("answered {value:?}"))
    }
}

/// Plays one attempt by `route` and judges it on the direct connection.
pub async fn run_pg_attempt(route: PgRoute<'_>, direct: &Client, db: &str, a: &Attempt) -> Outcome {
    let v = format!("{}x", unique("adv"));
    let r = |t: &str| render(t, &v, db);
    let mut problems = Vec::new();
    direct
        .batch_execute(&r(PG_VICTIM))
        .await
        .unwrap_or_else(|e| panic!("{}: creating the victim: {e}", a.name));
    for s in a.setup {
        direct
            .batch_execute(&r(s))
            .await
            .unwrap_or_else(|e| panic!("{}: setup {s}: {e}", a.name));
    }
    let before = pg_snapshot(direct, &v).await;

    let mut client = match route.login(a.options).await {
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(format!("could not log in through sluice: {e}"));
            None
        }
    };
    for step in a.steps {
        let Some(c) = &client else { break };
        let sql = r(step.sql);
        match step.via {
            Via::Reconnect => {
                drop(client.take());
                match route.login(a.options).await {
                    Ok(c) => client = Some(c),
                    Err(e) => problems.push(format!("could not log in again: {e}")),
                }
            }
            Via::Probe(prepared) => {
                let outcome = tokio::time::timeout(STEP_TIMEOUT, pg_probe(c, prepared, &sql)).await;
                judge_probe(outcome, &sql, prepared, &mut problems);
            }
            via => {
                let result = tokio::time::timeout(STEP_TIMEOUT, pg_step(c, via, &sql)).await;
                judge(step, &sql, result, pg_refused_by, &mut problems);
            }
        }
    }
    drop(client);
    for s in a.cleanup {
        if let Err(e) = direct.batch_execute(&r(s)).await {
            problems.push(format!("cleanup {s}: {e}"));
        }
    }
    let after = pg_snapshot(direct, &v).await;
    Outcome {
        class: a.class,
        name: a.name,
        problems,
        damage: before.diff(&after),
    }
}

// ---------------------------------------------------------------------------------------------
// MySQL

/// Logs in through sluice, to database `shop`.
pub async fn mysql_login(
    proxy: &Proxy,
    user: &str,
    password: &str,
) -> Result<mysql_async::Conn, mysql_async::Error> {
    mysql_async::Conn::new(mysql_opts(proxy.port(), user, password, Some("shop"))).await
}

/// Where an attempt's session goes: through sluice as a user, or straight to the upstream as
/// its app user (to calibrate the attempts).
#[derive(Clone, Copy)]
pub enum MysqlRoute<'a> {
    Sluice(&'a Proxy, (&'a str, &'a str)),
    Direct(&'a MariaDbServer),
}

impl MysqlRoute<'_> {
    pub async fn login(&self) -> Result<mysql_async::Conn, mysql_async::Error> {
        match *self {
            MysqlRoute::Sluice(proxy, (user, password)) => mysql_login(proxy, user, password).await,
            MysqlRoute::Direct(server) => mysql_async::Conn::new(mysql_direct_opts(server)).await,
        }
    }
}

/// A MySQL refusal by `rule`: error 1142 and the rule named in the message.
pub fn mysql_refused_by(e: &mysql_async::Error, rule: &str) -> bool {
    let text = e.to_string();
    text.contains("1142") && text.contains(rule)
}

const MYSQL_VICTIM: &str = "CREATE TABLE {v} (id INT PRIMARY KEY, n INT NOT NULL, note VARCHAR(40), CONSTRAINT {v}_chk CHECK (n >= 0)) {partitions};
INSERT INTO {v} VALUES (1, 10, 'row 1'), (2, 20, 'row 2'), (3, 30, 'row 3'), (4, 40, 'row 4'), (5, 50, 'row 5');
CREATE TABLE {o} (k INT);
INSERT INTO {o} VALUES (1)";

const MYSQL_PARTITIONS: &str =
    "PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (3), PARTITION p1 VALUES LESS THAN MAXVALUE)";

/// The victim's facts on MariaDB: columns and types, rows (count and checksum), constraints,
/// partitions, and the routines, triggers and events named after it.
pub async fn mysql_snapshot(direct: &mut mysql_async::Conn, v: &str) -> Snapshot {
    async fn one(
        direct: &mut mysql_async::Conn,
        sql: &str,
        params: Vec<mysql_async::Value>,
    ) -> String {
        match direct.exec_first::<Option<String>, _, _>(sql, params).await {
            Ok(value) => value.flatten().unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        }
    }
    let name = || vec![mysql_async::Value::from(v)];
    let pattern = mysql_async::Value::from(format!("{v}%"));
    let columns = one(
        direct,
        "SELECT GROUP_CONCAT(CONCAT(column_name, ' ', column_type) ORDER BY ordinal_position SEPARATOR ', ')
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?",
        name(),
    )
    .await;
    let rows = if columns.is_empty() {
        "no table".to_string()
    } else {
        match direct
            .query_first::<(i64, String), _>(format!(
                "SELECT COUNT(*), COALESCE(MD5(GROUP_CONCAT(CONCAT_WS(':', id, n, IFNULL(note, '-')) ORDER BY id)), '-') FROM {v}"
            ))
            .await
        {
            Ok(Some((count, sum))) => format!("{count} rows, {sum}"),
            Ok(None) => "no answer".to_string(),
            Err(e) => format!("error: {e}"),
        }
    };
    let constraints = one(
        direct,
        "SELECT GROUP_CONCAT(constraint_name ORDER BY constraint_name SEPARATOR ', ')
         FROM information_schema.table_constraints WHERE table_schema = DATABASE() AND table_name = ?",
        name(),
    )
    .await;
    let partitions = one(
        direct,
        "SELECT GROUP_CONCAT(partition_name ORDER BY partition_name SEPARATOR ', ')
         FROM information_schema.partitions
         WHERE table_schema = DATABASE() AND table_name = ? AND partition_name IS NOT NULL",
        name(),
    )
    .await;
    let code = one(
        direct,
        "SELECT CONCAT_WS(', ',
           (SELECT GROUP_CONCAT(CONCAT(routine_type, ' ', routine_name, ' ', MD5(routine_definition)) ORDER BY routine_name SEPARATOR ', ')
              FROM information_schema.routines WHERE routine_schema = DATABASE() AND routine_name LIKE ?),
           (SELECT GROUP_CONCAT(CONCAT('TRIGGER ', trigger_name) ORDER BY trigger_name SEPARATOR ', ')
              FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND trigger_name LIKE ?),
           (SELECT GROUP_CONCAT(CONCAT('EVENT ', event_name) ORDER BY event_name SEPARATOR ', ')
              FROM information_schema.events WHERE event_schema = DATABASE() AND event_name LIKE ?))",
        vec![pattern.clone(), pattern.clone(), pattern],
    )
    .await;
    Snapshot(vec![
        ("columns", columns),
        ("rows", rows),
        ("constraints", constraints),
        ("partitions", partitions),
        ("code objects", code),
    ])
}

fn mysql_params(params: &[Param]) -> mysql_async::Params {
    if params.is_empty() {
        return mysql_async::Params::Empty;
    }
    mysql_async::Params::Positional(
        params
            .iter()
            .map(|p| match *p {
                Param::Text(s) => mysql_async::Value::from(s),
                Param::Bool(b) => mysql_async::Value::from(b),
                Param::Int(i) => mysql_async::Value::from(i),
                Param::Null => mysql_async::Value::NULL,
            })
            .collect(),
    )
}

async fn mysql_step(
    conn: &mut mysql_async::Conn,
    via: Via,
    sql: &str,
) -> Result<(), mysql_async::Error> {
    match via {
        Via::Text => conn.query_drop(sql).await,
        Via::Prepared(params) => conn.exec_drop(sql, mysql_params(params)).await,
        Via::Reconnect => conn.reset().await.map(drop),
        other => unreachable!("{other:?} is not a MySQL step"),
    }
}

async fn mysql_probe(
    conn: &mut mysql_async::Conn,
    prepared: bool,
    sql: &str,
) -> Result<(), String> {
    let value: Option<String> = if prepared {
        conn.exec_first(sql, ()).await
    } else {
        conn.query_first(sql).await
    }
    .map_err(|e| e.to_string())?;
    match value.as_deref() {
        Some("x") => Ok(()),
        other => Err(format!("answered {other:?}")),
    }
}

/// Plays one attempt by `route` and judges it on the direct connection.
pub async fn run_mysql_attempt(
    route: MysqlRoute<'_>,
    direct: &mut mysql_async::Conn,
    db: &str,
    a: &Attempt,
) -> Outcome {
    let v = format!("{}x", unique("adv"));
    let r = |t: &str| render(t, &v, db);
    let mut problems = Vec::new();
    let victim = MYSQL_VICTIM.replace(
        "{partitions}",
        if a.partitioned { MYSQL_PARTITIONS } else { "" },
    );
    direct
        .query_drop(r(&victim))
        .await
        .unwrap_or_else(|e| panic!("{}: creating the victim: {e}", a.name));
    for s in a.setup {
        direct
            .query_drop(r(s))
            .await
            .unwrap_or_else(|e| panic!("{}: setup {s}: {e}", a.name));
    }
    let before = mysql_snapshot(direct, &v).await;

    let mut conn = match route.login().await {
        Ok(c) => Some(c),
        Err(e) => {
            problems.push(format!("could not log in through sluice: {e}"));
            None
        }
    };
    if let Some(c) = conn.as_mut() {
        for step in a.steps {
            let sql = r(step.sql);
            match step.via {
                Via::Probe(prepared) => {
                    let outcome =
                        tokio::time::timeout(STEP_TIMEOUT, mysql_probe(c, prepared, &sql)).await;
                    judge_probe(outcome, &sql, prepared, &mut problems);
                }
                via => {
                    let result = tokio::time::timeout(STEP_TIMEOUT, mysql_step(c, via, &sql)).await;
                    judge(step, &sql, result, mysql_refused_by, &mut problems);
                }
            }
        }
    }
    if let Some(c) = conn {
        let _ = tokio::time::timeout(STEP_TIMEOUT, c.disconnect()).await;
    }
    for s in a.cleanup {
        if let Err(e) = direct.query_drop(r(s)).await {
            problems.push(format!("cleanup {s}: {e}"));
        }
    }
    let after = mysql_snapshot(direct, &v).await;
    Outcome {
        class: a.class,
        name: a.name,
        problems,
        damage: before.diff(&after),
    }
}

/// A usability probe must answer, and answer without an error.
fn judge_probe<E: std::fmt::Display>(
    outcome: Result<Result<(), E>, tokio::time::error::Elapsed>,
    sql: &str,
    prepared: bool,
    problems: &mut Vec<String>,
) {
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => problems.push(format!(
            "the session is not usable: {sql}{}: {e}",
            if prepared { " (prepared)" } else { "" }
        )),
        Err(_) => problems.push(format!("the probe {sql} hung")),
    }
}
