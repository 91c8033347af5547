//! Column origins through the catalog. A RowDescription names a column's table by OID and the
//! column by attribute number; masks name `schema.table.column`. This resolves one to the other
//! over a connection of sluice's own (never the client's session), caches the answers per
//! database, and forgets them on DDL seen through sluice and after `TTL` (DDL that bypassed
//! sluice).
//!
//! Views: a column of a view is resolved to the lineage of the view's definition, so a masked
//! base column stays masked when it is read through a view.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use tokio::io::AsyncWriteExt;

use super::frame::Reader;
use super::upstream::{self, read_message, UpstreamTarget};
use crate::session::{ColumnDesc, ColumnOrigin, Relations, ViewColumns};
use crate::tls::BoxStream;

/// How long a cached relation is trusted when no DDL was seen through sluice.
const TTL: Duration = Duration::from_secs(30);
/// How long one catalog lookup may take before sluice gives up (and fails closed).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// A table or view, as far as masking cares.
#[derive(Debug)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    /// attnum → column name.
    pub columns: HashMap<i16, String>,
    /// For views: where each column's values come from.
    pub view_sources: Option<ViewSources>,
}

/// The lineage of a view's definition.
#[derive(Debug)]
pub enum ViewSources {
    /// attnum - 1 → the sources of that output column.
    PerColumn(Vec<Arc<Vec<policy::Source>>>),
    /// The definition's columns could not be lined up: every column depends on all of these.
    All(Arc<Vec<policy::Source>>),
}

impl ViewSources {
    fn of(&self, attnum: i16) -> Arc<Vec<policy::Source>> {
        match self {
            ViewSources::All(all) => Arc::clone(all),
            ViewSources::PerColumn(cols) => usize::try_from(attnum - 1)
                .ok()
                .and_then(|i| cols.get(i).cloned())
                .unwrap_or_else(|| Arc::new(vec![policy::Source::Opaque])),
        }
    }
}

/// The catalog of one database of one target.
pub struct PgCatalog {
    target: Arc<UpstreamTarget>,
    database: String,
    conn: tokio::sync::Mutex<Option<BoxStream>>,
    cache: Mutex<Cache>,
    /// Every view of the database, by name, with when it was read.
    views: Mutex<Option<(Instant, Arc<Relations>)>>,
}

struct Cache {
    relations: HashMap<u32, Arc<Relation>>,
    since: Instant,
}

impl PgCatalog {
    pub fn new(target: Arc<UpstreamTarget>, database: &str) -> Arc<PgCatalog> {
        Arc::new(PgCatalog {
            target,
            database: database.to_string(),
            conn: tokio::sync::Mutex::new(None),
            cache: Mutex::new(Cache {
                relations: HashMap::new(),
                since: Instant::now(),
            }),
            views: Mutex::new(None),
        })
    }

    /// Forgets everything (after DDL).
    pub fn invalidate(&self) {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.relations.clear();
        c.since = Instant::now();
        *self.views.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The database's views by name (read at most every `TTL`, and again after DDL). `None`
    /// when they cannot be read: names are then judged without them, and a column read through
    /// a view by an expression is of unknown origin only where its lineage says so.
    pub async fn relations(&self) -> Option<Arc<Relations>> {
        if let Some((at, r)) = &*self.views.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < TTL {
                return Some(Arc::clone(r));
            }
        }
        let sql = "SELECT n.nspname, c.relname, pg_get_viewdef(c.oid) FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')";
        let rows = match tokio::time::timeout(LOOKUP_TIMEOUT, self.query(sql)).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::warn!(target = %self.target.name, error = %e, "reading the views failed");
                return None;
            }
            Err(_) => {
                tracing::warn!(target = %self.target.name, "reading the views timed out");
                return None;
            }
        };
        let mut relations = Relations::default();
        for row in rows {
            if let (Some(Some(schema)), Some(Some(name)), Some(Some(def))) =
                (row.first(), row.get(1), row.get(2))
            {
                relations.views.insert(
                    (schema.to_lowercase(), name.to_lowercase()),
                    Arc::new(ViewColumns::from_definition(policy::Dialect::Postgres, def)),
                );
            }
        }
        let relations = Arc::new(relations);
        *self.views.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), Arc::clone(&relations)));
        Some(relations)
    }

    /// The columns a COPY's query would return in the client's session, origins resolved,
    /// without running it (Parse and Describe on sluice's own connection). `None` when sluice
    /// cannot be sure it resolves the query's names as the session does, or the database
    /// cannot describe it.
    ///
    /// sluice's connection has the default `search_path`; the session's may be anything
    /// (`SET`, `set_config`, role defaults, startup options), and the server does not report
    /// it. Schema-qualified names resolve the same everywhere. An unqualified name resolves
    /// the same only when the database holds one relation of that name in all its schemas:
    /// then the description is made with the search path set to those relations' schemas.
    /// A name held by two schemas (or by none, as far as sluice's connection sees: a relation
    /// the session made and has not committed) could be either: `None`.
    pub async fn describe_copy(&self, sql: &str) -> Option<Vec<ColumnDesc>> {
        let analysis = policy::analyze(policy::Dialect::Postgres, sql);
        if !analysis.parsed() {
            return None;
        }
        let mut names: Vec<&str> = analysis
            .statements
            .iter()
            .flat_map(|s| &s.tables)
            .filter(|t| t.schema.is_none())
            .map(|t| t.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        // Always an explicit path (empty without unqualified names): a name the analysis
        // left out (one shadowed by a CTE's name somewhere in the query) then resolves only
        // among the schemas checked, or not at all.
        let path = match names.is_empty() {
            true => Vec::new(),
            false => self.only_schemas(&names).await?,
        };
        self.describe(sql, &path).await
    }

    /// The schemas of the relations named `names`, when each name is held by exactly one
    /// schema of the database; `None` otherwise (or when the lookup fails).
    async fn only_schemas(&self, names: &[&str]) -> Option<Vec<String>> {
        // Quoted identifiers may hold anything; a name that would need more than doubled
        // quotes in a literal is not looked up (fail closed).
        if names.iter().any(|n| n.contains(['\\', '\0'])) {
            return None;
        }
        let list = names
            .iter()
            .map(|n| format!("'{}'", n.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT c.relname, n.nspname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname IN ({list}) AND c.relkind IN ('r','v','m','p','f','S')"
        );
        let rows = match tokio::time::timeout(LOOKUP_TIMEOUT, self.query(&sql)).await {
            Ok(Ok(rows)) => rows,
            _ => return None,
        };
        let mut found: HashMap<&str, Vec<String>> = HashMap::new();
        for row in &rows {
            if let (Some(Some(name)), Some(Some(schema))) = (row.first(), row.get(1)) {
                if let Some(n) = names.iter().find(|n| **n == name) {
                    found.entry(n).or_default().push(schema.clone());
                }
            }
        }
        let mut schemas = Vec::new();
        for name in names {
            match found.get(name).map(Vec::as_slice) {
                Some([schema]) => schemas.push(schema.clone()),
                other => {
                    tracing::info!(relation = %name, schemas = ?other, "a COPY names a relation sluice cannot place in one schema; its fields are masked");
                    return None;
                }
            }
        }
        schemas.sort_unstable();
        schemas.dedup();
        Some(schemas)
    }

    /// Parse + Describe of `sql` on sluice's own connection, with `search_path` set to `path`
    /// for it; origins resolved.
    async fn describe(&self, sql: &str, path: &[String]) -> Option<Vec<ColumnDesc>> {
        let described = async {
            let mut conn = self.conn().await?;
            let result = match conn.as_mut() {
                Some(stream) => describe_in_path(stream, sql, path).await,
                None => Err("no catalog connection".into()),
            };
            if result.is_err() {
                *conn = None;
            }
            result
        };
        let mut columns = match tokio::time::timeout(LOOKUP_TIMEOUT, described).await {
            Ok(Ok(Some(columns))) => columns,
            Ok(Ok(None)) => return None,
            Ok(Err(e)) => {
                tracing::warn!(target = %self.target.name, error = %e, "describing a COPY query failed");
                return None;
            }
            Err(_) => {
                // The connection may be mid-exchange: the next lookup opens a new one.
                if let Ok(mut conn) = self.conn.try_lock() {
                    *conn = None;
                }
                return None;
            }
        };
        let mut origins: Vec<&mut ColumnOrigin> =
            columns.iter_mut().map(|c| &mut c.origin).collect();
        self.resolve(&mut origins).await;
        Some(columns)
    }

    /// Runs one query on sluice's own connection.
    async fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        let mut conn = self.conn().await?;
        let result = match conn.as_mut() {
            Some(stream) => simple_query(stream, sql).await,
            None => Err("no catalog connection".into()),
        };
        if result.is_err() {
            // It may be broken: the next lookup opens a new one.
            *conn = None;
        }
        result
    }

    /// sluice's own connection, opened on first use (and after a failure dropped it).
    async fn conn(&self) -> Result<tokio::sync::MutexGuard<'_, Option<BoxStream>>, String> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let up = upstream::connect(&self.target, &[], &self.database)
                .await
                .map_err(|e| e.to_string())?;
            *guard = Some(up.stream);
        }
        Ok(guard)
    }

    /// Resolves every `PgAttribute` origin in place. Origins that cannot be resolved (the
    /// lookup failed, the relation vanished) become `Unknown`, which masking treats as
    /// derived from anything (fail closed).
    pub async fn resolve(&self, origins: &mut [&mut ColumnOrigin]) {
        if !self.resolve_cached(origins) {
            return;
        }
        let wanted: Vec<u32> = origins
            .iter()
            .filter_map(|o| match **o {
                ColumnOrigin::PgAttribute { table_oid, .. } => Some(table_oid),
                _ => None,
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        let known = self.by_oid(&wanted).await;
        for origin in origins.iter_mut() {
            let ColumnOrigin::PgAttribute { table_oid, attnum } = **origin else {
                continue;
            };
            **origin = match known.get(&table_oid) {
                Some(rel) => origin_in(rel, attnum),
                None => ColumnOrigin::Unknown,
            };
        }
    }

    /// The relation cache, emptied first when it is older than [`TTL`].
    fn fresh_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if c.since.elapsed() > TTL {
            c.relations.clear();
            c.since = Instant::now();
        }
        c
    }

    /// Resolves the origins whose relations the cache holds, under one lock and without
    /// collecting anything: that is nearly every result. `true` while some are left.
    fn resolve_cached(&self, origins: &mut [&mut ColumnOrigin]) -> bool {
        let c = self.fresh_cache();
        let mut left = false;
        for origin in origins.iter_mut() {
            let ColumnOrigin::PgAttribute { table_oid, attnum } = **origin else {
                continue;
            };
            match c.relations.get(&table_oid) {
                Some(rel) => **origin = origin_in(rel, attnum),
                None => left = true,
            }
        }
        left
    }

    async fn by_oid(&self, oids: &[u32]) -> HashMap<u32, Arc<Relation>> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        {
            let c = self.fresh_cache();
            for oid in oids {
                match c.relations.get(oid) {
                    Some(r) => {
                        out.insert(*oid, Arc::clone(r));
                    }
                    None if !missing.contains(oid) => missing.push(*oid),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return out;
        }
        match tokio::time::timeout(LOOKUP_TIMEOUT, self.fetch(&missing)).await {
            Ok(Ok(found)) => {
                let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                for (oid, rel) in found {
                    let rel = Arc::new(rel);
                    c.relations.insert(oid, Arc::clone(&rel));
                    out.insert(oid, rel);
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(target = %self.target.name, error = %e, "catalog lookup failed; the columns are treated as of unknown origin");
            }
            Err(_) => {
                tracing::warn!(target = %self.target.name, "catalog lookup timed out; the columns are treated as of unknown origin");
            }
        }
        out
    }

    async fn fetch(&self, oids: &[u32]) -> Result<HashMap<u32, Relation>, String> {
        let list = oids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT c.oid::int8, n.nspname, c.relname, c.relkind::text, a.attnum::int4, a.attname, \
             CASE WHEN c.relkind IN ('v','m') AND a.attnum = 1 THEN pg_get_viewdef(c.oid) END \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE c.oid IN ({list}) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 5"
        );
        let rows = self.query(&sql).await?;
        let mut found: HashMap<u32, Relation> = HashMap::new();
        for row in rows {
            let field = |i: usize| row.get(i).and_then(|f| f.as_deref());
            let (Some(oid), Some(schema), Some(name), Some(kind), Some(attnum), Some(attname)) = (
                field(0).and_then(|v| v.parse::<u32>().ok()),
                field(1),
                field(2),
                field(3),
                field(4).and_then(|v| v.parse::<i16>().ok()),
                field(5),
            ) else {
                continue;
            };
            let rel = found.entry(oid).or_insert_with(|| Relation {
                schema: schema.to_string(),
                name: name.to_string(),
                columns: HashMap::new(),
                // Until the definition is read, a view's columns come from anywhere.
                view_sources: matches!(kind, "v" | "m")
                    .then(|| ViewSources::All(Arc::new(vec![policy::Source::Opaque]))),
            });
            rel.columns.insert(attnum, attname.to_string());
            if let Some(def) = field(6) {
                rel.view_sources = Some(view_sources(def));
            }
        }
        Ok(found)
    }
}

/// The sources of each output column of a view definition; a definition the lineage cannot
/// line up makes every column depend on everything it reads (fail closed).
fn view_sources(definition: &str) -> ViewSources {
    let lineage = policy::lineage(policy::Dialect::Postgres, definition);
    match lineage.first() {
        Some(l) => match &l.columns {
            Some(cols) => {
                ViewSources::PerColumn(cols.iter().map(|c| Arc::new(c.sources.clone())).collect())
            }
            None => ViewSources::All(Arc::new(l.all_outputs.clone())),
        },
        None => ViewSources::All(Arc::new(vec![policy::Source::Opaque])),
    }
}

/// `describe_query` with `search_path` set to `path` first (and reset after).
async fn describe_in_path(
    stream: &mut BoxStream,
    sql: &str,
    path: &[String],
) -> Result<Option<Vec<ColumnDesc>>, String> {
    let quoted: Vec<String> = path
        .iter()
        .map(|s| format!("\"{}\"", s.replace('"', "\"\"")))
        .collect();
    // As a literal: an empty path is `''`, and the list's quotes double inside it.
    let list = quoted.join(", ").replace('\'', "''");
    simple_query(
        stream,
        &format!("SELECT pg_catalog.set_config('search_path', '{list}', false)"),
    )
    .await?;
    let described = describe_query(stream, sql).await;
    // The connection serves other lookups: it must not keep this path.
    simple_query(stream, "RESET search_path").await?;
    described
}

/// Parse + Describe + Sync of `sql`: its RowDescription (`None`: it returns no rows, or the
/// database refused it).
async fn describe_query(
    stream: &mut BoxStream,
    sql: &str,
) -> Result<Option<Vec<ColumnDesc>>, String> {
    let mut out = BytesMut::new();
    out.put_u8(b'P');
    out.put_u32((4 + 1 + sql.len() + 1 + 2) as u32);
    out.put_u8(0);
    out.put_slice(sql.as_bytes());
    out.put_u8(0);
    out.put_i16(0);
    out.put_slice(b"D\0\0\0\x06S\0");
    out.put_slice(b"S\0\0\0\x04");
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let mut columns = None;
    loop {
        let (tag, frame) = read_message(stream).await.map_err(|e| e.to_string())?;
        match tag {
            b'T' => columns = Some(super::messages::row_description(&frame[5..])),
            b'Z' => return Ok(columns),
            _ => {}
        }
    }
}

/// Runs one simple query; the rows' fields as text.
pub(crate) async fn simple_query(
    stream: &mut BoxStream,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut out = BytesMut::new();
    out.put_u8(b'Q');
    out.put_u32((4 + sql.len() + 1) as u32);
    out.put_slice(sql.as_bytes());
    out.put_u8(0);
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    let mut error = None;
    loop {
        let (tag, frame) = read_message(stream).await.map_err(|e| e.to_string())?;
        let body = &frame[5..];
        match tag {
            b'D' => {
                let mut r = Reader(body);
                let n = r.i16().unwrap_or(0).max(0) as usize;
                let mut row = Vec::with_capacity(n.min(r.0.len() / 4));
                for _ in 0..n {
                    let len = r.i32().unwrap_or(-1);
                    row.push(
                        usize::try_from(len)
                            .ok()
                            .and_then(|l| r.bytes(l))
                            .map(|b| String::from_utf8_lossy(b).into_owned()),
                    );
                }
                rows.push(row);
            }
            b'E' => error = Some(super::messages::parse_error_fields(body).1),
            b'Z' => break,
            _ => {}
        }
    }
    match error {
        Some(e) => Err(format!("catalog query failed: {e}")),
        None => Ok(rows),
    }
}

/// Column `attnum` of `rel` as a named origin; `Unknown` when the relation has no such column
/// (masking treats that as derived from anything: fail closed).
fn origin_in(rel: &Relation, attnum: i16) -> ColumnOrigin {
    let Some(column) = rel.columns.get(&attnum) else {
        return ColumnOrigin::Unknown;
    };
    match &rel.view_sources {
        None => ColumnOrigin::Named {
            schema: rel.schema.clone(),
            table: rel.name.clone(),
            column: column.clone(),
        },
        Some(views) => ColumnOrigin::View {
            schema: rel.schema.clone(),
            table: rel.name.clone(),
            column: column.clone(),
            sources: views.of(attnum),
        },
    }
}
