//! `sluice check --live` for `[[targets.identities]]`: logs in as every identity and asks the
//! database what that login may do with the tables sluice masks for its groups.
//!
//! sluice's masks hold only for what it can see. A role that may create functions or tables
//! can run code sluice never reads, and one that may read the optimizer's statistics
//! (`pg_stats`, `mysql.column_stats`) can read a masked column's most common values straight
//! from the catalog. Both are refused by sluice too, but the database's grants are the second
//! wall, so a masked group's identity holding them is worth a warning.

use crate::config::{Config, IdentityConfig, Protocol, TargetConfig};
use crate::identities::Credentials;
use crate::upstream::UpstreamTarget;
use crate::{mysql, pg};

/// A `(schema, table, column)` of a live schema.
pub type ColumnTriple = (String, String, String);

/// What one identity may do, as the database answers its own login.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Powers {
    /// Masked tables (`schema.table`) it may SELECT from.
    pub select: Vec<String>,
    /// Schemas (PostgreSQL) or databases (MySQL) it may create tables or routines in; `*` for
    /// every one (a MySQL global grant).
    pub create: Vec<String>,
    /// Masked columns (`schema.table.column`) whose statistics it may read.
    pub stats: Vec<String>,
    /// Powers beyond the schema: `superuser`, MySQL `FILE`, `SUPER`.
    pub extra: Vec<String>,
}

/// The report lines for every identity of target `t`, whose live columns are `columns` (as its
/// own user lists them), and whether a login failed.
pub async fn check_target(
    config: &Config,
    t: &TargetConfig,
    u: &UpstreamTarget,
    columns: &[ColumnTriple],
) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut failed = false;
    for (index, id) in t.identities.iter().enumerate() {
        let who = format!("target {:?}: identity {:?}", t.name, id.user);
        let Some(login) = u.identities.credentials_at(index) else {
            continue;
        };
        if login.password_from_token {
            lines.push(format!(
                "{who}: not checked: its password is each client's own token"
            ));
            continue;
        }
        let masked = crate::masks::check::masked_for_groups(config, &id.groups, columns);
        match powers(t, id, u, login, &masked).await {
            Ok(p) => lines.extend(report(&who, &masked, &p, t.protocol)),
            Err(e) => {
                failed = true;
                lines.push(format!("{who}: FAILED: {e}"));
            }
        }
    }
    (lines, failed)
}

async fn powers(
    t: &TargetConfig,
    id: &IdentityConfig,
    u: &UpstreamTarget,
    login: &Credentials,
    masked: &[ColumnTriple],
) -> Result<Powers, String> {
    let database = id.database.clone().or_else(|| t.database.clone());
    match t.protocol {
        Protocol::Postgres => {
            let database = database.unwrap_or_else(|| t.user.clone());
            let mut up = pg::upstream::connect_as(u, login, &[], &database)
                .await
                .map_err(|e| format!("cannot log in: {e}"))?;
            pg_powers(&mut up.stream, masked).await
        }
        Protocol::Mysql => {
            // As the catalog's connection: `db.table` names must be allowed.
            let mut client = mysql::client::ClientResponse::for_check();
            client
                .capabilities
                .remove(mysql_common::constants::CapabilityFlags::CLIENT_NO_SCHEMA);
            let up =
                mysql::upstream::connect_as(u, login, &client, Some("information_schema"), false)
                    .await
                    .map_err(|e| format!("cannot log in: {e}"))?;
            let mut conn = mysql::catalog::Conn {
                deprecate_eof: up
                    .capabilities
                    .contains(mysql_common::constants::CapabilityFlags::CLIENT_DEPRECATE_EOF),
                stream: up.stream,
            };
            mysql_powers(&mut conn, masked).await
        }
    }
}

/// One line of what the identity may do, and a warning for each power a masked group's role
/// should not have.
fn report(who: &str, masked: &[ColumnTriple], p: &Powers, protocol: Protocol) -> Vec<String> {
    let list = |v: &[String]| match v.is_empty() {
        true => "none".to_string(),
        false => v.join(", "),
    };
    let stats = match protocol {
        Protocol::Postgres => "pg_stats",
        Protocol::Mysql => "mysql.column_stats",
    };
    let mut lines = vec![format!(
        "{who}: logged in; {} masked columns; SELECT on masked tables: {}; may create in: {}; {stats} of masked columns: {}{}",
        masked.len(),
        list(&p.select),
        list(&p.create),
        list(&p.stats),
        match p.extra.is_empty() {
            true => String::new(),
            false => format!("; also: {}", p.extra.join(", ")),
        }
    )];
    if masked.is_empty() {
        return lines;
    }
    if !p.create.is_empty() {
        lines.push(format!(
            "warning: {who} serves masked groups and may create tables or functions in {}: code it creates runs where sluice cannot see (grant it no CREATE)",
            p.create.join(", ")
        ));
    }
    if !p.stats.is_empty() {
        lines.push(format!(
            "warning: {who} serves masked groups and may read {stats} of masked columns {}: their most common values are the column's values",
            p.stats.join(", ")
        ));
    }
    if !p.extra.is_empty() {
        lines.push(format!(
            "warning: {who} serves masked groups and has {}",
            p.extra.join(", ")
        ));
    }
    lines
}

/// A string literal for PostgreSQL (standard_conforming_strings) and MySQL alike: names only,
/// quotes doubled, backslashes refused rather than read two ways.
fn literal(s: &str) -> Result<String, String> {
    if s.contains('\\') || s.contains('\0') {
        return Err(format!("name {s:?} has a backslash or NUL; not checked"));
    }
    Ok(format!("'{}'", s.replace('\'', "''")))
}

fn is_true(row: &[Option<String>], at: usize) -> bool {
    matches!(row.get(at), Some(Some(v)) if v == "t" || v == "1")
}

/// Tables of `masked`, each once, as `schema.table`.
fn tables(masked: &[ColumnTriple]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (s, t, _) in masked {
        if !out.iter().any(|(a, b)| a == s && b == t) {
            out.push((s.clone(), t.clone()));
        }
    }
    out
}

const PG_CREATE_SQL: &str = "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'CREATE') AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1";

async fn pg_powers(
    stream: &mut crate::tls::BoxStream,
    masked: &[ColumnTriple],
) -> Result<Powers, String> {
    let mut p = Powers::default();
    for row in pg::catalog::simple_query(stream, PG_CREATE_SQL).await? {
        if let Some(Some(schema)) = row.first() {
            p.create.push(schema.clone());
        }
    }
    // Temporary tables and functions live in pg_temp, which TEMP on the database opens.
    let temp = pg::catalog::simple_query(
        stream,
        "SELECT has_database_privilege(current_database(), 'TEMP')",
    )
    .await?;
    if temp.first().is_some_and(|r| is_true(r, 0)) {
        p.create.push("pg_temp".into());
    }
    let superuser = pg::catalog::simple_query(
        stream,
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .await?;
    if superuser.first().is_some_and(|r| is_true(r, 0)) {
        p.extra.push("superuser".into());
    }
    for (s, t, c) in masked {
        let sql = format!(
            "SELECT has_table_privilege(c.oid, 'SELECT'), has_column_privilege(c.oid, a.attnum, 'SELECT') AND has_table_privilege('pg_catalog.pg_stats', 'SELECT') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE n.nspname = {} AND c.relname = {} AND a.attname = {}",
            literal(s)?,
            literal(t)?,
            literal(c)?
        );
        let rows = pg::catalog::simple_query(stream, &sql).await?;
        let Some(row) = rows.first() else { continue };
        let table = format!("{s}.{t}");
        if is_true(row, 0) && !p.select.contains(&table) {
            p.select.push(table);
        }
        if is_true(row, 1) {
            p.stats.push(format!("{s}.{t}.{c}"));
        }
    }
    Ok(p)
}

/// The current user's own grants (global and per database); roles are not followed.
const MYSQL_GRANTS_SQL: &str = "SELECT PRIVILEGE_TYPE, '*' FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') \
     UNION ALL SELECT PRIVILEGE_TYPE, TABLE_SCHEMA FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";

fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

async fn mysql_powers(
    conn: &mut mysql::catalog::Conn,
    masked: &[ColumnTriple],
) -> Result<Powers, String> {
    let mut p = Powers::default();
    for row in mysql::catalog::text_query(conn, MYSQL_GRANTS_SQL).await? {
        let (Some(Some(privilege)), Some(Some(on))) = (row.first(), row.get(1)) else {
            continue;
        };
        match privilege.as_str() {
            "CREATE" | "CREATE ROUTINE" | "CREATE VIEW" if !p.create.contains(on) => {
                p.create.push(on.clone())
            }
            "FILE" | "SUPER" if !p.extra.contains(privilege) => p.extra.push(privilege.clone()),
            _ => {}
        }
    }
    for (s, t) in tables(masked) {
        let sql = format!("SELECT 1 FROM {}.{} LIMIT 0", ident(&s), ident(&t));
        if mysql::catalog::text_query(conn, &sql).await.is_ok() {
            p.select.push(format!("{s}.{t}"));
        }
    }
    for (s, t, c) in masked {
        let sql = format!(
            "SELECT COUNT(*) FROM mysql.column_stats WHERE db_name = {} AND table_name = {} AND column_name = {}",
            literal(s)?,
            literal(t)?,
            literal(c)?
        );
        // Refused (1142), or no such table (MySQL): not readable.
        if mysql::catalog::text_query(conn, &sql).await.is_ok() {
            p.stats.push(format!("{s}.{t}.{c}"));
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triple(s: &str, t: &str, c: &str) -> ColumnTriple {
        (s.into(), t.into(), c.into())
    }

    #[test]
    fn a_restricted_identity_gets_no_warning_and_a_privileged_one_gets_each() {
        let masked = [triple("s", "t", "ssn")];
        let restricted = Powers {
            select: vec!["s.t".into()],
            ..Powers::default()
        };
        let lines = report(
            "target \"pg\": identity \"ro\"",
            &masked,
            &restricted,
            Protocol::Postgres,
        );
        assert_eq!(
            lines,
            ["target \"pg\": identity \"ro\": logged in; 1 masked columns; SELECT on masked tables: s.t; may create in: none; pg_stats of masked columns: none"]
        );
        let privileged = Powers {
            select: vec!["s.t".into()],
            create: vec!["s".into()],
            stats: vec!["s.t.ssn".into()],
            extra: vec!["FILE".into()],
        };
        let lines = report(
            "target \"my\": identity \"rw\"",
            &masked,
            &privileged,
            Protocol::Mysql,
        );
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[1].starts_with("warning: target \"my\": identity \"rw\" serves masked groups and may create tables or functions in s"));
        assert!(lines[2].contains("may read mysql.column_stats of masked columns s.t.ssn"));
        assert!(lines[3].ends_with("has FILE"));
    }

    #[test]
    fn powers_without_masked_columns_are_reported_but_not_warned_about() {
        let p = Powers {
            create: vec!["public".into()],
            ..Powers::default()
        };
        assert_eq!(report("x", &[], &p, Protocol::Postgres).len(), 1);
    }

    #[test]
    fn literals_double_quotes_and_refuse_backslashes() {
        assert_eq!(literal("o'neil").unwrap(), "'o''neil'");
        assert!(literal("a\\b").is_err());
    }
}
