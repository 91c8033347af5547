//! What masking needs from a MySQL/MariaDB catalog: which relation names are base tables (a
//! column definition names a derived table's alias or a view as its `org_table`, and only a base
//! table's columns can be judged by name) and what each view column is computed from. Read over
//! a connection of sluice's own, per target, at most every `TTL` and again after DDL.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mysql_common::constants::CapabilityFlags;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client::ClientResponse;
use super::packet::{write_packets, Reader};
use super::upstream;
use crate::session::{Relations, ViewColumns};
use crate::tls::BoxStream;
use crate::upstream::UpstreamTarget;

const TTL: Duration = Duration::from_secs(30);
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The catalog's answers are small; anything larger is not what sluice asked for.
const MAX_PACKET: usize = 1 << 24;

/// A connection for [`text_query`].
pub(crate) struct Conn {
    pub(crate) stream: BoxStream,
    /// Whether `CLIENT_DEPRECATE_EOF` is in force on it.
    pub(crate) deprecate_eof: bool,
}

/// The server's own schemas. Listing their relations costs more than the users' (the
/// server builds `information_schema`'s and `performance_schema`'s tables to describe them, and
/// `sys` holds a hundred views to read) and DDL rarely touches them, so they are read again
/// only when the snapshot ages or a DDL statement may concern them.
const SYSTEM_SCHEMAS: &str = "'information_schema', 'mysql', 'performance_schema', 'sys'";

/// Words that make a DDL statement concern the server's schemas too: their names, and what
/// may change a relation in whatever schema is current (`USE sys; CREATE VIEW …`).
const SYSTEM_DDL_WORDS: [&str; 9] = [
    "information_schema",
    "mysql",
    "performance_schema",
    "sys",
    "view",
    "rename",
    "database",
    "schema",
    "use",
];

/// The relations of one group of schemas.
#[derive(Default)]
struct Part {
    tables: HashSet<(String, String)>,
    transactional: HashSet<(String, String)>,
    views: HashMap<(String, String), Arc<ViewColumns>>,
}

/// Which schemas a read covers.
#[derive(Clone, Copy)]
enum Schemas {
    System,
    Users,
}

/// The catalog of one MySQL target.
pub struct MysqlCatalog {
    target: Arc<UpstreamTarget>,
    conn: tokio::sync::Mutex<Option<Conn>>,
    snapshot: Mutex<Option<(Instant, Arc<Relations>)>>,
    system: Mutex<Option<(Instant, Arc<Part>)>>,
}

impl MysqlCatalog {
    pub fn new(target: Arc<UpstreamTarget>) -> MysqlCatalog {
        MysqlCatalog {
            target,
            conn: tokio::sync::Mutex::new(None),
            snapshot: Mutex::new(None),
            system: Mutex::new(None),
        }
    }

    /// Forgets what DDL statement `sql` may have changed: the users' schemas, and the server's
    /// own too when the text may concern them.
    pub fn invalidate_for(&self, sql: &str) {
        let words = sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        if words
            .into_iter()
            .any(|w| SYSTEM_DDL_WORDS.iter().any(|k| w.eq_ignore_ascii_case(k)))
        {
            *self.system.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Base tables and views of every schema; `None` when they cannot be read.
    pub async fn relations(&self) -> Option<Arc<Relations>> {
        if let Some((at, r)) = &*self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < TTL {
                return Some(Arc::clone(r));
            }
        }
        let relations = match tokio::time::timeout(LOOKUP_TIMEOUT, self.read()).await {
            Ok(Ok(relations)) => Arc::new(relations),
            Ok(Err(e)) => {
                tracing::warn!(target = %self.target.name, error = %e, "reading the catalog failed");
                return None;
            }
            Err(_) => {
                tracing::warn!(target = %self.target.name, "reading the catalog timed out");
                return None;
            }
        };
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), Arc::clone(&relations)));
        Some(relations)
    }

    /// The users' schemas read now, the server's own as last read within `TTL`.
    async fn read(&self) -> Result<Relations, String> {
        let cached = self
            .system
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, part)| Arc::clone(part));
        let system = match cached {
            Some(part) => part,
            None => {
                let part = Arc::new(self.read_part(Schemas::System).await?);
                *self.system.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), Arc::clone(&part)));
                part
            }
        };
        let users = self.read_part(Schemas::Users).await?;
        let mut relations = Relations {
            tables: Some(users.tables),
            transactional: Some(users.transactional),
            views: users.views,
        };
        if let Some(t) = relations.tables.as_mut() {
            t.extend(system.tables.iter().cloned());
        }
        if let Some(t) = relations.transactional.as_mut() {
            t.extend(system.transactional.iter().cloned());
        }
        relations
            .views
            .extend(system.views.iter().map(|(k, v)| (k.clone(), Arc::clone(v))));
        Ok(relations)
    }

    /// Reads one group of schemas: one pass over `information_schema.TABLES` (each
    /// relation's kind and whether its engine rolls back), then the definitions of the views,
    /// only in the schemas that hold one. The server opens every table's definition to answer
    /// a query over `TABLES`, so passes over it are what a read costs.
    async fn read_part(&self, schemas: Schemas) -> Result<Part, String> {
        let filter = match schemas {
            Schemas::System => format!("IN ({SYSTEM_SCHEMAS})"),
            Schemas::Users => format!("NOT IN ({SYSTEM_SCHEMAS})"),
        };
        let rows = self
            .query(&format!(
                "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, e.TRANSACTIONS \
                 FROM information_schema.TABLES t \
                 LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE \
                 WHERE t.TABLE_SCHEMA {filter}"
            ))
            .await?;
        let mut part = Part::default();
        let mut view_schemas = std::collections::BTreeSet::new();
        let mut views = HashSet::new();
        for row in &rows {
            let field = |i: usize| row.get(i).and_then(|f| f.as_deref());
            let (Some(schema), Some(name)) = (field(0), field(1)) else {
                continue;
            };
            let key = (schema.to_lowercase(), name.to_lowercase());
            match field(2) {
                Some("BASE TABLE" | "SYSTEM VERSIONED" | "SEQUENCE") => {
                    if field(3) == Some("YES") {
                        part.transactional.insert(key.clone());
                    }
                    part.tables.insert(key);
                }
                Some("VIEW") => {
                    view_schemas.insert(schema.to_string());
                    views.insert(key);
                }
                _ => {}
            }
        }
        if !view_schemas.is_empty() {
            let list = view_schemas
                .iter()
                .map(|s| hex_literal(s))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS \
                 WHERE TABLE_SCHEMA IN ({list})"
            );
            for row in self.query(&sql).await? {
                if let (Some(Some(schema)), Some(Some(name))) = (row.first(), row.get(1)) {
                    // A definition the server does not show (no privilege) is of unknown origin.
                    let def = row.get(2).cloned().flatten().unwrap_or_default();
                    let key = (schema.to_lowercase(), name.to_lowercase());
                    views.remove(&key);
                    part.views.insert(
                        key,
                        Arc::new(ViewColumns::from_definition(policy::Dialect::MySql, &def)),
                    );
                }
            }
        }
        // A view listed by the first pass but gone or unreadable by the second: of unknown
        // origin, never mistaken for a base table.
        for key in views {
            part.views.insert(
                key,
                Arc::new(ViewColumns::from_definition(policy::Dialect::MySql, "")),
            );
        }
        Ok(part)
    }

    async fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let mut client = ClientResponse::for_check();
            client
                .capabilities
                .remove(CapabilityFlags::CLIENT_NO_SCHEMA);
            let up = upstream::connect(&self.target, &client, Some("information_schema"), false)
                .await
                .map_err(|e| e.to_string())?;
            *guard = Some(Conn {
                deprecate_eof: up
                    .capabilities
                    .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
                stream: up.stream,
            });
        }
        let Some(conn) = guard.as_mut() else {
            return Err("no catalog connection".into());
        };
        let result = text_query(conn, sql).await;
        if result.is_err() {
            *guard = None;
        }
        result
    }
}

/// `s` as a hex string literal: read the same under every `sql_mode` and character set.
fn hex_literal(s: &str) -> String {
    format!("X'{}'", hex::encode(s))
}

async fn read_payload(stream: &mut BoxStream) -> Result<Vec<u8>, String> {
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; 4];
        stream
            .read_exact(&mut header)
            .await
            .map_err(|e| e.to_string())?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        if payload.len() + len > MAX_PACKET {
            return Err("the catalog answer is too large".into());
        }
        let at = payload.len();
        payload.resize(at + len, 0);
        stream
            .read_exact(&mut payload[at..])
            .await
            .map_err(|e| e.to_string())?;
        if len < 0xFF_FFFF {
            return Ok(payload);
        }
    }
}

fn is_eof(p: &[u8]) -> bool {
    p.first() == Some(&0xFE) && p.len() < 9
}

/// One COM_QUERY; the rows' fields as text.
pub(crate) async fn text_query(
    conn: &mut Conn,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut out = BytesMut::new();
    let mut payload = vec![0x03];
    payload.extend_from_slice(sql.as_bytes());
    write_packets(&mut out, 0, &payload);
    conn.stream
        .write_all(&out)
        .await
        .map_err(|e| e.to_string())?;
    conn.stream.flush().await.map_err(|e| e.to_string())?;
    let first = read_payload(&mut conn.stream).await?;
    match first.first() {
        Some(0xFF) => {
            return Err(format!(
                "catalog query failed: {}",
                String::from_utf8_lossy(first.get(9..).unwrap_or_default())
            ))
        }
        Some(0x00) => return Ok(Vec::new()),
        _ => {}
    }
    let columns = Reader(&first).lenenc().ok_or("bad column count")?;
    for _ in 0..columns {
        read_payload(&mut conn.stream).await?;
    }
    if !conn.deprecate_eof {
        read_payload(&mut conn.stream).await?;
    }
    let mut rows = Vec::new();
    loop {
        let p = read_payload(&mut conn.stream).await?;
        if p.first() == Some(&0xFF) {
            return Err("catalog query failed while reading rows".into());
        }
        if is_eof(&p) || (conn.deprecate_eof && p.first() == Some(&0xFE) && p.len() < 0xFF_FFFF) {
            return Ok(rows);
        }
        let mut r = Reader(&p);
        let mut row = Vec::new();
        while !r.is_empty() {
            if r.rest().first() == Some(&0xFB) {
                let _ = r.u8();
                row.push(None);
            } else {
                let v = r.lenenc_bytes().ok_or("bad row")?;
                row.push(Some(String::from_utf8_lossy(v).into_owned()));
            }
        }
        rows.push(row);
    }
}
