//! What masking needs from a MySQL/MariaDB catalog: which relation names are base tables (a
//! column definition names a derived table's alias or a view as its `org_table`, and only a base
//! table's columns can be judged by name) and what each view column is computed from. Read over
//! a connection of sluice's own, per target, at most every `TTL` and again after DDL.

use std::collections::HashSet;
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

/// The catalog of one MySQL target.
pub struct MysqlCatalog {
    target: Arc<UpstreamTarget>,
    conn: tokio::sync::Mutex<Option<Conn>>,
    snapshot: Mutex<Option<(Instant, Arc<Relations>)>>,
}

impl MysqlCatalog {
    pub fn new(target: Arc<UpstreamTarget>) -> MysqlCatalog {
        MysqlCatalog {
            target,
            conn: tokio::sync::Mutex::new(None),
            snapshot: Mutex::new(None),
        }
    }

    /// Forgets the snapshot (after DDL).
    pub fn invalidate(&self) {
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Base tables and views of every schema; `None` when they cannot be read.
    pub async fn relations(&self) -> Option<Arc<Relations>> {
        if let Some((at, r)) = &*self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < TTL {
                return Some(Arc::clone(r));
            }
        }
        let read = async {
            let tables = self
                .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE')")
                .await?;
            let views = self
                .query("SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS")
                .await?;
            let transactional = self
                .query("SELECT t.TABLE_SCHEMA, t.TABLE_NAME FROM information_schema.TABLES t JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE WHERE e.TRANSACTIONS = 'YES'")
                .await?;
            Ok::<_, String>((tables, views, transactional))
        };
        let (tables, views, transactional) = match tokio::time::timeout(LOOKUP_TIMEOUT, read).await
        {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::warn!(target = %self.target.name, error = %e, "reading the catalog failed");
                return None;
            }
            Err(_) => {
                tracing::warn!(target = %self.target.name, "reading the catalog timed out");
                return None;
            }
        };
        let mut relations = Relations {
            tables: Some(HashSet::new()),
            transactional: Some(names(&transactional)),
            ..Relations::default()
        };
        for row in tables {
            if let (Some(Some(schema)), Some(Some(name))) = (row.first(), row.get(1)) {
                if let Some(t) = relations.tables.as_mut() {
                    t.insert((schema.to_lowercase(), name.to_lowercase()));
                }
            }
        }
        for row in views {
            if let (Some(Some(schema)), Some(Some(name))) = (row.first(), row.get(1)) {
                // A definition the server does not show (no privilege) is of unknown origin.
                let def = row.get(2).cloned().flatten().unwrap_or_default();
                relations.views.insert(
                    (schema.to_lowercase(), name.to_lowercase()),
                    Arc::new(ViewColumns::from_definition(policy::Dialect::MySql, &def)),
                );
            }
        }
        let relations = Arc::new(relations);
        *self.snapshot.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), Arc::clone(&relations)));
        Some(relations)
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

/// (schema, table) of each row, lowercased.
fn names(rows: &[Vec<Option<String>>]) -> HashSet<(String, String)> {
    rows.iter()
        .filter_map(|row| match (row.first(), row.get(1)) {
            (Some(Some(schema)), Some(Some(name))) => {
                Some((schema.to_lowercase(), name.to_lowercase()))
            }
            _ => None,
        })
        .collect()
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
